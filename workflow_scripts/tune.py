"""Rule tune: mean validation PSNR of every setting of one solver's search grid."""

from pathlib import Path

import pandas as pd
import torch

from patchcore.device import select_device
from patchcore.experiments.cell import run_cell
from patchcore.io.atomic import write_text
from patchcore.io.checkpoint import load_prior
from patchcore.io.logs import script_logger
from patchcore.io.prepared import read_split
from patchcore.experiments.tuning import settings

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
torch.set_num_threads(sm.threads)
p = sm.params.tuning
device = select_device()
prior = load_prior(Path(sm.input.prior).parent, device).eval() if sm.input.get("prior") else None
images = read_split(sm.input.data, "val")[: p["options"]["evaluation"]["images"]]
rows = []
for setting in settings(p["grid"]):
    options = dict(p["options"], solver_options={**p["options"]["solver_options"], **setting})
    metrics, _ = run_cell(prior, images, p["cell"], options, device=device)
    df = pd.DataFrame(metrics)
    key = ",".join(f"{k}={v}" for k, v in setting.items())
    rows.append({**{a: p["cell"][a] for a in ("dataset", "task", "solver")}, "setting": key, **setting,
                 "psnr": df.psnr.mean(), "baseline_psnr": df.baseline_psnr.mean()})
    log.info("%s: PSNR %.2f (baseline %.2f)", key, rows[-1]["psnr"], rows[-1]["baseline_psnr"])
write_text(sm.output[0], pd.DataFrame(rows).to_csv(index=False, float_format="%.4f"))
