"""Time per network evaluation and peak memory of a (patch) denoiser, one point per process.

Memory method (stated in every result as ``memory_method``):

- CUDA: ``torch.cuda.max_memory_allocated`` over the timed calls (``reset_peak_memory_stats``
  after the warm-up call), minus the bytes allocated before them (model weights, the network's
  cached scaled weights and the input are excluded);
- CPU (``peak_bytes``): the CPU allocator's own count of live tensor bytes, recorded by the
  torch profiler with ``profile_memory=True`` (the running total of its ``[memory]`` events,
  "Total Allocated" counted from the start of the profile) during one denoiser call after the
  warm-up; its maximum is the exact, deterministic peak of tensor bytes allocated by the call
  (input and weights, allocated before, are excluded; buffers that libraries allocate outside
  the torch allocator are not counted). The timed calls run without the profiler.
- CPU, secondary (``peak_rss_bytes``): the peak resident set size after resetting the kernel's
  peak mark (``/proc/self/clear_refs``, ``VmHWM``) minus the resident size before the first
  call, over the warm-up and timed calls (or, where the reset is not possible, the rise of
  ``getrusage`` ``ru_maxrss``). It includes allocator caching and library workspaces and varies
  by ~10-20 MB between runs, so call it in a fresh process per point (the CLI does one point).

Time per NFE (``time_per_nfe_s``) is the median of the timed calls, each timed on its own
(``time_calls_s`` keeps them all): the median ignores the calls slowed by other work on a
shared machine, where the mean of a few calls does not. ``cpu_time_per_nfe_s`` is the median
of the same calls' CPU time of this process (``time.process_time``): with one thread it is the
wall time of an idle machine, and time-sharing the cores with other work does not inflate it. A warm-up call on a small corner of the
image (one patch, or 16 px for the whole image) first fills the network's weight cache.
``nfe="auto"`` (the CLI's default) sets the number of timed calls from the first one's time
``t``: ``ceil(AUTO_BUDGET_S / t)`` clipped to ``[AUTO_MIN_CALLS, AUTO_MAX_CALLS]`` (3 to 25
calls, at least about 5 s of timed calls where that needs no more than 25).

Run ``python -m patchcore.experiments.profiling --json --network demo-xxs --image-size 256 --patch 64
--micro-batch 16 [--grad]`` to measure one point and print one JSON line (the last line of
stdout).
"""

import argparse
import contextlib
import inspect
import json
import math
import os
import resource
import sys
import tempfile
import time
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import nn

from patchcore.inverse import schemes
from patchcore.inverse.patches import denoise_vjp

AUTO_MIN_CALLS = 3
AUTO_MAX_CALLS = 25
AUTO_BUDGET_S = 5.0


def _rss_bytes():
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _proc_status_bytes(key):
    """A memory line of /proc/self/status (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False if not possible.

    Without the reset, the peak left by importing torch and building the model hides smaller
    denoiser peaks.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to /dev/null inside the block (the profiler's C++ log lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _peak_of_running_total(deltas):
    """Largest prefix sum of ``deltas`` (bytes allocated > 0, freed < 0), at least 0."""
    total = peak = 0
    for d in deltas:
        total += d
        peak = max(peak, total)
    return int(peak)


def _memory_deltas_low_level(fn):
    """Signed sizes of the CPU allocator's allocations/frees during ``fn()``, in order.

    Uses the profiler's C++ entry points directly (the same kineto session as
    ``torch.profiler.profile(profile_memory=True)``, without building Python events for every
    operator, which costs several times the call itself on small tiles).
    """
    from torch._C._profiler import ProfilerActivity, _ExperimentalConfig
    from torch.autograd.profiler import (
        ProfilerConfig,
        ProfilerState,
        _disable_profiler,
        _enable_profiler,
        _prepare_profiler,
    )

    config = ProfilerConfig(ProfilerState.KINETO, False, True, False, False, False, _ExperimentalConfig())
    activities = {ProfilerActivity.CPU}
    _prepare_profiler(config, activities)
    _enable_profiler(config, activities)
    try:
        fn()
    finally:
        result = _disable_profiler()
    return [e.nbytes() for e in result.events() if e.name() == "[memory]" and e.device_type() == torch._C._autograd.DeviceType.CPU]


def _memory_deltas_chrome_trace(fn):
    """As :func:`_memory_deltas_low_level` through the public ``torch.profiler`` API: the
    ``[memory]`` events of the exported chrome trace ("Bytes"; their running sum is the
    allocator's "Total Allocated" from the start of the profile)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    fd, path = tempfile.mkstemp(suffix=".json", prefix="patchcore-profile-")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as fh:
            trace = json.load(fh)
    finally:
        os.unlink(path)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    memory = [e for e in events if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type", 0) == 0]
    memory.sort(key=lambda e: (e["ts"], e["args"].get("Ev Idx", 0)))
    return [e["args"]["Bytes"] for e in memory]


def cpu_allocator_peak(fn: Callable[[], None]) -> int:
    """Run ``fn()`` once under the torch profiler and return the peak of live CPU tensor bytes.

    With ``profile_memory=True`` the profiler records every allocation and free of the CPU
    allocator as a ``[memory]`` event (size signed, and "Total Allocated", the allocator's live
    bytes counted from the start of profiling); the largest running total over the call is the
    exact, deterministic peak that ``fn`` adds over what was live before it (0 if it frees more
    than it allocates). Blocks allocated before the profile are not tracked.
    """
    with _quiet_stderr():
        try:
            deltas = _memory_deltas_low_level(fn)
        except (ImportError, AttributeError, TypeError):  # private API changed: the public route
            deltas = _memory_deltas_chrome_trace(fn)
    return _peak_of_running_total(deltas)


def timed_calls_for(call_s: float, min_calls: int = AUTO_MIN_CALLS, max_calls: int = AUTO_MAX_CALLS,
                    budget_s: float = AUTO_BUDGET_S) -> int:
    """Number of timed calls for a call that took ``call_s`` seconds: enough for ``budget_s``
    seconds of timing, at least ``min_calls`` (a median needs a majority of undisturbed calls),
    at most ``max_calls``."""
    if not call_s > 0:
        return max_calls
    return int(min(max_calls, max(min_calls, math.ceil(budget_s / call_s))))


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence of numbers (mean of the two middle ones for an even count)."""
    v = sorted(values)
    if not v:
        raise ValueError("median of an empty sequence")
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else 0.5 * (v[mid - 1] + v[mid])


def _is_factory(obj):
    """True for a callable that takes no arguments (a factory), False for a prior ``(x, sigma)``."""
    if isinstance(obj, torch.nn.Module) or not callable(obj):
        return False
    try:
        inspect.signature(obj).bind()
    except TypeError:
        return False
    return True


def build_prior(network: Union[str, dict] = "demo-xxs", channels: int = 1, coord_channels: int = 0,
                coord_pad: int = 0) -> torch.nn.Module:
    """A randomly initialised :class:`patchcore.priors.prior.Prior` (time and memory do not depend on weights)."""
    from patchcore.priors.prior import Prior

    return Prior(network, channels=channels, coord_channels=coord_channels, coord_pad=coord_pad)


def _ready_prior(prior, device):
    """``(prior, parameters)``: ``prior`` built (from a preset name or a factory), on ``device``,
    in eval mode without gradients; ``parameters`` its parameter count (None for a non-module)."""
    if isinstance(prior, str):
        prior = build_prior(prior)
    elif _is_factory(prior):
        prior = prior()
    if not isinstance(prior, torch.nn.Module):
        return prior, None
    parameters = sum(p.numel() for p in prior.parameters())
    prior = prior.to(device).eval()
    for p in prior.parameters():
        p.requires_grad_(False)
    return prior, parameters


CUDA_METHOD = ("cuda max_memory_allocated over the timed calls (peak reset after the warm-up) minus "
               "allocated before them (weights, cached scaled weights and input excluded)")
CPU_METHOD = ("cpu allocator peak: largest running total ('Total Allocated' from profile start) of the "
              "CPU allocator's [memory] events recorded by the torch profiler (profile_memory=True) "
              "during one call after the warm-up and the timed calls (exact live tensor bytes allocated "
              "by the call; input, weights and the network's cached weights excluded; timing without "
              "the profiler); secondary peak_rss_bytes: ")
RSS_METHODS = {True: "peak RSS (VmHWM, reset before the first call) minus RSS before the first call",
               False: "rise of peak RSS (getrusage ru_maxrss) over its value before the first call"}


def _start_cuda(device, warm_up):
    """Warm up, then reset the CUDA peak: the probe state ``{before, method}``."""
    warm_up()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    return {"before": torch.cuda.memory_allocated(device), "method": CUDA_METHOD}


def _start_cpu(device, warm_up):
    """Reset the peak RSS mark (where possible), read the RSS, then warm up: the probe state."""
    rss_reset = _reset_peak_rss()
    before = _proc_status_bytes("VmRSS") if rss_reset else _rss_bytes()
    warm_up()
    return {"before": before, "rss_reset": rss_reset, "method": CPU_METHOD + RSS_METHODS[rss_reset]}


def _peak_cuda(device, probe, call):
    """``(peak_bytes, extra)`` after the timed calls on CUDA."""
    return torch.cuda.max_memory_allocated(device) - probe["before"], {}


def _peak_cpu(device, probe, call):
    """``(peak_bytes, extra)`` on CPU: the RSS rise first (the profiler's own memory is not
    counted there), then the allocator peak of one profiled call."""
    rss = (_proc_status_bytes("VmHWM") if probe["rss_reset"] else _rss_bytes()) - probe["before"]
    return cpu_allocator_peak(call), {"peak_rss_bytes": int(rss)}


PROBES = {"cuda": (_start_cuda, _peak_cuda), "cpu": (_start_cpu, _peak_cpu)}


def _timer(device, cpu_times):
    """``timed(fn) -> seconds``: the wall time of one call (CUDA synchronised); its CPU time
    is appended to ``cpu_times``."""
    def timed(fn):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        cpu_times.append(time.process_time() - cpu_start)
        return time.perf_counter() - start
    return timed


def _denoiser_call(den, x, target, grad, sigma=0.5):
    """``call(x=x, target=target)``: one denoiser call, with ``grad`` also the memory-bounded
    gradient of ``||D(x) - target||^2``."""
    def call(x=x, target=target):
        if grad:
            denoise_vjp(den, x, sigma, lambda d: ((d - target) ** 2).sum())
        else:
            with torch.no_grad():
                den(x, sigma)
    return call


def _timed_calls(timed, call, nfe):
    """Times of the timed calls; the first also sets their number for ``nfe='auto'``."""
    times = [timed(call)]
    calls = timed_calls_for(times[0]) if nfe in (None, "auto") else int(nfe)
    return times + [timed(call) for _ in range(calls - 1)]


def _checked_point(patch, nfe):
    """The scheme of ``patch`` (whole image or shifted grid) after checking ``patch`` and ``nfe``."""
    scheme = schemes.parse(patch)
    if scheme.kind not in ("full", "grid"):
        raise ValueError(f"measure_denoiser: patch must be 'full' or a tile size, got {patch!r}")
    if nfe not in (None, "auto") and int(nfe) < 1:
        raise ValueError(f"nfe must be 'auto' or a positive number of timed calls, got {nfe!r}")
    return scheme


def measure_denoiser(prior: Any, image_size: int, patch: Union[int, str] = "full",
                     micro_batch: Optional[int] = None, grad: bool = False,
                     device: Union[str, torch.device] = "cpu", nfe: Union[int, str] = "auto",
                     channels: int = 1, seed: int = 0) -> dict:
    """Time per denoiser call and peak memory of one (image size, patch, micro-batch) point.

    ``prior``: a prior ``prior(x, sigma, coords=None)``, a zero-argument factory returning one,
    or a network preset name; ``patch``: ``'full'`` or a tile size (shifted grid, reflect
    padding); ``grad``: each call also back-propagates a loss through the memory-bounded
    gradient (:func:`patchcore.inverse.patches.denoise_vjp`). A warm-up call on a small corner
    (one patch, or 16 px: it fills the network's weight cache), then ``nfe`` timed calls (an
    int, or ``"auto"``: :func:`timed_calls_for`). Returns ``time_per_nfe_s`` (their median;
    all in ``time_calls_s``), ``parameters`` (None for a non-module), ``peak_bytes`` (CUDA: the
    allocator's peak rise; CPU: :func:`cpu_allocator_peak`), on CPU ``peak_rss_bytes``,
    ``output_bytes``, ``memory_method`` (see the module docstring) and the point's settings.
    """
    device, scheme = torch.device(device), _checked_point(patch, nfe)
    prior, parameters = _ready_prior(prior, device)
    gen = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.3 * torch.randn(1, channels, image_size, image_size, generator=gen)).to(device)
    target = torch.rand(x.shape, generator=gen).to(device)
    den = schemes.make_denoiser(prior, scheme, "reflect", gen, micro_batch)
    call = _denoiser_call(den, x, target, grad)
    w = min(image_size, 16 if scheme.whole else scheme.patch)  # the warm-up corner (module docstring)
    start, finish = PROBES["cuda" if device.type == "cuda" else "cpu"]
    probe = start(device, lambda: call(x[..., :w, :w], target[..., :w, :w]))
    cpu_times = []
    times = _timed_calls(_timer(device, cpu_times), call, nfe)
    peak, extra = finish(device, probe, call)
    p, k, m = den.geometry(image_size)
    return {"image_size": image_size, "patch": patch, "micro_batch": micro_batch, "grad": bool(grad),
            "device": str(device), "nfe": len(times), "tiles": k * k, "padded_size": k * p,
            "time_per_nfe_s": median(times), "time_calls_s": times, "time_statistic": "median",
            "cpu_time_per_nfe_s": median(cpu_times), "cpu_time_calls_s": cpu_times,
            "parameters": parameters, "peak_bytes": int(peak), **extra,
            "output_bytes": x.numel() * x.element_size(), "memory_method": probe["method"]}


def _patch_arg(text):
    scheme = schemes.parse(text)
    return "full" if scheme.whole else scheme.patch


def _nfe_arg(text):
    return "auto" if text == "auto" else int(text)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Measure one point of the patch-denoiser profile.")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON line (default)")
    ap.add_argument("--network", default="demo-xxs", help="network preset of patchcore.priors.network")
    ap.add_argument("--prior-options", default=None,
                    help="a prior's options.json (its network etc.; weights are not needed)")
    ap.add_argument("--image-size", type=int, required=True)
    ap.add_argument("--patch", type=_patch_arg, default="full")
    ap.add_argument("--micro-batch", type=int, default=None)
    ap.add_argument("--grad", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--nfe", type=_nfe_arg, default="auto",
                    help="timed calls after the warm-up (their median is reported), or 'auto' (default)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.prior_options:
        from patchcore.priors.prior import Prior

        with open(args.prior_options) as fh:
            options = json.load(fh)
        # A trained prior's options.json keeps the constructor options under "prior".
        factory = lambda: Prior.from_options(options.get("prior", options))  # noqa: E731
    else:
        factory = lambda: build_prior(args.network)  # noqa: E731
    result = measure_denoiser(factory, args.image_size, args.patch, args.micro_batch, args.grad, args.device,
                              args.nfe)
    result["network"] = args.prior_options or args.network
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
