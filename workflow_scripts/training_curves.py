"""Rule training_curves: the training curves of every prior trained so far, in one figure."""

from pathlib import Path

import pandas as pd

from patchcore.figures.training import training_overview
from patchcore.io.atomic import atomic_path
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
histories = {}
for path in sm.input:
    prior_dir = Path(path).parent
    histories[f"{prior_dir.parent.name}/{prior_dir.name}"] = pd.read_csv(path)
log.info("training curves of %d priors: %s", len(histories), ", ".join(histories))
fig = training_overview(histories)
with atomic_path(sm.output[0]) as tmp:
    fig.savefig(tmp, dpi=130)
