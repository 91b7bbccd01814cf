"""Rule table1: aggregate the Table 1 cells into the paper's layout (CSV and Markdown)."""

import pandas as pd

from patchcore import tables
from patchcore.io.atomic import write_text

sm = snakemake  # noqa: F821 (injected by Snakemake)
per_image = pd.concat([pd.read_csv(f) for f in sm.input.cells], ignore_index=True)
table = tables.table1(per_image, sm.config["tables"]["table1"])
write_text(sm.output.md, tables.table1_markdown(table, sm.params.evaluation))
write_text(sm.output.csv, table.to_csv(index=False, float_format="%.4f"))
