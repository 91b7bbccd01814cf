"""Rule uncertainty_figures: truth / mean / std / |error| maps of one image per cell, and the
reliability plot (coverage against z, with the Gaussian ideal)."""

import numpy as np

from patchcore.experiments.posterior import reliability_curve
from patchcore.figures import uncertainty as figures
from patchcore.io.atomic import atomic_path
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
spec = sm.params.figure
image = int(spec.get("image", 0))
maps, labels, curves = [], [], {}
for cell, recons, post in zip(sm.params.cells, sm.input.recons, sm.input.posterior):
    rec, std = np.load(recons), np.load(post)
    if image >= rec.shape[0]:
        raise ValueError(f"{recons}: uncertainty.figure.image = {image}, but the cell has {rec.shape[0]} images")
    label = f"{cell['solver']}, {cell['prior']} prior, {cell['infer']}"
    maps.append((rec[image, 0], rec[image, 2], std[image, 0]))
    labels.append(label)
    # Over the pixels where the samples differ (the verdict's basis; clipped air left out).
    curves[label] = reliability_curve(rec[:, 0], rec[:, 2], std[:, 0], spec["reliability_zs"], spread=True)
for fig, out in ((figures.uncertainty_maps(maps, labels), sm.output.maps),
                 (figures.reliability(curves, spec["reliability_zs"]), sm.output.reliability)):
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    log.info("wrote %s", out)
