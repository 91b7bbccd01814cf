# Data: synthetic raw data in the real formats (when no download is configured), preparation
# of raw fastMRI / AAPM data into prepared splits, measures of realism, and a montage of the
# prepared slices.


rule synthesize:
    output:
        directory("resources/synthetic/{dataset}"),
    log:
        "logs/synthesize/{dataset}.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        entry=dataset_entry,
        synthetic=synthetic_settings,
    script:
        "../workflow_scripts/synthesize.py"


rule prepare_dataset:
    input:
        raw=raw_dir,
    output:
        h5="results/prepared/{dataset}.h5",
        manifest="results/prepared/{dataset}_manifest.csv",
    log:
        "logs/prepare/{dataset}.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        entry=dataset_entry,
        image_size=config["image_size"],
    script:
        "../workflow_scripts/prepare.py"


rule realism:
    input:
        data=expand("results/prepared/{dataset}.h5", dataset=DATASETS),
        manifests=expand("results/prepared/{dataset}_manifest.csv", dataset=DATASETS),
    output:
        "results/realism.csv",
    log:
        "logs/realism.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        names=DATASETS,
    script:
        "../workflow_scripts/realism.py"


rule data_montage:
    input:
        data=expand("results/prepared/{dataset}.h5", dataset=DATASETS),
        realism="results/realism.csv",
    output:
        report("results/figures/data_montage.png", caption="../report/data_montage.rst", category="Data"),
    log:
        "logs/figures/data_montage.log",
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        names=DATASETS,
    script:
        "../workflow_scripts/data_montage.py"
