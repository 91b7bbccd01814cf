"""Rule diagnosis_tiles: held-out denoising of the Table 1 priors on tiles vs whole images.

Load the priors and the evaluation images of the Table 1 datasets, run
:func:`patchcore.experiments.analysis.diagnose_tiles`, write the table and the figure atomically.
"""

import pandas as pd
import torch

from patchcore.experiments.analysis import diagnose_tiles
from patchcore.figures.diagnosis import diagnosis_figure
from patchcore.io.atomic import atomic_path, write_text
from patchcore.io.checkpoint import load_prior
from patchcore.io.logs import script_logger
from patchcore.io.prepared import read_split


def main(sm):
    log = script_logger(sm.log[0])
    torch.set_num_threads(sm.threads)
    spec = sm.params.spec
    priors = {name: load_prior(str(sm.input[name]).rsplit("/", 1)[0]) for name in spec["priors"]}
    images = torch.cat([read_split(path, spec["split"])[: spec["images"][d]]
                        for d, path in zip(spec["datasets"], sm.input.data)]).float()
    log.info("%d %s images of %s; priors %s; sigmas %s; tiles %s", len(images), spec["split"],
             spec["datasets"], list(priors), spec["sigmas"], spec["tiles"])
    rows, examples = diagnose_tiles(priors, images, spec["sigmas"], spec["tiles"], spec["pads"],
                                    spec["task_sigma"], seed=spec["seed"])
    table = pd.DataFrame(rows)
    fig = diagnosis_figure(table, examples, spec["task_sigma"])
    with atomic_path(sm.output.png) as tmp:
        fig.savefig(tmp, dpi=130)
    write_text(sm.output.csv, table.to_csv(index=False, float_format="%.5f"))
    log.info("wrote %s (%d rows)", sm.output.csv, len(table))


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
