# Helpers of the posterior-uncertainty and larger-than-training studies (issue 14):
# rules/uncertainty.smk and rules/resolution.smk. Named functions only, no rule.
from types import SimpleNamespace


# ---- posterior uncertainty (uncertainty.smk) -----------------------------------------------


def uncertainty_cells():
    """The cells of config['uncertainty'] as dicts (dataset, task, solver, prior, infer, pad)."""
    u = config["uncertainty"]
    return [{"dataset": u["dataset"], "task": u["task"], "solver": solver, "prior": s["prior"],
             "infer": str(s["infer"]), "pad": s["pad"]}
            for solver in u["cells"]["solvers"] for s in u["cells"]["schemes"]]


def uncertainty_stem(cell):
    return ("results/uncertainty/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}".format(**cell)
            + f"-k{config['uncertainty']['samples']}")


def uncertainty_files(ext):
    """One file per uncertainty cell (``ext``: csv, recons.npy, posterior.npy)."""
    return [f"{uncertainty_stem(c)}.{ext}" for c in uncertainty_cells()]


def posterior_cell_options(wildcards):
    """A grid cell's options (same seed as the cell) with K samples and the study's images."""
    options = cell_options(wildcards)
    options["evaluation"] = {**options["evaluation"], "samples": int(wildcards.samples),
                             "images": config["uncertainty"]["images"]}
    return options


def uncertainty_about():
    u = config["uncertainty"]
    return (f"{u['dataset']}, {u['task']}, K = {u['samples']} samples per measurement, "
            f"{u['images']} {config['evaluation']['split']} images of {config['image_size']} px")
