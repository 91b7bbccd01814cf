# Posterior uncertainty (issue 14, `snakemake uncertainty`): K reconstructions per measurement
# for each (solver, prior, inference scheme) of config["uncertainty"], their mean and per-pixel
# std, and the calibration of mean +- z std against the truth (table and figures).


localrules:
    uncertainty,


rule uncertainty:
    input:
        "results/uncertainty/calibration.csv",
        "results/uncertainty/calibration.md",
        "results/figures/uncertainty/maps.png",
        "results/figures/uncertainty/reliability.png",


rule evaluate_posterior:
    input:
        data="results/prepared/{dataset}.h5",
        prior=prior_model,
    output:
        metrics="results/uncertainty/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}-k{samples}.csv",
        recon="results/uncertainty/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}-k{samples}.npy",
        recons="results/uncertainty/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}-k{samples}.recons.npy",
        options="results/uncertainty/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}-k{samples}.json",
        posterior="results/uncertainty/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}-k{samples}.posterior.npy",
    log:
        "logs/uncertainty/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}-k{samples}.log",
    benchmark:
        "results/benchmarks/uncertainty/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}-k{samples}.tsv"
    wildcard_constraints:
        samples=r"[1-9]\d*",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        options=posterior_cell_options,
    script:
        "../workflow_scripts/evaluate.py"


rule uncertainty_table:
    input:
        metrics=uncertainty_files("csv"),
        recons=uncertainty_files("recons.npy"),
        posterior=uncertainty_files("posterior.npy"),
    output:
        csv=report(
            "results/uncertainty/calibration.csv", caption="../report/uncertainty_table.rst", category="Uncertainty"
        ),
        md="results/uncertainty/calibration.md",
    log:
        "logs/uncertainty/table.log",
    conda:
        "../environment.yml"
    params:
        cells=uncertainty_cells(),
        zs=config["uncertainty"]["zs"],
        about=uncertainty_about(),
    script:
        "../workflow_scripts/uncertainty_table.py"


rule uncertainty_figures:
    input:
        recons=uncertainty_files("recons.npy"),
        posterior=uncertainty_files("posterior.npy"),
    output:
        maps=report(
            "results/figures/uncertainty/maps.png", caption="../report/uncertainty_maps.rst", category="Uncertainty"
        ),
        reliability=report(
            "results/figures/uncertainty/reliability.png",
            caption="../report/uncertainty_reliability.rst",
            category="Uncertainty",
        ),
    log:
        "logs/uncertainty/figures.log",
    conda:
        "../environment.yml"
    params:
        cells=uncertainty_cells(),
        figure=config["uncertainty"]["figure"],
    script:
        "../workflow_scripts/uncertainty_figures.py"
