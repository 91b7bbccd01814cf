# The evaluation grid: one cell, one set of files; tables aggregate cells. LPIPS is scored by
# its own rule from the saved reconstructions, with the AlexNet weights file as an input where
# present: fetching the weights later re-scores every cell without re-solving it.


rule evaluate:
    input:
        data="results/prepared/{dataset}.h5",
        prior=prior_model,
    output:
        metrics="results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.csv",
        recon="results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.npy",
        recons="results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.recons.npy",
        options="results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.json",
    log:
        "logs/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.log",
    benchmark:
        "results/benchmarks/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.tsv"
    conda:
        "../environment.yml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        options=cell_options,
    script:
        "../workflow_scripts/evaluate.py"


rule lpips:
    input:
        recons="results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.recons.npy",
        weights=lpips_weights,
    output:
        "results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.lpips.csv",
    log:
        "logs/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.lpips.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../workflow_scripts/lpips.py"


rule table1:
    input:
        cells=table_cells("table1"),
        lpips=table_cells("table1", "lpips.csv"),
    output:
        csv="results/table1.csv",
        md="results/table1.md",
        html=report("results/table1.html", caption="../report/table1.rst", category="Table 1"),
    log:
        "logs/table1.log",
    conda:
        "../environment.yml"
    params:
        evaluation=table_description,
    script:
        "../workflow_scripts/table1.py"
