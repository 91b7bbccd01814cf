# PaDIS (Hu et al. 2024): sparse-view CT main table and ablations (snakemake padis).
# The cells come from rule evaluate by path; the layout is config["padis"] (see config.yaml).


localrules:
    padis,
    padis_table_main,
    padis_table_patchsize,
    padis_table_position,
    padis_table_datasize,
    padis_fig_recons,
    padis_fig_patchsize,
    padis_fig_datasize,


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
    conda:
        "../environment.yml"
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
    conda:
        "../environment.yml"
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
    conda:
        "../environment.yml"
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
    conda:
        "../environment.yml"
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
    conda:
        "../environment.yml"
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
    conda:
        "../environment.yml"
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
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/padis_figures.py"
