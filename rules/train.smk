# Rule train: one prior (a preset of config["priors"], or "<preset>-n<N>") per dataset group.
# Checkpoints in results/priors/{group}/{prior}/checkpoints/ are not outputs: a killed job
# resumes from them. More than one GPU (e.g. PATCHCORE_SLURM_RESOURCES="train:gpu=4" with the
# Slurm profile, or --set-resources train:gpu=4 locally) launches torchrun.


rule train:
    input:
        data=train_data,
    output:
        model="results/priors/{group}/{prior}/model.safetensors",
        options="results/priors/{group}/{prior}/options.json",
        csv="results/priors/{group}/{prior}/training.csv",
        png="results/priors/{group}/{prior}/training.png",
    log:
        "logs/train/{group}/{prior}.log",
    benchmark:
        "results/benchmarks/train/{group}/{prior}.tsv"
    conda:
        "../environment.yml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        spec=train_spec,
    script:
        "../workflow_scripts/train.py"
