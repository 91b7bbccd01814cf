# PaDIS (Hu et al. 2024): sparse-view CT main table and ablations (snakemake padis).
# The cells come from rule evaluate by path; the layout is config["padis"] (see config.yaml).
from patchcore import padis_tables

PADIS_TABLES = {"main": "main", "patchsize": "patch_size", "position": "position", "datasize": "datasize"}
PADIS_FIGURES = ("recons", "patchsize", "datasize")

if "padis" in config:
    _padis_errors = padis_tables.check_spec(config["padis"], config)
    if _padis_errors:
        raise WorkflowError("config: " + "; ".join(_padis_errors))


localrules:
    padis,
    padis_table_main,
    padis_table_patchsize,
    padis_table_position,
    padis_table_datasize,
    padis_fig_recons,
    padis_fig_patchsize,
    padis_fig_datasize,


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
    nfe = {name: solver_nfe(m["solver"], config["solvers"][m["solver"]])
           for name, m in methods.items()}
    return {"dataset": spec["dataset"], "images": ev["images"], "split": ev["split"],
            "image_size": config["image_size"], "nfe": nfe}


def padis_table_input(kind):
    """Input function of one table rule: its cell files (and the prepared data for the
    training-set size of the data-size table's "all" row)."""

    def cells(wildcards):
        files = {"cells": padis_cells(kind)}
        if kind == "datasize":
            files["data"] = f"results/prepared/{padis_spec()['dataset']}.h5"
        return files

    cells.__name__ = f"padis_{kind}_input"
    return cells


def padis_table_params(kind):
    """Params function of one table rule: which table, the spec, the evaluation description."""

    def params(wildcards):
        return {"kind": PADIS_TABLES[kind], "spec": padis_spec(), "description": padis_description(),
                "image_size": config["image_size"]}

    params.__name__ = f"padis_{kind}_params"
    return params


def padis_figure_input(wildcards):
    return padis_figure_cells()


def padis_figure_spec(wildcards):
    return padis_spec()


def padis_outputs():
    tables = [f"results/padis/table_{k}.{ext}" for k in PADIS_TABLES for ext in ("csv", "md")]
    figures = [f"results/figures/padis/{f}.{ext}" for f in PADIS_FIGURES for ext in ("png", "pdf")]
    return tables + figures


rule padis:
    input:
        padis_outputs(),


rule padis_table_main:
    input:
        unpack(padis_table_input("main")),
    output:
        csv=report("results/padis/table_main.csv", caption="../report/padis_table_main.rst", category="PaDIS"),
        md="results/padis/table_main.md",
    params:
        table=padis_table_params("main"),
    log:
        "logs/padis/table_main.log",
    script:
        "../workflow_scripts/padis_tables.py"


rule padis_table_patchsize:
    input:
        unpack(padis_table_input("patchsize")),
    output:
        csv=report("results/padis/table_patchsize.csv", caption="../report/padis_table_patchsize.rst",
                   category="PaDIS"),
        md="results/padis/table_patchsize.md",
    params:
        table=padis_table_params("patchsize"),
    log:
        "logs/padis/table_patchsize.log",
    script:
        "../workflow_scripts/padis_tables.py"


rule padis_table_position:
    input:
        unpack(padis_table_input("position")),
    output:
        csv=report("results/padis/table_position.csv", caption="../report/padis_table_position.rst",
                   category="PaDIS"),
        md="results/padis/table_position.md",
    params:
        table=padis_table_params("position"),
    log:
        "logs/padis/table_position.log",
    script:
        "../workflow_scripts/padis_tables.py"


rule padis_table_datasize:
    input:
        unpack(padis_table_input("datasize")),
    output:
        csv=report("results/padis/table_datasize.csv", caption="../report/padis_table_datasize.rst",
                   category="PaDIS"),
        md="results/padis/table_datasize.md",
    params:
        table=padis_table_params("datasize"),
    log:
        "logs/padis/table_datasize.log",
    script:
        "../workflow_scripts/padis_tables.py"


rule padis_fig_recons:
    input:
        recons=padis_figure_input,
    output:
        png=report("results/figures/padis/recons.png", caption="../report/padis_fig_recons.rst", category="PaDIS"),
        pdf="results/figures/padis/recons.pdf",
    params:
        kind="recons",
        spec=padis_figure_spec,
    log:
        "logs/padis/fig_recons.log",
    script:
        "../workflow_scripts/padis_figures.py"


rule padis_fig_patchsize:
    input:
        table="results/padis/table_patchsize.csv",
    output:
        png=report("results/figures/padis/patchsize.png", caption="../report/padis_fig_patchsize.rst",
                   category="PaDIS"),
        pdf="results/figures/padis/patchsize.pdf",
    params:
        kind="patchsize",
        spec=padis_figure_spec,
    log:
        "logs/padis/fig_patchsize.log",
    script:
        "../workflow_scripts/padis_figures.py"


rule padis_fig_datasize:
    input:
        table="results/padis/table_datasize.csv",
    output:
        png=report("results/figures/padis/datasize.png", caption="../report/padis_fig_datasize.rst",
                   category="PaDIS"),
        pdf="results/figures/padis/datasize.pdf",
    params:
        kind="datasize",
        spec=padis_figure_spec,
    log:
        "logs/padis/fig_datasize.log",
    script:
        "../workflow_scripts/padis_figures.py"
