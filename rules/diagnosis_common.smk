# Helper functions of rules/diagnosis.smk. Everything comes from the Table 1 entries of config:
# its priors, datasets, inference tile sizes and denoising task; the noise sweep is the priors'
# held-out training levels plus the task's sigma_y.


def _diagnosis_task():
    """The first Table 1 task whose operator is plain denoising (its sigma_y is the task level)."""
    for task in config["tables"]["table1"]["tasks"]:
        if config["tasks"][task]["operator"] == "denoise":
            return task
    raise WorkflowError("diagnosis_tiles: tables.table1.tasks has no task with operator 'denoise'")


def diagnosis_spec(wildcards=None):
    spec = config["tables"]["table1"]
    task_sigma = float(config["tasks"][_diagnosis_task()]["sigma_y"])
    training = config["training"][prior_preset(spec["priors"][0])["training"]]
    sigmas = sorted({float(s) for s in training.get("eval_sigmas", [])} | {task_sigma})
    ev = config["evaluation"]
    images = {d: (ev["images"][d] if isinstance(ev["images"], dict) else ev["images"]) for d in spec["datasets"]}
    return {
        "priors": list(spec["priors"]),
        "datasets": list(spec["datasets"]),
        "split": ev["split"],
        "images": images,
        "sigmas": sigmas,
        "task_sigma": task_sigma,
        "tiles": [int(i) for i in spec["infer"] if str(i) != "full"],
        "pads": ["reflect", "zero"],
        "seed": config["seed"],
    }


def diagnosis_inputs(wildcards):
    """The Table 1 priors (one group: that of the first Table 1 dataset) and the datasets."""
    spec = config["tables"]["table1"]
    group = group_of(spec["datasets"][0])
    inputs = {p: f"results/priors/{group}/{p}/model.safetensors" for p in spec["priors"]}
    inputs["data"] = [f"results/prepared/{d}.h5" for d in spec["datasets"]]
    return inputs
