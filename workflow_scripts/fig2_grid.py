"""Rule fig2_grid: ground truth, task baseline and reconstructions for each task, with PSNR."""

import numpy as np

from patchcore.figures.paper import fig2_grid
from patchcore.io.atomic import atomic_path
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
sel = sm.params.selection
n_cols = len(sel["columns"])
panels, files = [], list(sm.input.recons)
for r, task in enumerate(sel["tasks"]):
    row = [np.load(f) for f in files[r * n_cols : (r + 1) * n_cols]]
    panels.append([row[0][0, 0], row[0][0, 1]] + [k[0, 2] for k in row])
    log.info("%s: image 0 of %s", task, ", ".join(files[r * n_cols : (r + 1) * n_cols]))
fig = fig2_grid(panels, [f"{sel['dataset']} {t}" for t in sel["tasks"]],
                ["ground truth", "task baseline"] + sel["columns"], baseline_labels=sel["baselines"])
fig.suptitle(f"{sel['solver']}: whole-image vs patch-trained priors, whole vs patch inference "
             f"(PSNR against the ground truth in each panel)", fontsize=9)
fig.tight_layout(rect=(0, 0, 1, 0.93), h_pad=1.6)
for key in ("png", "pdf"):
    with atomic_path(sm.output[key]) as tmp:
        fig.savefig(tmp, dpi=150)
log.info("wrote %s", ", ".join(sm.output))
