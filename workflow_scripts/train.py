"""Rule train: train one prior of a dataset group; resumable, optionally distributed.

Run by Snakemake (``script:``) or by hand / torchrun with ``--spec spec.json`` where the spec
holds what the rule passes: ``inputs`` (prepared HDF5 files), ``outdir``, ``log``, ``prior``
(the preset dict), ``networks``, ``training`` (named presets), ``threads``, ``gpus``.

Checkpoints go to ``{outdir}/checkpoints/`` (not a declared output, so they survive a killed
job); a rerun resumes from the newest one. SIGTERM (Slurm's time limit, ``kill``) saves a
checkpoint at the current step and exits with status 143. With ``gpus > 1`` the script
relaunches itself under ``torch.distributed.run`` (one process per GPU; gloo on CPU).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist

from patchcore.device import select_device
from patchcore.figures.training import training_figure
from patchcore.io.atomic import atomic_path, write_text
from patchcore.io.checkpoint import export_prior, files_sha256, resume, save_checkpoint, set_aside
from patchcore.io.logs import script_logger
from patchcore.io.prepared import read_group
from patchcore.io.signals import sigterm_flag
from patchcore.priors.training import describe, make_state, resolve_options, select_training_images, train


def setup_distributed():
    """Join the process group when launched by torchrun with several processes; (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if world > 1 and torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def write_outputs(outdir, state, options, data_hash):
    """Final model.safetensors, options.json, training.csv and training.png (atomically)."""
    history = pd.DataFrame(state["history"])
    with atomic_path(outdir / "training.png") as tmp:
        fig = training_figure(history)
        fig.savefig(tmp, dpi=120)
    write_text(outdir / "training.csv", history.to_csv(index=False, float_format="%.6g"))
    export_prior(outdir, state["ema"].module, options, state["step"], data_hash)


def main(spec):
    outdir = Path(spec["outdir"])
    rank, world = setup_distributed()
    log = script_logger(spec["log"]) if rank == 0 else None
    torch.set_num_threads(int(spec.get("threads", 1)))
    device = select_device()
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())

    train_images = read_group(spec["inputs"], "train")
    val_images = read_group(spec["inputs"], "val")
    options = resolve_options(spec["prior"], spec.get("networks", {}), spec.get("training", {}),
                              train_images.shape[-1], train_images.shape[1])
    options["data_sha256"] = files_sha256(spec["inputs"])  # a checkpoint of other data is not resumed
    train_images = select_training_images(train_images, options["train_images"], options["training"]["seed"])
    state = make_state(options, device)
    checkpoints = outdir / "checkpoints"
    resumed, stale = resume(checkpoints, state)  # options changed since the checkpoint: start afresh
    if world > 1:
        dist.barrier()  # every rank has read the checkpoint before rank 0 moves it
    if stale is not None and rank == 0:
        set_aside(checkpoints)
        log.warning("%s; moved to checkpoints-stale, starting afresh", stale)
    if log:
        log.info("%s; %d training / %d held-out images on %s x %d; %s", describe(state),
                 len(train_images), len(val_images), device, world,
                 f"resumed at step {state['step']}" if resumed else "fresh start")
    # SIGTERM: finish the current step, save a checkpoint, exit 143.
    train(state, train_images, val_images, on_checkpoint=lambda s: save_checkpoint(checkpoints, s),
          should_stop=sigterm_flag(), progress=spec.get("progress", True), log=log.info if log else None)
    if state["stopped"]:
        if log:
            log.info("stopped by SIGTERM at step %d; checkpoint saved, rerun to resume", state["step"])
        sys.exit(143)
    if rank == 0:
        write_outputs(outdir, state, options, options["data_sha256"])
        log.info("done: %d steps, held-out nmse %.4f", state["step"], state["history"][-1].get("val_nmse", float("nan")))
    if world > 1:
        dist.destroy_process_group()


def launch(spec, script):
    """Run :func:`main` here, or under torch.distributed.run with one process per GPU."""
    gpus = int(spec.get("gpus", 0) or 0)
    if gpus <= 1 or "LOCAL_RANK" in os.environ:
        return main(spec)
    spec_path = Path(spec["outdir"]) / "checkpoints" / "launch.json"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    write_text(spec_path, json.dumps(spec))
    with open(spec["log"], "a") as handle:
        code = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               f"--nproc_per_node={gpus}", str(script), "--spec", str(spec_path)],
                              stdout=handle, stderr=handle).returncode
    sys.exit(code)


if "snakemake" in globals():
    sm = snakemake  # noqa: F821 (injected by Snakemake)
    launch({**sm.params.spec, "inputs": list(sm.input.data), "outdir": str(Path(sm.output.model).parent),
            "log": sm.log[0], "threads": sm.threads, "gpus": sm.resources.get("gpu", 0)},
           Path(sm.scriptdir) / "train.py")
elif __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON file with the run's spec (see module docstring)")
    launch(json.loads(Path(parser.parse_args().spec).read_text()), Path(__file__).resolve())
