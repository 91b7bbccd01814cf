"""Training throughput (images/s and pixels/s) of whole-image vs patch training presets.

Times optimiser steps of the real training step (crops, EDM loss, backward, Adam, EMA) on
random images and writes benchmarks/results/train_throughput.json. Usage:

    python benchmarks/train_throughput.py [--network demo-xxs] [--size 64] [--batch 8]
        [--steps 10] [--device cpu] [--threads 1] [--padis-sizes 8 16 32]
    (paper scale: --network edm2-xs-256 --size 256 --padis-sizes 16 32 64 --device cuda)

On CUDA the peak memory (torch.cuda.max_memory_allocated) is recorded per preset.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from patchcore.io.atomic import write_text
from patchcore.loss import EDMLoss
from patchcore.train import make_state, resolve_options, train_step

PRESETS = ("whole", "patch-half", "padis")


def sampler_for(preset, size, padis_sizes):
    """Sampler of a preset: whole images, random size/2 patches (Roy: 128 of 256), or PaDIS mixed
    ``padis_sizes`` with probabilities 0.2/0.3/0.5, coordinates and zero padding size/4."""
    if preset == "whole":
        return {"mode": "whole"}
    if preset == "patch-half":
        return {"mode": "random", "sizes": [size // 2]}
    return {"mode": "padis", "sizes": list(padis_sizes), "probs": [0.2, 0.3, 0.5], "coords": True,
            "coord_pad": size // 4}


def measure(preset, network, size, batch, steps, device, padis_sizes):
    """Seconds per step, images/s (full images' worth), pixels/s and peak memory of one preset."""
    prior = {"network": network, "sampler": sampler_for(preset, size, padis_sizes),
             "training": {"steps": steps + 2, "batch": batch}}
    options = resolve_options(prior, {}, {}, size, 1)
    state = make_state(options, device)
    images = torch.rand(max(4 * batch, 16), 1, size, size, generator=torch.Generator().manual_seed(0))
    objective = EDMLoss(state["prior"].precond)
    for _ in range(2):  # warm-up
        train_step(objective, state, images)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        train_step(objective, state, images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    result = {"preset": preset, "sampler": options["sampler"], "seconds_per_step": seconds,
              "images_per_s": batch / seconds, "pixels_per_s": batch * size * size / seconds}
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="demo-xxs")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8, help="full images' worth of pixels per step")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--padis-sizes", type=int, nargs=3, default=None,
                        help="PaDIS patch sizes (default size/8, size/4, size/2; paper: 16 32 64)")
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    padis_sizes = args.padis_sizes or [args.size // 8, args.size // 4, args.size // 2]
    rows = [measure(p, args.network, args.size, args.batch, args.steps, device, padis_sizes) for p in PRESETS]
    for row in rows:
        print(f"{row['preset']:>10}: {row['seconds_per_step']:.3f} s/step, {row['images_per_s']:.1f} images/s, "
              f"{row['pixels_per_s'] / 1e6:.2f} Mpixels/s")
    record = {"network": args.network, "image_size": args.size, "batch": args.batch, "steps": args.steps,
              "device": str(device), "threads": args.threads, "torch": torch.__version__,
              "machine": platform.machine(), "results": rows}
    write_text(Path(args.out), json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
