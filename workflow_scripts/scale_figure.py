"""Rule scale_figure: each contrast of the scale ladder against the rung, the paper's value as a line."""

import pandas as pd

from patchcore.figures.ladder import ladder_figure
from patchcore.io.atomic import atomic_path
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
table = pd.read_csv(sm.input[0])
fig = ladder_figure(table)
for out in (sm.output.png, sm.output.pdf):
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=150)
log.info("scale ladder figure: %d panels, %d rungs", table.drop_duplicates(["label", "dataset"]).shape[0],
         table["rung"].nunique())
