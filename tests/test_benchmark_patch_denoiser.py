"""The patch-denoiser benchmark's grid, order and verdicts (benchmarks/patch_denoiser.py), on
made-up points: nothing is measured here."""

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "patch_denoiser_benchmark", Path(__file__).resolve().parents[1] / "benchmarks" / "patch_denoiser.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def _point(network, n, patch, mb, grad, peak, wall, cpu=None, padded=None):
    r = {"network": network, "image_size": n, "patch": patch, "micro_batch": mb, "grad": grad,
         "peak_bytes": peak, "output_bytes": 4 * n * n, "time_per_nfe_s": wall,
         "padded_size": padded or n}
    if cpu is not None:
        r["cpu_time_per_nfe_s"] = cpu
    return r


def test_every_network_has_the_targets_points_and_they_come_first():
    points = bench.ordered([pt for net in bench.NETWORKS for pt in bench.grid(net)])
    assert set(bench.NETWORKS) >= {"demo-xxs", "unet-8m"}
    first = points[:8 * len(bench.NETWORKS)]
    for net in bench.NETWORKS:
        for n in (256, 1024):
            for grad in (False, True):
                assert (net, n, "full", None, grad) in first and (net, n, 64, 16, grad) in first
    assert len(set(points)) == len(points)
    # Patches smaller than the image, micro-batches smaller than the tile count only.
    assert all(p == "full" or (p < n and (mb is None or mb < (n // p + 1) ** 2)) for _, n, p, mb, _ in points)


def test_targets_are_judged_per_network():
    pts = []
    for net, full_peak in (("demo-xxs", 1000.0), ("unet-8m", 100.0)):
        for grad in (False, True):
            pts += [_point(net, 256, 64, 16, grad, 50, 1.0, 1.0, 320),
                    _point(net, 1024, 64, 16, grad, 54, 1.0, 1.0, 1088),
                    _point(net, 1024, "full", None, grad, full_peak, 1.0, 1.0)]
    targets = {(t["network"], t["target"].split(" (")[0]): t for t in bench.check_targets(pts, "demo-xxs")
               + bench.check_targets(pts, "unet-8m")}
    assert targets[("demo-xxs", "peak at 1024 px with 64 px tiles")]["pass"]  # 54/1000
    assert not targets[("unet-8m", "peak at 1024 px with 64 px tiles")]["pass"]  # 54/100
    flat = [t for t in bench.check_targets(pts, "unet-8m") if t["target"].startswith("peak flat")]
    assert len(flat) == 2 and all(t["value"] == pytest.approx(54 / 50) and t["pass"] for t in flat)


def test_time_target_is_judged_on_cpu_time_when_both_points_have_it():
    scale = 1.15 * (1088 / 1024) ** 2
    pts = [_point("unet-8m", 1024, "full", None, False, 100, wall=1.0, cpu=1.0),
           # A loaded machine: the patch point waited for the core (wall 3x), its CPU time is fine.
           _point("unet-8m", 1024, 64, 16, False, 10, wall=3.0, cpu=0.9 * scale, padded=1088)]
    (t,) = bench.time_targets(pts)
    assert t["judged_on"] == "cpu_time" and t["pass"] and t["value"] == pytest.approx(0.9)
    assert not t["pass_wall_time"] and t["value_wall_time"] == pytest.approx(3.0 / scale)
    del pts[0]["cpu_time_per_nfe_s"]
    (t,) = bench.time_targets(pts)
    assert t["judged_on"] == "wall_time" and not t["pass"]
