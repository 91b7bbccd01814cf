"""Rule table1: aggregate the Table 1 cells (metrics and LPIPS) into the paper's layout
(CSV, Markdown and an HTML page for the report)."""

import pandas as pd

from patchcore.experiments import tables
from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
per_image = pd.concat([pd.read_csv(f) for f in sm.input.cells], ignore_index=True)
lpips = pd.concat([pd.read_csv(f) for f in sm.input.lpips], ignore_index=True)
per_image = tables.attach_lpips(per_image, lpips)
log.info("%d cells, %d images; LPIPS scored for %d of them", len(sm.input.cells), len(per_image),
         int(per_image["lpips"].notna().sum()))
table = tables.table1(per_image, sm.config["tables"]["table1"])
log.info("Table 1:\n%s", table.to_string())
write_text(sm.output.md, tables.table1_markdown(table, sm.params.evaluation))
write_text(sm.output.html, tables.table1_html(table, sm.params.evaluation))
write_text(sm.output.csv, table.to_csv(index=False, float_format="%.4f"))
