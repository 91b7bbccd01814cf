"""Rule tuning: the best validation setting per (task, solver), as config `tuned:` entries."""

import pandas as pd
import yaml

from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger
from patchcore.experiments.tuning import best_settings, tuned_block

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
results = pd.concat([pd.read_csv(f) for f in sm.input], ignore_index=True)
best = best_settings(results)
text = ("# Best validation settings (mean PSNR over datasets); copy under solvers.<name>.tuned\n"
        + yaml.safe_dump(tuned_block(best, results), sort_keys=True)
        + "# Validation PSNR of these settings (task baseline on the same images):\n"
        + "".join(f"#   {r.solver} {r.task} {r.setting}: {r.psnr:.2f} dB ({r.baseline_psnr:.2f} dB)\n"
                  for r in best.itertuples()))
log.info("%d searches, %d settings; best per (solver, task):\n%s", len(sm.input), len(results),
         best.to_string(index=False))
write_text(sm.output[0], text)
