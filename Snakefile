# patchcore: patch-based diffusion priors for medical-image inverse problems.
# Includes plus targets; the logic lives in patchcore/, the glue in rules/ and workflow_scripts/.

configfile: "config.yaml"


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


rule all:
    input:
        "results/table1.csv",
        "results/table1.md",
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
