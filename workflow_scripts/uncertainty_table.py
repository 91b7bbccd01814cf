"""Rule uncertainty_table: calibration of every posterior cell (coverage of mean +- z std,
correlation of std with |error|) as CSV and Markdown."""

import numpy as np
import pandas as pd

from patchcore.experiments.posterior import calibration_markdown, calibration_row
from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
rows = []
for cell, metrics, recons, post in zip(sm.params.cells, sm.input.metrics, sm.input.recons, sm.input.posterior):
    rec, std = np.load(recons), np.load(post)
    per_image = pd.read_csv(metrics).to_dict("records")
    row = calibration_row(rec[:, 0], rec[:, 2], std[:, 0], per_image, tuple(sm.params.zs))
    rows.append({**{k: cell[k] for k in ("dataset", "task", "solver", "prior", "infer", "pad")},
                 "images": len(per_image), **row})
    log.info("%s: coverage z=1 %.3f, corr %.3f (%s)", metrics, row["coverage_z1"], row["corr_std_error"],
             row["verdict"])
table = pd.DataFrame(rows)
write_text(sm.output.md, calibration_markdown(table, sm.params.about))
write_text(sm.output.csv, table.to_csv(index=False, float_format="%.6f"))
