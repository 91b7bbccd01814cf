# Roy et al. Fig. 1-3 at the configured scale (snakemake figures).


rule fig1_padding:
    input:
        recons=table_cells("padding", "npy"),
    output:
        png=report("results/figures/fig1_padding.png", caption="../report/fig1.rst", category="Figures"),
        pdf="results/figures/fig1_padding.pdf",
        csv="results/figures/fig1_padding.csv",
    log:
        "logs/figures/fig1_padding.log",
    conda:
        "../environment.yml"
    params:
        spec=config["tables"]["padding"],
        context=fig1_context(),
    script:
        "../workflow_scripts/fig1_padding.py"


rule fig2_grid:
    input:
        recons=fig2_cells,
    output:
        png=report("results/figures/fig2_grid.png", caption="../report/fig2.rst", category="Figures"),
        pdf="results/figures/fig2_grid.pdf",
    log:
        "logs/figures/fig2_grid.log",
    conda:
        "../environment.yml"
    params:
        selection=fig2_selection(),
    script:
        "../workflow_scripts/fig2_grid.py"


rule fig3_memory:
    input:
        csv="results/memory.csv",
        method="results/memory.json",
    output:
        png=report("results/figures/fig3_memory.png", caption="../report/fig3.rst", category="Figures"),
        pdf="results/figures/fig3_memory.pdf",
    log:
        "logs/figures/fig3_memory.log",
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/fig3_memory.py"


# Training curves of every prior trained so far, for the report (snakemake report).
rule training_curves:
    input:
        trained_priors(),
    output:
        report("results/figures/training_curves.png", caption="../report/training_curves.rst", category="Training"),
    log:
        "logs/figures/training_curves.log",
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/training_curves.py"
