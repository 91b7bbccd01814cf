# PaDIS (Hu et al. 2024): sparse-view CT main table and ablations (snakemake padis).
# The cells come from rule evaluate by path; the layout is config["padis"] (see config.yaml).
# One rule writes every table ({table}: main, patchsize, position, datasize), one every figure
# ({figure}: recons, patchsize, datasize); the file names are those of PADIS_TABLES / PADIS_FIGURES.


localrules:
    padis,
    padis_table,
    padis_figure,


rule padis:
    input:
        padis_outputs(),


rule padis_table:
    input:
        unpack(padis_table_input),
    output:
        csv=report("results/padis/table_{table}.csv", caption="../report/padis_table.rst", category="PaDIS"),
        md="results/padis/table_{table}.md",
    log:
        "logs/padis/table_{table}.log",
    wildcard_constraints:
        table="|".join(PADIS_TABLES),
    conda:
        "../environment.yml"
    params:
        table=padis_table_params,
    script:
        "../workflow_scripts/padis_tables.py"


rule padis_figure:
    input:
        unpack(padis_figure_input),
    output:
        png=report("results/figures/padis/{figure}.png", caption="../report/padis_figure.rst", category="PaDIS"),
        pdf="results/figures/padis/{figure}.pdf",
    log:
        "logs/padis/fig_{figure}.log",
    wildcard_constraints:
        figure="|".join(PADIS_FIGURES),
    conda:
        "../environment.yml"
    params:
        kind="{figure}",
        spec=padis_figure_spec,
    script:
        "../workflow_scripts/padis_figures.py"
