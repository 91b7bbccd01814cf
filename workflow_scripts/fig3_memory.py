"""Rule fig3_memory: peak memory vs inference patch size."""

import json

import pandas as pd

from patchcore.figures.paper import fig3_memory
from patchcore.io.atomic import atomic_path
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
table = pd.read_csv(sm.input.csv)
about = json.loads(open(sm.input.method).read())
method = (f"{about['device']}, {about['memory_method'].split(':')[0]}, one fresh process per point "
          f"(the full method: results/memory.json)")
log.info("%d points; %s", len(table), method)
fig = fig3_memory(table, method)
for key in ("png", "pdf"):
    with atomic_path(sm.output[key]) as tmp:
        fig.savefig(tmp, dpi=150)
log.info("wrote %s", ", ".join(sm.output))
