"""Rule scale_ladder: the papers' key contrasts at every rung of the scale ladder (CSV, Markdown)."""

import pandas as pd

from patchcore.experiments import ladder
from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
p = sm.params.ladder
per_rung = []
for name, rung in p["rungs"].items():
    per_image = pd.concat([pd.read_csv(f) for f in rung["cells"]], ignore_index=True)
    summary = ladder.rung_summary(rung["config"], p["spec"])
    per_rung.append((name, summary, ladder.contrasts(per_image, rung["config"], p["spec"], rung["contrasts"])))
    log.info("rung %s (%s): %d cells, %d images", name, summary, len(rung["cells"]), len(per_image))
table = ladder.ladder(per_rung)
log.info("ladder:\n%s", table.to_string())
write_text(sm.output.md, ladder.markdown(table))
write_text(sm.output.csv, table.to_csv(index=False, float_format="%.4f"))
