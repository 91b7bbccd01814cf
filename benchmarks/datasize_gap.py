"""Generalisation gap of the data-size ablation's priors: denoising error on their own
training images vs on held-out images.

A data-size effect (PaDIS Table 4: the patch prior degrades less than the whole-image prior
when the training set shrinks) needs priors that fit their training images better than unseen
ones. This measures that gap for every ``<preset>-n<N>`` prior of a group and its all-data
counterpart, with the training code's own held-out measure (patchcore.priors.training), so the
data-size table can be read against it.

Run after the priors exist (e.g. after ``snakemake padis``):
    python benchmarks/datasize_gap.py [--group ct] [--out benchmarks/results/datasize_gap.json]
"""

import argparse
import json
import re
from pathlib import Path

import torch

from patchcore.io.atomic import write_text
from patchcore.io.checkpoint import load_prior
from patchcore.io.prepared import read_split
from patchcore.priors.training import heldout_mse, select_training_images

SIGMAS = [0.01, 0.05, 0.2, 0.5]
IMAGES = 24          # images per set: the smallest training subset of the ablation


def mean_nmse(prior, images, seed):
    """Mean over SIGMAS of the EDM-weighted denoising error (the training log's ``val_nmse``)."""
    result = heldout_mse(prior, images, SIGMAS, seed)
    return sum(nmse for _, nmse in result.values()) / len(result)


def measure(prior_dir, train_all, val, images):
    """Training-set and held-out error of one exported prior; its own training subset first."""
    options = json.loads((prior_dir / "options.json").read_text())["options"]
    count = options.get("train_images")
    seed = options["training"]["seed"]
    own = select_training_images(train_all, count, seed)
    prior = load_prior(prior_dir)
    with torch.no_grad():
        fit = mean_nmse(prior, own[:images], seed)
        held = mean_nmse(prior, val[:images], seed)
    return {"prior": prior_dir.name, "train_images": count or train_all.shape[0],
            "train_nmse": fit, "heldout_nmse": held, "gap": held - fit}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default="ct")
    parser.add_argument("--results", default="results")
    parser.add_argument("--out", default="benchmarks/results/datasize_gap.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    prepared = Path(args.results) / "prepared" / f"{args.group}.h5"
    train_all = read_split(prepared, "train").float()
    val = torch.cat([read_split(prepared, "val"), read_split(prepared, "test")]).float()
    images = min(IMAGES, val.shape[0])
    rows = []
    for prior_dir in sorted((Path(args.results) / "priors" / args.group).iterdir()):
        base = re.sub(r"-n\d+$", "", prior_dir.name)
        if not (prior_dir / "model.safetensors").exists() or base not in {"padis", "whole"}:
            continue
        rows.append(measure(prior_dir, train_all, val, images))
        print("{prior:>14}  n={train_images:<4} train {train_nmse:.4f}  held-out {heldout_nmse:.4f}"
              "  gap {gap:+.4f}".format(**rows[-1]))
    write_text(args.out, json.dumps({"group": args.group, "sigmas": SIGMAS, "images": images,
                                     "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
