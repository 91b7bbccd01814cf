"""Rule lpips: LPIPS of one cell from its saved reconstructions (no re-solving).

The AlexNet weights file is an input where present, so placing it (make fetch-weights)
re-runs only this rule; without it every value is NaN and the log says how to fetch it.
"""

import numpy as np
import pandas as pd

from patchcore.experiments.cell import lpips_rows
from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger
from patchcore.inverse.metrics import FETCH_COMMAND

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
weights = sm.input.get("weights") or None
recons = np.load(sm.input.recons)
if weights is None:
    log.warning("LPIPS reported as NaN: no AlexNet weights file; fetch them with %s", FETCH_COMMAND)
else:
    log.info("LPIPS of %d images with AlexNet weights %s", recons.shape[0], weights)
table = pd.DataFrame(lpips_rows(recons, weights))
for key in ("pad", "infer", "prior", "solver", "task", "dataset"):
    table.insert(0, key, sm.wildcards[key])
write_text(sm.output[0], table.to_csv(index=False, float_format="%.6f"))
log.info("LPIPS mean %.4f (baseline %.4f)", table.lpips.mean(), table.baseline_lpips.mean())
