# The evaluation grid: one cell, one set of files; tables aggregate cells.


rule evaluate:
    input:
        data="results/prepared/{dataset}.h5",
        prior=prior_model,
    output:
        metrics="results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.csv",
        recon="results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.npy",
        options="results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.json",
    params:
        options=cell_options,
    log:
        "logs/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.log",
    benchmark:
        "results/benchmarks/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}.tsv"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/evaluate.py"


rule table1:
    input:
        cells=table_cells("table1"),
    output:
        csv=report("results/table1.csv", caption="../report/table1.rst", category="Table 1"),
        md="results/table1.md",
    params:
        evaluation=table_description,
    log:
        "logs/table1.log",
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/table1.py"
