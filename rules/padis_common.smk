# Helpers of the PaDIS rules (rules/padis.smk): which cells each table needs, descriptions.
from patchcore.experiments import padis as padis_tables

PADIS_TABLES = {"main": "main", "patchsize": "patch_size", "position": "position", "datasize": "datasize"}
PADIS_FIGURES = ("recons", "patchsize", "datasize")


if "padis" in config:
    _padis_errors = padis_tables.check_spec(config["padis"], config)
    if _padis_errors:
        raise WorkflowError("config: " + "; ".join(_padis_errors))


def padis_spec():
    if "padis" not in config:
        raise WorkflowError("config: no 'padis' block; the PaDIS tables need one (see config.yaml)")
    return config["padis"]


def padis_cells(kind, ext="csv"):
    """Cell files of one PaDIS table (``kind`` a key of PADIS_TABLES)."""
    return [f"{grid.cell_stem(c)}.{ext}" for c in padis_tables.table_cells(padis_spec(), PADIS_TABLES[kind])]


def padis_figure_cells():
    return [f"{grid.cell_stem(c)}.npy" for _, _, c in padis_tables.figure_cells(padis_spec())]


def padis_description():
    """What the numbers are: dataset, images, split, image size, NFE per method."""
    spec = padis_spec()
    ev = evaluation_options(spec["dataset"])
    methods = dict(spec["methods"])
    for name, ref in spec["position"]["rows"].items():
        if isinstance(ref, dict):
            methods[name] = ref
    nfe = {name: solver_nfe(m["solver"], config["solvers"][m["solver"]]) for name, m in methods.items()}
    return {
        "dataset": spec["dataset"],
        "images": ev["images"],
        "split": ev["split"],
        "image_size": config["image_size"],
        "nfe": nfe,
    }


def padis_table_input(wildcards):
    """The inputs of a padis_table job: the table's cell files (and the prepared data for
    the training-set size of the data-size table's "all" row)."""
    kind = wildcards.table
    files = {"cells": padis_cells(kind)}
    if kind == "datasize":
        files["data"] = f"results/prepared/{padis_spec()['dataset']}.h5"
    return files


def padis_table_params(wildcards):
    """The params of a padis_table job: which table, the spec, the evaluation description."""
    return {
        "kind": PADIS_TABLES[wildcards.table],
        "spec": padis_spec(),
        "description": padis_description(),
        "image_size": config["image_size"],
    }


def padis_figure_input(wildcards):
    """The inputs of a padis_figure job: the kept reconstructions (recons) or the table a
    figure plots (patchsize, datasize)."""
    if wildcards.figure == "recons":
        return {"recons": padis_figure_cells()}
    return {"table": f"results/padis/table_{wildcards.figure}.csv"}


def padis_figure_spec(wildcards):
    return padis_spec()


def padis_outputs():
    tables = [f"results/padis/table_{k}.{ext}" for k in PADIS_TABLES for ext in ("csv", "md")]
    figures = [f"results/figures/padis/{f}.{ext}" for f in PADIS_FIGURES for ext in ("png", "pdf")]
    return tables + figures
