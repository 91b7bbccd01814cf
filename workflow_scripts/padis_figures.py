"""Rule padis_figure: PaDIS reconstructions, PSNR vs patch size, PSNR vs training-set size."""

import numpy as np
import pandas as pd
import torch

from patchcore.inverse import metrics

from patchcore.experiments import padis as padis_tables
from patchcore.figures import padis as figures
from patchcore.io.atomic import atomic_path
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
kind, spec = sm.params.kind, sm.params.spec


def psnr(x, gt):
    return float(metrics.psnr(torch.from_numpy(x), torch.from_numpy(gt))[0])


if kind == "recons":
    fig_spec = spec["figure"]
    image = int(fig_spec.get("image", 0))
    kept = dict(zip([(t, m) for t, m, _ in padis_tables.figure_cells(spec)], map(np.load, sm.input.recons)))
    panels, values = [], []
    for task in fig_spec["tasks"]:
        first = kept[(task, fig_spec["methods"][0])]
        if image >= first.shape[0]:
            raise ValueError(f"padis.figure.image = {image}, but the cells keep only {first.shape[0]} images "
                             f"(evaluation.keep)")
        gt, fbp = first[image, 0], first[image, 1]
        row = [fbp] + [kept[(task, m)][image, 2] for m in fig_spec["methods"]] + [gt]
        panels.append(row)
        values.append([psnr(x, gt) for x in row[:-1]] + [None])
    rows = [f"{sm.config['tasks'][t].get('n_angles', t[2:])} views" if t.startswith("ct") else t
            for t in fig_spec["tasks"]]
    fig = figures.reconstructions(panels, rows,
                                  ["baseline (FBP)", *fig_spec["methods"], "ground truth"], values)
elif kind == "patchsize":
    table = pd.read_csv(sm.input.table)
    fig = figures.psnr_vs_patch_size(table, int(sm.config["image_size"]))
elif kind == "datasize":
    table = pd.read_csv(sm.input.table, dtype={"train_images": str})
    fig = figures.psnr_vs_training_size(table)
else:
    raise ValueError(f"padis figures: unknown kind {kind!r}")
for key in ("png", "pdf"):
    with atomic_path(sm.output[key]) as tmp:
        fig.savefig(tmp, dpi=150)
log.info("wrote %s", list(sm.output))
