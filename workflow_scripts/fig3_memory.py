"""Rule fig3_memory: peak memory vs inference patch size."""

import pandas as pd

from patchcore.figures.paper import fig3_memory
from patchcore.io.atomic import atomic_path

sm = snakemake  # noqa: F821 (injected by Snakemake)
fig = fig3_memory(pd.read_csv(sm.input[0]))
for key in ("png", "pdf"):
    with atomic_path(sm.output[key]) as tmp:
        fig.savefig(tmp, dpi=150)
