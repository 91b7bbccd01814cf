"""Rule padis_table: aggregate the PaDIS cells into one of the paper's tables (CSV and Markdown)."""

import pandas as pd

from patchcore.experiments import padis as padis_tables
from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
p = sm.params.table
per_image = pd.concat([pd.read_csv(f) for f in sm.input.cells], ignore_index=True)
train_size = None
if "data" in sm.input.keys():
    from patchcore.io.prepared import read_split

    train_size = int(read_split(sm.input.data, "train").shape[0])
table = padis_tables.build(per_image, p["spec"], p["kind"], image_size=p["image_size"], train_size=train_size)
log.info("%s table from %d cells:\n%s", p["kind"], len(sm.input.cells), table.to_string())
write_text(sm.output.md, padis_tables.render(table, p["kind"], p["description"]))
write_text(sm.output.csv, table.to_csv(index=False, float_format="%.4f"))
