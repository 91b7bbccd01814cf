"""Shifted-grid, stitching and averaging denoisers; the memory-bounded gradient."""

import pytest
import torch
import torch.nn.functional as F

from patchcore.batching import per_image
from patchcore.priors.coords import coord_grid
from patchcore.inverse.patches import (
    CanvasDenoiser,
    PatchAveragingDenoiser,
    ShiftedGridDenoiser,
    StitchingDenoiser,
    denoise_vjp,
)


def identity_prior(x, sigma, coords=None):
    return x


def toy_prior(x, sigma, coords=None):
    """Nonlinear, patch-content-dependent (uses the tile mean) and sigma-dependent."""
    s = sigma.reshape(-1, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return torch.tanh(x) / (1 + s**2) + 0.3 * mean * x**2


class RecordingPrior:
    """Records the coordinates it is given; position-aware like a PaDIS prior."""

    coord_channels = 2
    coord_pad = 5

    def __init__(self):
        self.seen = []

    def __call__(self, x, sigma, coords=None):
        self.seen.append((x.detach().clone(), coords.clone()))
        return x


def _denoiser(cls, prior, patch, pad, micro, seed=0):
    return cls(prior, patch, pad_mode=pad, generator=torch.Generator().manual_seed(seed), micro_batch=micro)


@pytest.mark.parametrize("pad", ["reflect", "zero"])
@pytest.mark.parametrize("micro", [None, 1, 3, 100])
@pytest.mark.parametrize("patch", [8, 12, "full"])
@pytest.mark.parametrize("channels", [1, 2])
def test_identity_prior_returns_input_exactly(pad, micro, patch, channels):
    x = torch.rand(2, channels, 40, 40, generator=torch.Generator().manual_seed(1))
    for cls in (ShiftedGridDenoiser, StitchingDenoiser):
        d = _denoiser(cls, identity_prior, patch, pad, micro)
        for _ in range(3):
            assert torch.equal(d(x, 0.1), x)
    if patch != "full":
        assert torch.equal(PatchAveragingDenoiser(identity_prior, patch, micro_batch=micro)(x, 0.1), x)


def test_geometry_matches_padis():
    d = ShiftedGridDenoiser(identity_prior, 56)
    assert d.geometry(256) == (56, 5, 24)  # K = 5, M = 24 as in the PaDIS CT setup
    shifts = {d.draw_shift(256) for _ in range(400)}
    assert min(min(s) for s in shifts) == 0 and max(max(s) for s in shifts) == 23
    assert len({s[0] for s in shifts}) > 15


@pytest.mark.parametrize("cls", [ShiftedGridDenoiser, StitchingDenoiser])
def test_each_pixel_in_exactly_one_tile(cls):
    """Adding 1 to every tile adds exactly 1 to every image pixel."""
    d = cls(lambda x, s, coords=None: x + 1.0, 12, pad_mode="zero", generator=torch.Generator().manual_seed(3))
    x = torch.zeros(1, 1, 40, 40)
    assert torch.equal(d(x, 0.5), torch.ones_like(x))


@pytest.mark.parametrize("pad", ["reflect", "zero"])
@pytest.mark.parametrize("channels", [1, 2])
def test_micro_batch_independence(pad, channels):
    x = torch.rand(3, channels, 36, 36, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sigma = torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64)
    ref = _denoiser(ShiftedGridDenoiser, toy_prior, 8, pad, None)(x, sigma)
    assert not torch.allclose(ref, x)
    for micro in (1, 2, 7, 1000):
        out = _denoiser(ShiftedGridDenoiser, toy_prior, 8, pad, micro)(x, sigma)
        assert torch.allclose(out, ref, atol=1e-12, rtol=0)
    avg_ref = PatchAveragingDenoiser(toy_prior, 8)(x, sigma)
    assert torch.allclose(PatchAveragingDenoiser(toy_prior, 8, micro_batch=3)(x, sigma), avg_ref, atol=1e-12)


def test_shift_changes_result_and_padding_matters():
    x = torch.rand(1, 1, 36, 36, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    d = _denoiser(ShiftedGridDenoiser, toy_prior, 8, "reflect", None)
    assert not torch.allclose(d.denoise(x, 0.3, (0, 0)), d.denoise(x, 0.3, (3, 1)))
    dz = _denoiser(ShiftedGridDenoiser, toy_prior, 8, "zero", None)
    assert not torch.allclose(d.denoise(x, 0.3, (0, 0)), dz.denoise(x, 0.3, (0, 0)))


@pytest.mark.parametrize("pad", ["reflect", "zero"])
@pytest.mark.parametrize("micro", [1, 5, None])
def test_tilewise_gradient_equals_full_gradient(pad, micro):
    """denoise_vjp (tile by tile) equals autograd through the whole denoiser; float64, 1e-10."""
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(2, 1, 36, 36, generator=gen, dtype=torch.float64)
    y = torch.rand(2, 1, 36, 36, generator=gen, dtype=torch.float64)
    sigma = torch.tensor([0.2, 0.7], dtype=torch.float64)

    def loss_fn(x0):
        return (y - x0).flatten(1).norm(dim=1).sum()

    d = _denoiser(ShiftedGridDenoiser, toy_prior, 8, pad, micro, seed=9)
    x0, loss, grad = denoise_vjp(d, x, sigma, loss_fn)
    # Same shift (same generator seed, first draw), all at once with autograd.
    d_full = _denoiser(ShiftedGridDenoiser, toy_prior, 8, pad, None, seed=9)
    x_req = x.clone().requires_grad_(True)
    ref_out = d_full(x_req, sigma)
    (ref_grad,) = torch.autograd.grad(loss_fn(ref_out), x_req)
    assert torch.allclose(x0, ref_out.detach(), atol=1e-12)
    assert torch.allclose(loss, loss_fn(ref_out).detach())
    assert torch.allclose(grad, ref_grad, atol=1e-10, rtol=0)


def test_gradient_fallback_for_plain_denoiser():
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    x0, _, grad = denoise_vjp(lambda v, s: 2 * v, x, 0.1, lambda z: z.sum())
    assert torch.allclose(x0, 2 * x) and torch.allclose(grad, torch.full_like(x, 2.0))


def test_coordinates_passed_correctly():
    prior = RecordingPrior()
    n, p = 36, 8  # K = 5, M = 4
    d = ShiftedGridDenoiser(prior, p, generator=torch.Generator().manual_seed(0), micro_batch=4)
    x = torch.rand(2, 1, n, n)
    shift = (3, 1)
    d.denoise(x, 0.2, shift)
    tiles = torch.cat([t for t, _ in prior.seen])
    coords = torch.cat([c for _, c in prior.seen])
    origins = d.tile_origins(n, shift)
    k = d.geometry(n)[1]
    assert tiles.shape[0] == coords.shape[0] == 2 * k * k
    for b in range(2):
        for i, (top, left) in enumerate(origins):
            expect = coord_grid(top, left, p, p, n, prior.coord_pad)
            assert torch.allclose(coords[b * k * k + i], expect)
    # A tile fully inside the image carries exactly the image pixels at its origin.
    i, (top, left) = next((i, o) for i, o in enumerate(origins) if min(o) >= 0 and max(o) + p <= n)
    assert torch.equal(tiles[i], x[0, :, top : top + p, left : left + p])
    # Whole-image mode: coordinates over the image itself.
    prior.seen.clear()
    ShiftedGridDenoiser(prior, "full")(x, 0.2)
    assert torch.allclose(prior.seen[0][1][0], coord_grid(0, 0, n, n, n, prior.coord_pad))


def test_plain_function_prior_gets_no_coords():
    seen = []

    def prior(x, sigma, coords=None):
        seen.append(coords)
        return x

    ShiftedGridDenoiser(prior, 8)(torch.rand(1, 1, 20, 20), 0.1)
    assert seen and all(c is None for c in seen)


def test_bad_arguments():
    with pytest.raises(ValueError, match="pad_mode"):
        ShiftedGridDenoiser(identity_prior, 8, pad_mode="circular")
    with pytest.raises(ValueError, match="patch"):
        ShiftedGridDenoiser(identity_prior, 0)
    with pytest.raises(ValueError, match="micro_batch"):
        ShiftedGridDenoiser(identity_prior, 8, micro_batch=0)
    with pytest.raises(ValueError, match="shift"):
        ShiftedGridDenoiser(identity_prior, 8).denoise(torch.rand(1, 1, 36, 36), 0.1, (5, 0))


def test_measure_denoiser_reports_time_and_memory():
    from patchcore.experiments.profiling import measure_denoiser

    for grad in (False, True):
        r = measure_denoiser(toy_prior, 32, 8, micro_batch=4, grad=grad, device="cpu", nfe=1)
        assert r["time_per_nfe_s"] > 0 and r["tiles"] == 25 and r["grad"] is grad
        # The allocator peak includes at least the float32 output image.
        assert r["peak_bytes"] >= 32 * 32 * 4 and r["peak_rss_bytes"] >= 0
        assert "Total Allocated" in r["memory_method"] and "peak RSS" in r["memory_method"]


class CoordToyPrior:
    """Nonlinear, tile-mean-, sigma- and position-dependent prior that wants coordinates."""

    coord_channels = 2
    coord_pad = 3

    def __call__(self, x, sigma, coords=None):
        return toy_prior(x, sigma) + 0.1 * coords[:, :1] * x + 0.05 * coords[:, 1:]


def to_tiles(d, x, shift):
    """Pad, take the shifted window and split it: ``(B, C, N, N)`` -> ``(B*K*K, C, P, P)``
    (the all-at-once reference tiling, image-sized copies)."""
    b, c, n, _ = x.shape
    p, k, m = d.geometry(n)
    if m:
        x = F.pad(x, (m, m, m, m), mode="reflect" if d.pad_mode == "reflect" else "constant")
        x = x[:, :, shift[0] : shift[0] + k * p, shift[1] : shift[1] + k * p]
    t = x.reshape(b, c, k, p, k, p).permute(0, 2, 4, 1, 3, 5)
    return t.reshape(b * k * k, c, p, p)


def from_tiles(d, tiles, shift, n):
    """Inverse arrangement cropped to the image: ``(B*K*K, C, P, P)`` -> ``(B, C, N, N)``."""
    p, k, m = d.geometry(n)
    c = tiles.shape[1]
    w = tiles.reshape(-1, k, k, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(-1, c, k * p, k * p)
    top, left = m - shift[0], m - shift[1]
    return w[:, :, top : top + n, left : left + n]


def tile_sigmas(d, sigma, x):
    """Per-tile noise levels ``(B*K*K,)``."""
    _, k, _ = d.geometry(x.shape[-1])
    return per_image(sigma, x).repeat_interleave(k * k)


def _reference_denoise(d, x, sigma, shift):
    """The shifted grid written with the padded-image tiling ``to_tiles``/``from_tiles``."""
    n = x.shape[-1]
    tiles = to_tiles(d, x, shift)
    coords = d.tile_coords(n, shift, x.shape[0], x.device, x.dtype)
    return x + from_tiles(d, d.prior(tiles, tile_sigmas(d, sigma, x), coords=coords) - tiles, shift, n)


@pytest.mark.parametrize("pad", ["reflect", "zero"])
@pytest.mark.parametrize("n,patch", [(36, 8), (32, 8), (40, 12), (16, "full")])
@pytest.mark.parametrize("micro", [None, 1, 7])
def test_streamed_tiles_equal_reference_tiling(pad, n, patch, micro):
    """Streaming (index gather/scatter, no padded copy) equals pad + tile + crop, value and VJP.

    ``n = 32, patch = 8`` is the case ``N % P == 0`` (a whole extra row of tiles in the padding).
    """
    gen = torch.Generator().manual_seed(11)
    x = torch.rand(2, 2, n, n, generator=gen, dtype=torch.float64)
    g = torch.randn(2, 2, n, n, generator=gen, dtype=torch.float64)
    sigma = torch.tensor([0.3, 0.8], dtype=torch.float64)
    d = _denoiser(ShiftedGridDenoiser, CoordToyPrior(), patch, pad, micro)
    m = d.geometry(n)[2]
    for shift in {(0, 0), (m, m), (max(m - 1, 0), min(1, m)), d.draw_shift(n)}:
        ref = _reference_denoise(d, x, sigma, shift)
        assert not torch.allclose(ref, x)
        assert torch.allclose(d.denoise(x, sigma, shift), ref, atol=1e-12, rtol=0)
        x_req = x.clone().requires_grad_(True)
        (ref_grad,) = torch.autograd.grad(_reference_denoise(d, x_req, sigma, shift), x_req, g)
        assert torch.allclose(d.vjp(x, sigma, shift, g), ref_grad, atol=1e-10, rtol=0)


@pytest.mark.parametrize("pad", ["reflect", "zero"])
def test_vjp_micro_batch_independence_and_determinism(pad):
    gen = torch.Generator().manual_seed(12)
    x = torch.rand(2, 1, 36, 36, generator=gen, dtype=torch.float64)
    g = torch.randn(2, 1, 36, 36, generator=gen, dtype=torch.float64)
    sigma = torch.tensor([0.2, 0.6], dtype=torch.float64)
    ref = _denoiser(ShiftedGridDenoiser, toy_prior, 8, pad, None).vjp(x, sigma, (2, 3), g)
    assert not torch.allclose(ref, g)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)  # as the evaluate script runs
    try:
        for micro in (1, 4, 13, 1000):
            out = _denoiser(ShiftedGridDenoiser, toy_prior, 8, pad, micro).vjp(x, sigma, (2, 3), g)
            assert torch.allclose(out, ref, atol=1e-12, rtol=0)
    finally:
        torch.use_deterministic_algorithms(previous)


def test_tile_coords_slices_match_all_tiles():
    d = ShiftedGridDenoiser(CoordToyPrior(), 8)
    full = d.tile_coords(36, (1, 2), 2, "cpu", torch.float32)
    assert full.shape == (2 * 25, 2, 8, 8)
    assert torch.equal(d.tile_coords(36, (1, 2), 2, "cpu", torch.float32, 20, 33), full[20:33])


def test_vjp_does_not_modify_its_inputs():
    gen = torch.Generator().manual_seed(13)
    x = torch.rand(1, 1, 20, 20, generator=gen)
    g = torch.randn(1, 1, 20, 20, generator=gen)
    x0, g0 = x.clone(), g.clone()
    d = _denoiser(ShiftedGridDenoiser, toy_prior, 8, "reflect", 3)
    d.vjp(x, 0.4, (1, 1), g)
    d.denoise(x, 0.4, (1, 1))
    assert torch.equal(x, x0) and torch.equal(g, g0)


def _reference_canvas_denoise(d, canvas, sigma, shift, n):
    """The canvas denoiser written with slices: tile the window ``[s, s + K P)`` of the canvas,
    add ``D(tile) - tile`` back in place, keep the image region and set the padding to 0."""
    p, k, m = d.geometry(n)
    b, c = canvas.shape[:2]
    window = canvas[:, :, shift[0] : shift[0] + k * p, shift[1] : shift[1] + k * p]
    tiles = window.reshape(b, c, k, p, k, p).permute(0, 2, 4, 1, 3, 5).reshape(b * k * k, c, p, p)
    coords = d.tile_coords(n, shift, b, canvas.device, canvas.dtype)
    delta = d.prior(tiles, per_image(sigma, canvas).repeat_interleave(k * k), coords=coords) - tiles
    delta = delta.reshape(b, k, k, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, k * p, k * p)
    placed = F.pad(delta, (shift[1], n + 2 * m - shift[1] - k * p, shift[0], n + 2 * m - shift[0] - k * p))
    inside = torch.zeros_like(canvas)
    inside[:, :, m : m + n, m : m + n] = 1
    return (canvas + placed) * inside


@pytest.mark.parametrize("n,patch", [(36, 8), (32, 8), (40, 12)])
@pytest.mark.parametrize("micro", [None, 5])
def test_canvas_denoiser_equals_reference_value_and_vjp(n, patch, micro):
    """The canvas the official PaDIS sampler carries: value and VJP equal the sliced reference,
    for every tile of every shift (padding pixels of the canvas are read, not zero-filled)."""
    gen = torch.Generator().manual_seed(21)
    grid = _denoiser(ShiftedGridDenoiser, CoordToyPrior(), patch, "zero", micro)
    d = CanvasDenoiser(grid, n)
    size = n + 2 * d.margin
    canvas = torch.rand(2, 1, size, size, generator=gen, dtype=torch.float64) - 0.2
    g = torch.randn(2, 1, size, size, generator=gen, dtype=torch.float64)
    sigma = torch.tensor([0.3, 0.8], dtype=torch.float64)
    for shift in {(0, 0), (d.margin - 1, 0), d.draw_shift()}:
        ref = _reference_canvas_denoise(grid, canvas, sigma, shift, n)
        assert torch.allclose(d.denoise(canvas, sigma, shift), ref, atol=1e-12, rtol=0)
        c_req = canvas.clone().requires_grad_(True)
        (ref_grad,) = torch.autograd.grad(_reference_canvas_denoise(grid, c_req, sigma, shift, n), c_req, g)
        assert ref_grad.abs().sum() > d.crop(ref_grad).abs().sum()  # padding pixels feed image pixels
        assert torch.allclose(d.vjp(canvas, sigma, shift, g), ref_grad, atol=1e-10, rtol=0)


def test_canvas_with_zero_padding_is_the_zero_padded_grid():
    """On a canvas whose padding is exactly 0, the image region is the zero-padded shifted grid
    of the image, and the padding of D is 0; an identity prior returns the image region."""
    gen = torch.Generator().manual_seed(22)
    x = torch.rand(2, 1, 36, 36, generator=gen, dtype=torch.float64)
    grid = _denoiser(ShiftedGridDenoiser, CoordToyPrior(), 8, "zero", 7)
    d = CanvasDenoiser(grid, 36)
    out = d.denoise(d.pad(x), 0.4, (3, 2))
    assert torch.allclose(d.crop(out), grid.denoise(x, 0.4, (3, 2)), atol=1e-12, rtol=0)
    padding = out.clone()
    d.crop(padding).zero_()
    assert not padding.any()
    ident = CanvasDenoiser(_denoiser(ShiftedGridDenoiser, identity_prior, 8, "zero", None), 36)
    noisy = torch.randn(1, 1, 36 + 2 * ident.margin, 36 + 2 * ident.margin, generator=gen)
    assert torch.equal(ident.crop(ident(noisy, 0.5)), ident.crop(noisy))
    with pytest.raises(ValueError, match="canvases"):
        d.denoise(x, 0.4, (0, 0))
