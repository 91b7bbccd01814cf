# Hyper-parameter search on the validation split: `snakemake tuning` writes
# results/tuning/tuned.yaml, the `tuned:` entries to copy under `solvers:` in config.


rule tune:
    input:
        data="results/prepared/{dataset}.h5",
        prior=tuning_prior,
    output:
        "results/tuning/{dataset}/{task}/{solver}.csv",
    log:
        "logs/tuning/{dataset}/{task}/{solver}.log",
    benchmark:
        "results/benchmarks/tuning/{dataset}/{task}/{solver}.tsv"
    conda:
        "../environment.yml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    params:
        tuning=tuning_params,
    script:
        "../workflow_scripts/tune.py"


rule tuning:
    input:
        tuning_cells,
    output:
        "results/tuning/tuned.yaml",
    log:
        "logs/tuning/tuned.log",
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/tuned.py"
