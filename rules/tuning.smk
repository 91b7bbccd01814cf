# Hyper-parameter search on the validation split: `snakemake tuning` writes
# results/tuning/tuned.yaml, the `tuned:` entries to copy under `solvers:` in config.


def tuning_cells(wildcards):
    t = config["tuning"]
    return [
        f"results/tuning/{d}/{task}/{solver}.csv"
        for task, datasets in t["tasks"].items()
        for d in datasets
        for solver in t["grid"]
    ]


def tuning_prior(wildcards):
    return f"results/priors/{group_of(wildcards.dataset)}/{config['tuning']['prior']}/model.safetensors"


def tuning_params(wildcards):
    t = config["tuning"]
    cell = {"dataset": wildcards.dataset, "task": wildcards.task, "solver": wildcards.solver,
            "prior": t["prior"], "infer": str(t["infer"]), "pad": t["pad"]}
    options = cell_options(SimpleNamespace(**cell))
    options["evaluation"] = {**options["evaluation"], "split": "val", "images": t["images"], "keep": 0}
    return {"cell": cell, "options": options, "grid": t["grid"][wildcards.solver]}


rule tune:
    input:
        data="results/prepared/{dataset}.h5",
        prior=tuning_prior,
    output:
        "results/tuning/{dataset}/{task}/{solver}.csv",
    params:
        tuning=tuning_params,
    log:
        "logs/tuning/{dataset}/{task}/{solver}.log",
    benchmark:
        "benchmarks/tuning/{dataset}/{task}/{solver}.tsv"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=240,
    script:
        "../workflow_scripts/tune.py"


rule tuning:
    input:
        tuning_cells,
    output:
        "results/tuning/tuned.yaml",
    log:
        "logs/tuning/tuned.log",
    script:
        "../workflow_scripts/tuned.py"
