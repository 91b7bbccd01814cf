"""Rule fig1_padding: zero vs reflection padding, with the edge-artifact measure."""

import numpy as np
import pandas as pd
import torch

from patchcore.experiments.analysis import edge_artifact
from patchcore.figures.paper import fig1_padding
from patchcore.io.atomic import atomic_path, write_text
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
spec = sm.params.spec
recons, rows = {}, []
for path in sm.input.recons:
    pad = path.rsplit("-", 1)[1].removesuffix(".npy")
    kept = np.load(path)
    recons[pad] = kept
    m = edge_artifact(torch.from_numpy(kept[:, 2]), torch.from_numpy(kept[:, 0]), band=max(2, kept.shape[-1] // 16))
    rows.append({"cell": path, "pad": pad, "images": kept.shape[0], **m})
    log.info("%s: %d images, border/interior RMSE ratio %.3f", path, kept.shape[0], m["ratio"])
table = pd.DataFrame(rows)
measures = {r["pad"]: r for r in rows}
fig = fig1_padding(recons, measures, sm.params.context)
for key in ("png", "pdf"):
    with atomic_path(sm.output[key]) as tmp:
        fig.savefig(tmp, dpi=150)
write_text(sm.output.csv, table.to_csv(index=False, float_format="%.5f"))
log.info("wrote %s", ", ".join(sm.output))
