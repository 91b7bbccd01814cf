"""Training crops: content and coordinates agree with the crop position; size probabilities."""

import pytest
import torch

from patchcore.priors.coords import coord_grid
from patchcore.priors.patch_sampler import (choose_size, crops_per_step, resolve_sampler, sample_batch)

N = 16


def position_images(n=3):
    """Images whose pixel value encodes (image, row, column) uniquely, all > 0."""
    idx = torch.arange(n * N * N, dtype=torch.float32).reshape(n, 1, N, N)
    return (idx + 1) / (n * N * N)


def expected_crop(images, value_map, coords, pad):
    """Recover the crop's pixels from its coordinate channels and read them from ``images``."""
    scale = N / 2 + pad
    cols = (coords[0] * scale - 0.5 + N / 2).round().long()
    rows = (coords[1] * scale - 0.5 + N / 2).round().long()
    inside = (rows >= 0) & (rows < N) & (cols >= 0) & (cols < N)
    out = torch.zeros(rows.shape)
    out[inside] = value_map[rows[inside], cols[inside]]
    return out, inside


def test_padis_crop_content_matches_coordinates():
    images = position_images()
    pad = 6
    spec = resolve_sampler({"mode": "padis", "sizes": [4, 8, 16], "probs": [0.3, 0.3, 0.4],
                            "coord_pad": pad}, N)
    g = torch.Generator().manual_seed(0)
    saw_padding = False
    for _ in range(20):
        x, coords = sample_batch(images, spec, 2, g)
        assert coords.shape == (x.shape[0], 2) + x.shape[-2:]
        for crop, c in zip(x, coords):
            # The image the crop came from: any non-zero pixel identifies it.
            nonzero = crop[crop > 0]
            if nonzero.numel() == 0:
                continue
            k = int(((nonzero[0] * 3 * N * N).round() - 1) // (N * N))
            expect, inside = expected_crop(images, images[k, 0], c, pad)
            assert torch.allclose(crop[0], expect)
            saw_padding |= bool((~inside).any())
            # The coordinates are exactly coord_grid at the recovered corner.
            top = int((c[1, 0, 0] * (N / 2 + pad) - 0.5 + N / 2).round())
            left = int((c[0, 0, 0] * (N / 2 + pad) - 0.5 + N / 2).round())
            assert -pad <= top <= N + pad - crop.shape[-1] and -pad <= left <= N + pad - crop.shape[-1]
            assert torch.equal(c, coord_grid(top, left, crop.shape[-1], crop.shape[-1], N, pad))
    assert saw_padding


def test_random_patches_stay_inside_and_have_no_coords():
    images = position_images()
    spec = resolve_sampler({"mode": "random", "sizes": [8]}, N)
    x, coords = sample_batch(images, spec, 2, torch.Generator().manual_seed(1))
    assert coords is None and x.shape == (8, 1, 8, 8)
    assert torch.all(x > 0)
    # Each crop is a contiguous window: neighbours along a row differ by one pixel step.
    step = 1 / (3 * N * N)
    assert torch.allclose(x[..., 1:] - x[..., :-1], torch.full_like(x[..., 1:], step), atol=1e-6)


def test_whole_mode_returns_whole_images():
    images = position_images()
    x, coords = sample_batch(images, resolve_sampler({"mode": "whole"}, N), 4, torch.Generator().manual_seed(2))
    assert coords is None and x.shape == (4, 1, N, N)
    assert all(any(torch.equal(xi, im) for im in images) for xi in x)


def test_same_pixels_per_step():
    for patch in (4, 8, 16):
        assert crops_per_step(2, N, patch) * patch ** 2 == 2 * N * N
    assert crops_per_step(3, N, 16, world=2) == 4  # rounded up to a multiple of the ranks


def test_size_probabilities():
    g = torch.Generator().manual_seed(3)
    sizes, probs, n = [16, 32, 64], [0.2, 0.3, 0.5], 6000
    draws = torch.tensor([choose_size(sizes, probs, g) for _ in range(n)])
    for size, p in zip(sizes, probs):
        freq = float((draws == size).float().mean())
        assert abs(freq - p) < 4 * (p * (1 - p) / n) ** 0.5


def test_same_generator_same_batch():
    images = position_images()
    spec = resolve_sampler({"mode": "padis", "sizes": [4, 8], "coord_pad": 4}, N)
    a = sample_batch(images, spec, 2, torch.Generator().manual_seed(9))
    b = sample_batch(images, spec, 2, torch.Generator().manual_seed(9))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("spec,match", [
    ({"mode": "tiles"}, "mode"),
    ({"mode": "padis", "sizes": [4, 8], "probs": [0.5, 0.6]}, "probs"),
    ({"mode": "random", "sizes": [32]}, "patch size"),
    ({"mode": "random", "sizes": [8], "coords": True}, "coordinate"),
])
def test_bad_specs_are_rejected(spec, match):
    with pytest.raises(ValueError, match=match):
        resolve_sampler(spec, N)
