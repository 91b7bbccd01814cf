"""Time per network evaluation and peak memory of a (patch) denoiser, one point per process.

Memory method (stated in every result as ``memory_method``):

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the bytes
  allocated before the first call (model weights and input are excluded);
- CPU: the peak resident set size after resetting the kernel's peak mark (``/proc/self/clear_refs``,
  ``VmHWM``) minus the resident size before the first call; where that reset is not possible,
  the rise of the process's peak resident set size (``resource.getrusage(RUSAGE_SELF)
  .ru_maxrss``) over its value before the first call. The peak of a process never goes down,
  so call this in a fresh process per point (the CLI below does exactly one point).

Run ``python -m patchcore.profiling --json --network demo-xxs --image-size 256 --patch 64
--micro-batch 16 [--grad]`` to measure one point and print one JSON line.
"""

import argparse
import inspect
import json
import resource
import sys
import time

import torch

from patchcore.patches import ShiftedGridDenoiser, denoise_vjp


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


def _is_factory(obj):
    """True for a callable that takes no arguments (a factory), False for a prior ``(x, sigma)``."""
    if isinstance(obj, torch.nn.Module) or not callable(obj):
        return False
    try:
        inspect.signature(obj).bind()
    except TypeError:
        return False
    return True


def build_prior(network="demo-xxs", channels=1, coord_channels=0, coord_pad=0):
    """A randomly initialised :class:`patchcore.prior.Prior` (time and memory do not depend on weights)."""
    from patchcore.prior import Prior

    return Prior(network, channels=channels, coord_channels=coord_channels, coord_pad=coord_pad)


def measure_denoiser(prior, image_size, patch, micro_batch=None, grad=False, device="cpu", nfe=3,
                     channels=1, seed=0):
    """Time per denoiser call and peak memory of one (image size, patch, micro-batch) point.

    ``prior`` is a prior ``prior(x, sigma, coords=None)``, a zero-argument factory returning
    one, or a network preset name; ``patch`` an int or ``'full'``; with ``grad`` each call also back-propagates a scalar
    loss through the denoiser with the memory-bounded tile-by-tile gradient
    (:func:`patchcore.patches.denoise_vjp`). One warm-up call, then ``nfe`` timed calls.

    Returns a dict with ``time_per_nfe_s``, ``peak_bytes`` (rise over the state before the
    first call), ``memory_method`` and the point's settings.
    """
    device = torch.device(device)
    if isinstance(prior, str):
        prior = build_prior(prior)
    elif _is_factory(prior):
        prior = prior()
    if isinstance(prior, torch.nn.Module):
        prior = prior.to(device).eval()
        for p in prior.parameters():
            p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.3 * torch.randn(1, channels, image_size, image_size, generator=gen)).to(device)
    target = torch.rand(x.shape, generator=gen).to(device)
    den = ShiftedGridDenoiser(prior, patch, pad_mode="reflect", generator=gen, micro_batch=micro_batch)
    sigma = 0.5

    def call():
        if grad:
            denoise_vjp(den, x, sigma, lambda d: ((d - target) ** 2).sum())
        else:
            with torch.no_grad():
                den(x, sigma)

    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        method = "cuda max_memory_allocated minus allocated before the first call"
    elif _reset_peak_rss():
        before = _proc_status_bytes("VmRSS")
        method = "cpu peak RSS (VmHWM, reset before the first call) minus RSS before the first call"
    else:
        before = _rss_bytes()
        method = "cpu peak RSS rise (getrusage ru_maxrss) over the fresh process's peak before the first call"
    call()  # warm-up (counts towards the peak: the same sizes are allocated)
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(int(nfe)):
        call()
    if cuda:
        torch.cuda.synchronize(device)
    elapsed = (time.perf_counter() - start) / int(nfe)
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) - before
    elif method.startswith("cpu peak RSS (VmHWM"):
        peak = _proc_status_bytes("VmHWM") - before
    else:
        peak = _rss_bytes() - before
    p, k, m = den.geometry(image_size)
    return {"image_size": image_size, "patch": patch, "micro_batch": micro_batch, "grad": bool(grad),
            "device": str(device), "nfe": int(nfe), "tiles": k * k, "padded_size": k * p,
            "time_per_nfe_s": elapsed, "peak_bytes": int(peak), "memory_method": method}


def _patch_arg(text):
    return "full" if text == "full" else int(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Measure one point of the patch-denoiser profile.")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON line (default)")
    ap.add_argument("--network", default="demo-xxs", help="network preset of patchcore.network")
    ap.add_argument("--prior-options", default=None,
                    help="a prior's options.json (its network etc.; weights are not needed)")
    ap.add_argument("--image-size", type=int, required=True)
    ap.add_argument("--patch", type=_patch_arg, default="full")
    ap.add_argument("--micro-batch", type=int, default=None)
    ap.add_argument("--grad", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--nfe", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.prior_options:
        from patchcore.prior import Prior

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
