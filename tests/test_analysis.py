"""The edge-artifact measure on constructed examples."""

import torch

from patchcore.experiments.analysis import border_mask, edge_artifact


def test_border_mask_counts():
    m = border_mask(10, 12, 2)
    assert m.sum() == 10 * 12 - 6 * 8
    assert m[0].all() and m[:, -1].all() and not m[2:8, 2:10].any()


def test_uniform_error_gives_ratio_one_and_edge_lines_raise_it():
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(1, 1, 32, 32, generator=g)
    noisy = gt + 0.05 * torch.randn(gt.shape, generator=g)
    even = edge_artifact(noisy, gt, band=3)
    assert 0.8 < even["ratio"] < 1.25
    lined = noisy.clone()
    lined[..., :, 0] += 0.5  # a bright line along the left edge, as in Roy et al. Fig. 1
    art = edge_artifact(lined, gt, band=3)
    assert art["ratio"] > 2 * even["ratio"]
    assert art["interior_rmse"] == even["interior_rmse"]


# ---- tile diagnosis ------------------------------------------------------------------------

from patchcore.experiments.analysis import (add_noise, denoising_stats, tile_denoising,  # noqa: E402
                                tile_edge_distance, tile_means_and_bias, windowed_attention,
                                windowed_tiles)
from patchcore.inverse.patches import ShiftedGridDenoiser  # noqa: E402
from patchcore.priors.prior import Prior  # noqa: E402


class Shrink:
    """A pointwise 'prior': D(x) = 0.5 x + 0.1 (no context at all)."""

    coord_channels = 0

    def __call__(self, x, sigma, coords=None):
        return 0.5 * x + 0.1


class TileMean:
    """A 'prior' that returns the mean of its whole input (only context, no detail)."""

    coord_channels = 0

    def __call__(self, x, sigma, coords=None):
        return x.mean((1, 2, 3), keepdim=True).expand_as(x)


def trained_like_prior(seed=0):
    """demo-xxs with its zero-initialised gains set, so that every layer reaches the output."""
    prior = Prior("demo-xxs", generator=torch.Generator().manual_seed(seed)).eval()
    with torch.no_grad():
        for name, p in prior.named_parameters():
            if name.endswith("gain.value"):  # patchcore.priors.network.Gain
                p.fill_(1.0)
    return prior


def test_tile_edge_distance_matches_the_shifted_grid():
    n, p = 64, 16
    den = ShiftedGridDenoiser(Shrink(), p)
    for shift in [(0, 0), (5, 11), (15, 3)]:
        d = tile_edge_distance(n, p, shift)
        assert d.shape == (n, n) and d.min() == 0 and d.max() == p // 2 - 1
        # Tile edges are where the tiles of the grid start or end.
        for top, left in den.tile_origins(n, shift):
            for r in (top, top + p - 1):
                if 0 <= r < n:
                    cols = [c for c in range(left, left + p) if 0 <= c < n]
                    assert (d[r, cols] == 0).all()
        assert (d == 0).float().mean() > 0  # every row has its seams


def test_denoising_stats_bias_and_psnr():
    clean = torch.full((2, 1, 8, 8), 0.5)
    stats = denoising_stats(clean - 0.1, clean, clean + 0.1)
    assert abs(stats["bias"] + 0.1) < 1e-6
    assert abs(stats["psnr"] - 20.0) < 1e-4 and abs(stats["input_psnr"] - 20.0) < 1e-4


def test_add_noise_is_fixed_by_the_seed():
    x = torch.zeros(1, 1, 8, 8)
    assert torch.equal(add_noise(x, 0.1, 3), add_noise(x, 0.1, 3))
    assert not torch.equal(add_noise(x, 0.1, 3), add_noise(x, 0.1, 4))


def test_pointwise_prior_is_the_same_on_tiles_and_windows():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 1, 32, 32, generator=g)
    full = tile_denoising(Shrink(), images, 0.1, "full", "reflect", seed=1)
    tiled = tile_denoising(Shrink(), images, 0.1, 8, "zero", seed=1)
    assert torch.allclose(full["denoised"], tiled["denoised"], atol=1e-6)
    noisy = add_noise(images, 0.1, 1)
    for fill in ("image", "reflect", "zero"):
        for context in (0, 4, 12):
            out = windowed_tiles(Shrink(), noisy, 0.1, 8, context, fill)
            assert torch.allclose(out, 0.5 * noisy + 0.1, atol=1e-6), (fill, context)


def test_windows_give_context_only_when_filled_with_the_image():
    images = torch.zeros(1, 1, 16, 16)
    images[..., :8, :8] = 1.0  # one bright tile of four
    alone = windowed_tiles(TileMean(), images, 0.0, 8, 0, "image")
    assert torch.allclose(alone, images)  # each tile sees only itself: its own mean
    own = windowed_tiles(TileMean(), images, 0.0, 8, 4, "reflect")
    assert torch.allclose(own, images)  # its own reflection adds no information
    ctx = windowed_tiles(TileMean(), images, 0.0, 8, 4, "image")
    assert ctx[0, 0, 0, 0] < 1.0 and ctx[0, 0, -1, -1] > 0.0  # neighbours leak in
    zero = windowed_tiles(TileMean(), images, 0.0, 8, 4, "zero")
    assert torch.allclose(zero[0, 0, 0, 0], torch.tensor(64 / 256))


def test_windowed_attention_full_window_is_the_network_and_is_undone():
    prior = trained_like_prior()
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    sigma = torch.full((2,), 0.2)
    with torch.no_grad():
        before = prior(x, sigma)
        with windowed_attention(prior.precond.net, 32, 32) as layers:
            same = prior(x, sigma)
        with windowed_attention(prior.precond.net, 8, 32):
            local = prior(x, sigma)
        after = prior(x, sigma)
    assert layers >= 2
    assert torch.allclose(same, before, atol=1e-5)
    assert not torch.allclose(local, before, atol=1e-4)
    assert torch.equal(after, before)


def test_tile_means_and_bias_per_tile():
    clean = torch.zeros(1, 1, 8, 8)
    clean[..., 4:, 4:] = 0.8
    out = clean.clone()
    out[..., :4, :4] -= 0.2
    means, bias = tile_means_and_bias(out, clean, 4)
    assert torch.allclose(means, torch.tensor([0.0, 0.0, 0.0, 0.8]))
    assert torch.allclose(bias, torch.tensor([-0.2, 0.0, 0.0, 0.0]))
