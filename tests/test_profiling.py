"""CPU allocator peak of the profiler, and flat memory of the streamed shifted grid."""

import torch

from patchcore.patches import ShiftedGridDenoiser
from patchcore.profiling import cpu_allocator_peak


def toy_prior(x, sigma, coords=None):
    return torch.tanh(x) / (1 + sigma.reshape(-1, 1, 1, 1) ** 2) + 0.3 * x**2


def test_allocator_peak_is_exact():
    def allocate():
        a = torch.empty(1_000_000, dtype=torch.uint8)
        b = torch.empty(500_000, dtype=torch.uint8)
        del a
        c = torch.empty(200_000, dtype=torch.uint8)
        return b, c

    assert cpu_allocator_peak(allocate) == 1_500_000  # a and b live together, c after a is freed
    assert cpu_allocator_peak(lambda: None) == 0


def test_streamed_grid_peak_is_flat_apart_from_the_output():
    """Peak live bytes of denoise and vjp minus the output image do not grow with the image.

    Micro-batches of 4 tiles of 8 px (float64): one micro-batch is a few KiB, the 128 px output
    128 KiB; any image-sized intermediate (padded copy, all tiles at once) would break the bound.
    """
    excess = {}
    for n in (32, 64, 128):
        x = torch.rand(1, 1, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
        g = torch.rand_like(x)
        out_bytes = x.numel() * x.element_size()
        for pad in ("reflect", "zero"):
            d = ShiftedGridDenoiser(toy_prior, 8, pad_mode=pad, micro_batch=4)
            with torch.no_grad():
                excess[("denoise", pad, n)] = cpu_allocator_peak(lambda: d(x, 0.5)) - out_bytes
            shift = d.draw_shift(n)
            excess[("vjp", pad, n)] = cpu_allocator_peak(lambda: d.vjp(x, 0.5, shift, g)) - out_bytes
    assert all(0 < v < 32 * 1024 for v in excess.values()), excess
    for kind in ("denoise", "vjp"):
        for pad in ("reflect", "zero"):
            assert excess[(kind, pad, 128)] <= max(excess[(kind, pad, 32)], excess[(kind, pad, 64)])
