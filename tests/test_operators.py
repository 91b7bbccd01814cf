"""Properties of every registered operator: adjointness, shapes, prox, CT geometry and FBP."""

import math

import pytest
import torch

from patchcore.inverse.operators import OPERATORS, make_operator

N = 32
CASES = [(name, c) for name in sorted(OPERATORS) for c in (1, 2)]


def _build(name, channels, n=N):
    params = {"channels": channels} if name.startswith("mri") else {}
    return make_operator(name, n, **params)


def _dtype(name):
    # deepinv's BlurFFT keeps a float32 kernel; the others run in float64 for tight checks.
    return torch.float32 if name == "deblur" else torch.float64


@pytest.mark.parametrize("name,channels", CASES)
def test_adjointness(name, channels):
    gen = torch.Generator().manual_seed(0)
    op = _build(name, channels)
    x = torch.rand(2, channels, N, N, generator=gen, dtype=_dtype(name))
    y = op.A(x)
    v = torch.randn(y.shape, generator=gen, dtype=y.dtype)
    lhs = (y * v).sum()
    rhs = (x * op.A_adjoint(v)).sum()
    assert abs(lhs - rhs) / abs(lhs) < 1e-4


@pytest.mark.parametrize("name,channels", CASES)
def test_shapes_and_baseline(name, channels):
    op = _build(name, channels)
    x = torch.rand(3, channels, N, N, dtype=_dtype(name))
    y = op.measure(x, 0.01, torch.Generator().manual_seed(1))
    assert y.shape == op.A(x).shape and y.shape[0] == 3
    assert op.A_adjoint(y).shape == x.shape
    assert op.baseline(y).shape == x.shape
    assert op.name == name
    with pytest.raises(ValueError, match=name):
        op.A(torch.rand(1, channels, N + 2, N + 2, dtype=_dtype(name)))


@pytest.mark.parametrize("name,channels", CASES)
def test_prox_solves_normal_equations(name, channels):
    """(A^T A + rho I) x = A^T y + rho z, per batch element with its own rho."""
    gen = torch.Generator().manual_seed(2)
    op = _build(name, channels)
    z = torch.rand(2, channels, N, N, generator=gen, dtype=_dtype(name))
    y = op.measure(torch.rand(z.shape, generator=gen, dtype=z.dtype), 0.05, gen)
    rho = torch.tensor([0.3, 3.0], dtype=z.dtype)
    x = op.prox(z, y, rho)
    residual = op.A_adjoint(op.A(x) - y) + rho.view(-1, 1, 1, 1) * (x - z)
    scale = (op.A_adjoint(y).abs().max() + z.abs().max())
    assert residual.abs().max() / scale < 1e-4


def test_measure_noise_level():
    op = make_operator("denoise", 64)
    x = torch.zeros(4, 1, 64, 64)
    y = op.measure(x, 0.1, torch.Generator().manual_seed(0))
    assert abs(float(y.std()) - 0.1) < 0.005


def test_make_operator_errors():
    with pytest.raises(KeyError, match="nope"):
        make_operator("nope", 32)
    with pytest.raises(TypeError, match="deblur"):
        make_operator("deblur", 32, bogus=1)


def test_sr2_is_box_average_and_bicubic_baseline():
    op = make_operator("sr2", 8)
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    assert torch.allclose(op.A(x)[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    smooth = torch.ones(1, 1, 8, 8) * 0.3
    assert torch.allclose(op.baseline(op.A(smooth)), smooth, atol=1e-6)


def test_ct_point_projects_to_sinusoid():
    """A point at (cx, cy) lands, in every view, in the bin nearest s = cx cos(t) + cy sin(t)."""
    n = 48
    op = make_operator("ct20", n)
    assert op.detector_bins == 2 * n and op.n_angles == 20
    assert float(op.angles.max()) < math.pi
    x = torch.zeros(1, 1, n, n, dtype=torch.float64)
    row, col = 9, 35
    x[0, 0, row, col] = 1.0
    sino = op.A(x)[0, 0]
    cx, cy = (col + 0.5) / n - 0.5, (row + 0.5) / n - 0.5
    expected = cx * torch.cos(op.angles) + cy * torch.sin(op.angles)
    found = op.s[sino.argmax(dim=1)]
    assert (found - expected).abs().max() <= 1.0 * op.det_spacing
    # Mass of the point (area 1/n^2): within 15% per view (bilinear sampling of one pixel),
    # within 2% on average over the views.
    mass = sino.sum(1) * op.det_spacing * n**2
    assert (mass - 1).abs().max() < 0.15 and abs(float(mass.mean()) - 1) < 0.02


def test_ct_fbp_recovers_disc():
    """FBP of a disc: interior mean within 2% of 1, exterior mean |error| < 0.05 (20 views)."""
    n = 64
    op = make_operator("ct20", n)
    c = (torch.arange(n, dtype=torch.float64) + 0.5) / n - 0.5
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    r2 = (xx - 0.05) ** 2 + (yy + 0.1) ** 2
    disc = (r2 < 0.25**2).to(torch.float64)[None, None]
    rec = op.baseline(op.A(disc))[0, 0]
    assert abs(float(rec[r2 < 0.2**2].mean()) - 1.0) < 0.02
    assert float(rec[r2 > 0.3**2].abs().mean()) < 0.05


def test_mri_mask_and_zero_filled():
    op = make_operator("mri4x", 64)
    cols = op.mask[0]
    assert abs(float(cols.sum()) - 16) <= 1 and bool(cols[30:34].all())
    x = torch.rand(1, 1, 64, 64, dtype=torch.float64)
    full = make_operator("mri4x", 64, acceleration=1)
    assert torch.allclose(full.baseline(full.A(x)), x, atol=1e-6)


@pytest.mark.parametrize("n,expected", [(64, 5), (128, 10), (256, 20), (16, 1)])
def test_ct_views_stated_at_another_size_scale_with_the_image(n, expected):
    """"20 views at 256 px" keeps views / N (the undersampling relative to the pi N / 2 views of
    full sampling): 5 views at 64 px, 10 at 128, 20 at 256, never fewer than 1."""
    op = make_operator("ct20", n, views_at=256)
    assert op.n_angles == expected and op.A(torch.zeros(1, 1, n, n)).shape == (1, 1, expected, 2 * n)
    assert make_operator("ct8", 64, views_at=256).n_angles == 2
    assert make_operator("ct20", 64).n_angles == 20  # literal counts stay available
    with pytest.raises(ValueError, match="views_at"):
        make_operator("ct20", 64, views_at=0)
