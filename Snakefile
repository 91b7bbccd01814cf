# patchcore: patch-based diffusion priors for medical-image inverse problems.
# Includes plus targets; the logic lives in patchcore/, the glue in rules/ and workflow_scripts/.

import os


configfile: "config.yaml"


# environment.yml names the repository through this variable (--use-conda copies the file away).
os.environ.setdefault("PATCHCORE_ROOT", workflow.basedir)


include: "rules/common.smk"
include: "rules/datasets.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/memory.smk"
include: "rules/figures.smk"
include: "rules/padis_common.smk"
include: "rules/padis.smk"
include: "rules/tuning.smk"
include: "rules/diagnosis.smk"
include: "rules/beyond_common.smk"
include: "rules/uncertainty.smk"
include: "rules/resolution.smk"
include: "rules/scale_common.smk"
include: "rules/scale.smk"


# The report's landing text (report/workflow.rst) states what the run was.
config["_run"] = run_summary()


report: "report/workflow.rst"


rule all:
    input:
        "results/table1.csv",
        "results/table1.md",
        "results/table1.html",
        "results/memory.csv",
        "results/figures/data_montage.png",
        figure_outputs(),


rule prepare:
    input:
        prepared_outputs(),


rule figures:
    input:
        "results/figures/data_montage.png",
        figure_outputs(),


# `snakemake --cores 1 report` brings whatever has been built up to date (and draws the
# training curves); `snakemake --report results/report.html report` then writes the report of
# exactly those files (make report does both).
rule report:
    input:
        report_inputs,
