# Rule train: one prior (a preset of config["priors"], or "<preset>-n<N>") per dataset group.
# Checkpoints in results/priors/{group}/{prior}/checkpoints/ are not outputs: a killed job
# resumes from them. More than one GPU (e.g. PATCHCORE_SLURM_RESOURCES="train:gpu=4" with the
# Slurm profile, or --set-resources train:gpu=4 locally) launches torchrun.


def train_data(wildcards):
    """Prepared HDF5 files of the datasets of the group."""
    return expand("results/prepared/{dataset}.h5", dataset=config["groups"][wildcards.group])


def train_spec(wildcards):
    """What the training script needs from config: the prior preset and the named presets."""
    return {
        "group": wildcards.group,
        "prior_name": wildcards.prior,
        "prior": prior_preset(wildcards.prior),
        "networks": config.get("networks", {}),
        "training": config.get("training", {}),
        "progress": True,
    }


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
        "benchmarks/train/{group}/{prior}.tsv"
    params:
        spec=train_spec,
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    script:
        "../workflow_scripts/train.py"
