# Helpers of the posterior-uncertainty and larger-than-training studies (issue 14):
# rules/uncertainty.smk and rules/resolution.smk. Named functions only, no rule.


def _beyond_reference_errors():
    """Names in config['uncertainty'] and config['resolution'] that config does not define."""
    errors = []
    for block in ("uncertainty", "resolution"):
        spec = config.get(block)
        if not spec:
            continue
        schemes = spec["cells"]["schemes"] if block == "uncertainty" else spec["methods"].values()
        solvers = spec["cells"]["solvers"] if block == "uncertainty" else [spec["solver"]]
        named = [("datasets", spec["dataset"]), ("tasks", spec["task"])] + [("solvers", s) for s in solvers]
        for key, value in named:
            if value not in config[key]:
                errors.append(f"{block}: {key[:-1]} '{value}' is not defined under '{key}'")
        for scheme in schemes:
            try:
                prior_preset(scheme["prior"])
            except Exception:
                errors.append(f"{block}: prior '{scheme['prior']}' is not defined under 'priors'")
    return errors


if _beyond_reference_errors():
    raise WorkflowError("config: " + "; ".join(_beyond_reference_errors()))


# ---- posterior uncertainty (uncertainty.smk) -----------------------------------------------


def uncertainty_cells():
    """The cells of config['uncertainty'] as dicts (dataset, task, solver, prior, infer, pad)."""
    u = config["uncertainty"]
    return [
        {
            "dataset": u["dataset"],
            "task": u["task"],
            "solver": solver,
            "prior": s["prior"],
            "infer": str(s["infer"]),
            "pad": s["pad"],
        }
        for solver in u["cells"]["solvers"]
        for s in u["cells"]["schemes"]
    ]


def uncertainty_stem(cell):
    return (
        "results/uncertainty/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}".format(**cell)
        + f"-k{config['uncertainty']['samples']}"
    )


def uncertainty_files(ext):
    """One file per uncertainty cell (``ext``: csv, recons.npy, posterior.npy)."""
    return [f"{uncertainty_stem(c)}.{ext}" for c in uncertainty_cells()]


def posterior_cell_options(wildcards):
    """A grid cell's options (same seed as the cell) with K samples and the study's images."""
    options = cell_options(wildcards)
    options["evaluation"] = {
        **options["evaluation"],
        "samples": int(wildcards.samples),
        "images": config["uncertainty"]["images"],
    }
    return options


def uncertainty_about():
    u = config["uncertainty"]
    return (
        f"{u['dataset']}, {u['task']}, K = {u['samples']} samples per measurement, "
        f"{u['images']} {config['evaluation']['split']} images of {config['image_size']} px"
    )


# ---- larger than training (resolution.smk) ---------------------------------------------------


def resolution_points():
    """``(method, size, cell)`` of every point of config['resolution']."""
    r = config["resolution"]
    return [
        (
            name,
            int(size),
            {
                "dataset": r["dataset"],
                "task": r["task"],
                "solver": r["solver"],
                "prior": m["prior"],
                "infer": str(m["infer"]),
                "pad": m["pad"],
            },
        )
        for size in r["sizes"]
        for name, m in r["methods"].items()
    ]


def resolution_stem(size, cell):
    return "results/resolution/cells/{dataset}-{size}/{task}/{solver}/{prior}/{infer}-{pad}".format(size=size, **cell)


def resolution_cells(wildcards):
    return [f"{resolution_stem(size, cell)}.csv" for _, size, cell in resolution_points()]


def resolution_memory_files(wildcards):
    return [
        f"results/resolution/memory/{cell['dataset']}-{size}/{cell['prior']}/{cell['infer']}.json"
        for _, size, cell in resolution_points()
    ]


def resolution_dataset_entry(wildcards):
    from patchcore.experiments.resolution import resolution_entry

    r = config["resolution"]
    return resolution_entry(
        config["datasets"][wildcards.dataset], config["image_size"], int(wildcards.size), r["synthetic"], r["images"]
    )


def resolution_synthetic(wildcards):
    return resolution_dataset_entry(wildcards)["synthetic"]


def resolution_cell_options(wildcards):
    """A grid cell's options (same seed as the 64-px cell) on the resolution images."""
    options = cell_options(wildcards)
    options["evaluation"] = {**options["evaluation"], "images": config["resolution"]["images"], "keep": 1}
    return options


def resolution_memory_point(wildcards):
    return {
        "size": int(wildcards.size),
        "infer": wildcards.infer,
        "micro_batch": config["evaluation"].get("micro_batch"),
        "nfe": config["resolution"]["memory_nfe"],
    }


def resolution_labels(wildcards):
    """Method name, image size and cell of every point, in table order."""
    return [{"method": name, "image_size": size, **cell} for name, size, cell in resolution_points()]


def resolution_about():
    r = config["resolution"]
    return (
        f"{r['dataset']}, {r['task']}, {r['solver']} ({solver_nfe(r['solver'], config['solvers'][r['solver']])} NFE), "
        f"priors trained on {config['image_size']} px, {r['images']} test images per size"
    )


def resolution_recons(wildcards):
    return [f"{resolution_stem(size, cell)}.npy" for _, size, cell in resolution_points()]


def resolution_image_size(wildcards):
    return int(wildcards.size)
