"""Rule resolution_figure: PSNR, memory and time against image size, and one image per method
at the largest size."""

import numpy as np
import pandas as pd

from patchcore.figures.resolution import resolution
from patchcore.io.atomic import atomic_path
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
table = pd.read_csv(sm.input.table)
largest = max(label["image_size"] for label in sm.params.labels)
panels, labels = [], []
for label, path in zip(sm.params.labels, sm.input.recons):
    if label["image_size"] != largest:
        continue
    kept = np.load(path)[0]  # (ground truth, baseline, reconstruction) of the first image
    if not panels:
        panels += [kept[0], kept[1]]
        labels += ["truth", "baseline"]
    panels.append(kept[2])
    labels.append(label["method"])
fig = resolution(table, panels, labels, f"Priors on larger images ({sm.params.about}); "
                 f"images at {largest} px")
for out, fmt in ((sm.output.png, "png"), (sm.output.pdf, "pdf")):
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=130, format=fmt)
log.info("wrote %s", sm.output.png)
