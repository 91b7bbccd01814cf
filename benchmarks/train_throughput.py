"""Training throughput (steps/s) of the configured priors, and a profile of one training step.

Runs the real training loop (:func:`patchcore.priors.training.train`: crops, EDM loss, backward, Adam,
EMA, held-out evaluation and logging at their configured cadence) of each named prior on random
images of the configured size and group size, times every step, and writes
benchmarks/results/train_throughput.json: per prior the median steps/s over a window of steps
(robust to the occasional evaluation step and to a loaded machine) and the mean over the same
window (which counts the evaluation steps), and the steps per CPU-second of the process (what a
step costs with a core to itself, nearly independent of other load on the machine). Usage:

    python benchmarks/train_throughput.py [--config config.yaml ...] [--priors mri:whole mri:patch ct:padis]
        [--window 100] [--warmup 5] [--threads 1] [--device cpu]
        [--profile benchmarks/results/train_step_profile.txt --profile-steps 10]

``--config`` files are merged left to right (paper scale: ``--config config.yaml
configs/paper.yaml``). ``--profile`` instead profiles ``--profile-steps`` calls of
:func:`patchcore.priors.training.train_step` per prior with torch.profiler (operators by own CPU time)
and cProfile (Python functions by own time) and writes both summaries to that file.
"""

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import time
from pathlib import Path

import torch
import yaml

from patchcore.io.atomic import write_text
from patchcore.priors.loss import EDMLoss
from patchcore.priors.training import make_state, resolve_options, train, train_step

DEFAULT_PRIORS = ("mri:whole", "mri:patch", "ct:padis")


def merged_config(paths):
    """The config files ``paths`` merged left to right (nested dicts merged, other values replaced)."""
    def merge(base, over):
        for key, value in over.items():
            base[key] = merge(base.get(key, {}), value) if isinstance(value, dict) and isinstance(
                base.get(key), dict) else value
        return base
    config = {}
    for path in paths:
        merge(config, yaml.safe_load(Path(path).read_text()))
    return config


def group_train_images(config, group):
    """How many training images the demo's group holds (volumes x training slices per dataset)."""
    total = 0
    for name in config["groups"][group]:
        data = config["datasets"][name]
        synthetic, split = data.get("synthetic") or {}, data.get("split", {})
        volumes = synthetic.get("volumes", 16) - split.get("val", 0) - split.get("test", 0)
        per = data.get("slices", {}).get("train", 1)
        total += volumes * (synthetic.get("slices", 1) if per == "all" else per)
    return max(total, 1)


def setup(config, group, prior_name, device, steps):
    """Options, fresh state and random [0, 1] training/validation images of one prior."""
    size = int(config["image_size"])
    prior = dict(config["priors"][prior_name])
    options = resolve_options(prior, config.get("networks", {}), config.get("training", {}), size, 1)
    options["training"]["steps"] = steps
    options["training"]["checkpoint_every"] = steps + 1
    g = torch.Generator().manual_seed(0)
    images = torch.rand(group_train_images(config, group), 1, size, size, generator=g)
    val = torch.rand(options["training"]["eval_images"], 1, size, size, generator=g)
    return options, make_state(options, device), images, val


def measure(config, group, prior_name, device, window, warmup):
    """Per-step seconds of the real training loop; median and mean steps/s over the window."""
    options, state, images, val = setup(config, group, prior_name, device, warmup + window)
    stamps = []

    def stamp():
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append((time.perf_counter(), time.process_time()))
        return False

    stamp()
    train(state, images, val, should_stop=stamp, progress=False)
    seconds = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])][warmup:]
    cpu = [b[1] - a[1] for a, b in zip(stamps, stamps[1:])][warmup:]
    training = options["training"]
    return {"prior": f"{group}:{prior_name}", "sampler": options["sampler"], "batch": training["batch"],
            "window_steps": len(seconds), "eval_every": training["eval_every"],
            "log_every": training["log_every"],
            "median_steps_per_s": 1 / statistics.median(seconds),
            "mean_steps_per_s": len(seconds) / sum(seconds),
            "median_seconds_per_step": statistics.median(seconds),
            "quartile_seconds_per_step": statistics.quantiles(seconds, n=4)[::2],
            # CPU time of this process per step: what the step costs when it has a core to itself
            # (wall time above also counts waiting for a core on a loaded machine).
            "median_cpu_seconds_per_step": statistics.median(cpu),
            "steps_per_cpu_s": len(cpu) / sum(cpu)}


def profile(config, group, prior_name, device, steps, warmup):
    """Text summary of ``steps`` training steps: torch.profiler operators and cProfile functions."""
    options, state, images, _ = setup(config, group, prior_name, device, warmup + steps)
    objective = EDMLoss(state["prior"].precond, options["training"]["uncertainty"])
    for _ in range(warmup):
        train_step(objective, state, images)
    start = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            train_step(objective, state, images)
    profiled_ms = (time.perf_counter() - start) / steps * 1e3
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(steps):
        train_step(objective, state, images)
    profiler.disable()
    cprofiled_ms = (time.perf_counter() - start) / steps * 1e3
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        train_step(objective, state, images)
    plain_ms = (time.perf_counter() - start) / steps * 1e3
    cpu_ms = (time.process_time() - start_cpu) / steps * 1e3
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(25)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
    return (f"=== {group}:{prior_name}  sampler {options['sampler']}\n"
            f"{plain_ms:.1f} ms per train_step without a profiler ({cpu_ms:.1f} ms of CPU time; mean of {steps} "
            f"steps after {warmup} warm-up); {profiled_ms:.1f} ms under torch.profiler, {cprofiled_ms:.1f} ms "
            f"under cProfile (wall times)\n\n"
            f"--- torch.profiler, operators by self CPU time ({steps} steps)\n{table}\n"
            f"--- cProfile, functions by own time ({steps} steps)\n"
            + "\n".join(stream.getvalue().strip().splitlines()[:40]) + "\n\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=["config.yaml"])
    parser.add_argument("--priors", nargs="+", default=list(DEFAULT_PRIORS), help="GROUP:PRIOR names")
    parser.add_argument("--window", type=int, default=100, help="timed steps per prior")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", default=None, help="write a profile summary here instead")
    parser.add_argument("--profile-steps", type=int, default=10)
    parser.add_argument("--note", default="", help="free text stored with the result (e.g. machine load)")
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = merged_config(args.config)
    pairs = [p.split(":", 1) for p in args.priors]
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    header = (f"torch {torch.__version__}, {device}, {args.threads} thread(s), {platform.machine()}; "
              f"load average {load} at start; {args.note}\n\n")
    if args.profile:
        text = header + "".join(profile(config, g, p, device, args.profile_steps, args.warmup) for g, p in pairs)
        write_text(Path(args.profile), text)
        print(text)
        return
    rows = []
    for group, name in pairs:
        rows.append(measure(config, group, name, device, args.window, args.warmup))
        row = rows[-1]
        print(f"{row['prior']:>10}: median {row['median_steps_per_s']:.2f} steps/s, "
              f"mean {row['mean_steps_per_s']:.2f} steps/s over {row['window_steps']} steps; "
              f"{row['steps_per_cpu_s']:.2f} steps per CPU-second", flush=True)
    record = {"config": args.config, "device": str(device), "threads": args.threads, "torch": torch.__version__,
              "machine": platform.machine(), "note": args.note,
              "load_average_at_start": load,
              "results": rows}
    write_text(Path(args.out), json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
