# The scale ladder (issue 12; `snakemake scale`, make demo-scale): the papers' key contrasts at
# every rung of config["scale"]. A rung with an overlay is this workflow again as a Snakemake
# module (its rules synthesize .. evaluate renamed <rung>_*, its files under
# results/scale/<rung>/); the rung without one is the run itself (results/).


if config.get("scale"):
    declare_rungs()


localrules:
    scale,


rule scale:
    input:
        "results/scale/ladder.csv",
        "results/scale/ladder.md",
        "results/scale/ladder.png",
        "results/scale/ladder.pdf",


rule scale_ladder:
    input:
        cells=scale_cells,
    output:
        csv="results/scale/ladder.csv",
        md="results/scale/ladder.md",
    log:
        "logs/scale/ladder.log",
    conda:
        "../environment.yml"
    params:
        ladder=scale_params,
    script:
        "../workflow_scripts/scale_ladder.py"


rule scale_figure:
    input:
        "results/scale/ladder.csv",
    output:
        png=report("results/scale/ladder.png", caption="../report/scale_ladder.rst", category="Scale ladder"),
        pdf="results/scale/ladder.pdf",
    log:
        "logs/scale/figure.log",
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/scale_figure.py"
