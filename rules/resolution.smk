# Larger than training (issue 14, `snakemake resolution`): the dataset's generator at each
# size of config["resolution"], the priors trained at image_size applied to it (whole image and
# shifted grids); quality per cell, peak memory and time per NFE per (method, size) measured in
# a fresh process (patchcore.experiments.profiling, as rule memory and benchmarks/patch_denoiser.py).


localrules:
    resolution,


rule resolution:
    input:
        "results/resolution/table.csv",
        "results/resolution/table.md",
        "results/figures/resolution/resolution.png",


rule resolution_synthesize:
    output:
        directory("resources/synthetic-resolution/{dataset}-{size}"),
    log:
        "logs/resolution/synthesize/{dataset}-{size}.log",
    wildcard_constraints:
        size=r"\d+",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        entry=resolution_dataset_entry,
        synthetic=resolution_synthetic,
    script:
        "../workflow_scripts/synthesize.py"


rule resolution_prepare:
    input:
        raw="resources/synthetic-resolution/{dataset}-{size}",
    output:
        h5="results/resolution/prepared/{dataset}-{size}.h5",
        manifest="results/resolution/prepared/{dataset}-{size}_manifest.csv",
    log:
        "logs/resolution/prepare/{dataset}-{size}.log",
    wildcard_constraints:
        size=r"\d+",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        entry=resolution_dataset_entry,
        image_size=resolution_image_size,
    script:
        "../workflow_scripts/prepare.py"


rule resolution_cell:
    input:
        data="results/resolution/prepared/{dataset}-{size}.h5",
        prior=prior_model,
    output:
        metrics="results/resolution/cells/{dataset}-{size}/{task}/{solver}/{prior}/{infer}-{pad}.csv",
        recon="results/resolution/cells/{dataset}-{size}/{task}/{solver}/{prior}/{infer}-{pad}.npy",
        recons="results/resolution/cells/{dataset}-{size}/{task}/{solver}/{prior}/{infer}-{pad}.recons.npy",
        options="results/resolution/cells/{dataset}-{size}/{task}/{solver}/{prior}/{infer}-{pad}.json",
    log:
        "logs/resolution/cells/{dataset}-{size}/{task}/{solver}/{prior}/{infer}-{pad}.log",
    benchmark:
        "results/benchmarks/resolution/{dataset}-{size}/{task}/{solver}/{prior}/{infer}-{pad}.tsv"
    wildcard_constraints:
        size=r"\d+",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        options=resolution_cell_options,
    script:
        "../workflow_scripts/evaluate.py"


rule resolution_memory:
    input:
        prior=prior_model,
    output:
        "results/resolution/memory/{dataset}-{size}/{prior}/{infer}.json",
    log:
        "logs/resolution/memory/{dataset}-{size}/{prior}/{infer}.log",
    wildcard_constraints:
        size=r"\d+",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=30,
    params:
        point=resolution_memory_point,
    script:
        "../workflow_scripts/resolution_memory.py"


rule resolution_table:
    input:
        cells=resolution_cells,
        memory=resolution_memory_files,
    output:
        csv=report(
            "results/resolution/table.csv", caption="../report/resolution_table.rst", category="Larger than training"
        ),
        md="results/resolution/table.md",
    log:
        "logs/resolution/table.log",
    conda:
        "../environment.yml"
    params:
        labels=resolution_labels,
        about=resolution_about(),
    script:
        "../workflow_scripts/resolution_table.py"


rule resolution_figure:
    input:
        table="results/resolution/table.csv",
        recons=resolution_recons,
    output:
        png=report(
            "results/figures/resolution/resolution.png",
            caption="../report/resolution_figure.rst",
            category="Larger than training",
        ),
        pdf="results/figures/resolution/resolution.pdf",
    log:
        "logs/resolution/figure.log",
    conda:
        "../environment.yml"
    params:
        labels=resolution_labels,
        about=resolution_about(),
    script:
        "../workflow_scripts/resolution_figure.py"
