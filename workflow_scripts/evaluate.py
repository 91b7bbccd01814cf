"""Rule evaluate: one grid cell. Load the prior and the images, run the cell, save atomically."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from patchcore.device import select_device
from patchcore.experiments.cell import run_cell
from patchcore.experiments.posterior import run_posterior_cell
from patchcore.io.atomic import atomic_path, write_text
from patchcore.io.checkpoint import load_prior
from patchcore.io.logs import script_logger
from patchcore.io.prepared import read_split

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
torch.set_num_threads(sm.threads)
torch.use_deterministic_algorithms(True, warn_only=True)

options = sm.params.options
cell = {k: options[k] for k in ("dataset", "task", "solver", "prior", "infer", "pad")}
device = select_device()
log.info("cell %s on %s", cell, device)

prior = load_prior(Path(sm.input.prior).parent, device).eval() if sm.input.get("prior") else None
images = read_split(sm.input.data, options["evaluation"]["split"])[: options["evaluation"]["images"]]
progress = lambda i, n: log.info("image %d/%d done", i, n)  # noqa: E731
if sm.output.get("posterior"):  # rule evaluate_posterior: K samples per measurement (issue 14)
    rows, recons, posterior = run_posterior_cell(prior, images, cell, options, device=device, progress=progress)
    with atomic_path(sm.output.posterior) as tmp:  # per image: per-pixel std, sample 0
        np.save(tmp, posterior.numpy().astype(np.float32))
else:
    rows, recons = run_cell(prior, images, cell, options, device=device, progress=progress)

table = pd.DataFrame(rows)
for key, value in cell.items():
    table.insert(0, key, value)
# Every reconstruction (LPIPS is scored from them by rule lpips); the first `keep` for figures.
with atomic_path(sm.output.recons) as tmp:
    np.save(tmp, recons.numpy().astype(np.float32))
with atomic_path(sm.output.recon) as tmp:
    np.save(tmp, recons[: options["evaluation"]["keep"]].numpy().astype(np.float32))
write_text(sm.output.options, json.dumps(options, indent=2, sort_keys=True) + "\n")
# The metrics file last: it is the cell's marker of completion.
write_text(sm.output.metrics, table.to_csv(index=False, float_format="%.6f"))
log.info("PSNR %.2f dB (baseline %.2f dB)", table.psnr.mean(), table.baseline_psnr.mean())
