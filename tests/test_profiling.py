"""CPU allocator peak of the profiler, and flat memory of the streamed shifted grid."""

import pytest
import torch

from patchcore.inverse.patches import ShiftedGridDenoiser
from patchcore.experiments.profiling import cpu_allocator_peak


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


def test_median_of_timed_calls():
    from patchcore.experiments.profiling import median

    assert median([3.0, 100.0, 1.0]) == 3.0  # one slow call (a loaded machine) does not move it
    assert median([4.0, 1.0, 2.0, 100.0]) == 3.0
    with pytest.raises(ValueError, match="empty"):
        median([])


def test_timed_calls_follow_the_warm_up_time():
    from patchcore.experiments.profiling import AUTO_MAX_CALLS, AUTO_MIN_CALLS, timed_calls_for

    assert timed_calls_for(0.001) == AUTO_MAX_CALLS  # fast calls: many
    assert timed_calls_for(60.0) == AUTO_MIN_CALLS  # slow calls: still a median of several
    assert timed_calls_for(1.0, min_calls=3, max_calls=25, budget_s=5.0) == 5
    assert timed_calls_for(0.0) == AUTO_MAX_CALLS


def test_measure_denoiser_reports_the_median_of_its_calls():
    from patchcore.experiments.profiling import measure_denoiser

    r = measure_denoiser(toy_prior, 32, 8, micro_batch=4, nfe=5)
    assert r["nfe"] == 5 and len(r["time_calls_s"]) == 5 and r["time_statistic"] == "median"
    assert r["time_per_nfe_s"] == sorted(r["time_calls_s"])[2]
    assert r["parameters"] is None  # a plain function has no parameters
    auto = measure_denoiser(toy_prior, 32, 8, micro_batch=4)
    assert 3 <= auto["nfe"] == len(auto["time_calls_s"]) <= 25
    with pytest.raises(ValueError, match="nfe"):
        measure_denoiser(toy_prior, 32, 8, nfe=0)
