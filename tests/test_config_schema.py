"""The config schema: every shipped config validates; a misspelt key in any block is named."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "schemas" / "config.schema.yaml")

# What Snakemake merges: config.yaml (the Snakefile's configfile) and the --configfile overlays.
SHIPPED = {
    "default": ["config.yaml"],
    "paper": ["config.yaml", "configs/paper.yaml"],
    "tiny": ["config.yaml", "tests/configs/tiny.yaml"],
    "complex": ["config.yaml", "tests/configs/tiny.yaml", "tests/configs/complex.yaml"],
    "paper_shapes": ["config.yaml", "configs/paper.yaml", "tests/configs/paper_shapes.yaml"],
}


def merged(files):
    config = {}
    for name in files:
        update_config(config, yaml.safe_load((ROOT / name).read_text()))
    return config


def default():
    return merged(SHIPPED["default"])


def problem(config):
    """The validation message for ``config`` ('' when it validates)."""
    try:
        validate(copy.deepcopy(config), SCHEMA)
    except WorkflowError as err:
        return str(err)
    return ""


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_configs_validate(name):
    assert problem(merged(SHIPPED[name])) == ""


# (path of the block, a misspelt key): one per block of the config, nested blocks included.
MISSPELT = [
    ((), "sed"),
    (("datasets", "knee"), "normalize"),
    (("datasets", "knee", "synthetic"), "coil"),
    (("datasets", "knee", "split"), "tset"),
    (("datasets", "knee", "slices"), "evaluate"),
    (("datasets", "knee", "normalise"), "quantile"),
    (("networks", "demo"), "model_channel"),
    (("training", "demo"), "stpes"),
    (("training", "demo", "ema"), "sdt"),
    (("priors", "whole"), "netwrok"),
    (("priors", "padis", "sampler"), "prob"),
    (("priors", "none"), "network"),
    (("tasks", "deblur"), "sigma"),
    (("solvers", "dps"), "zetta"),
    (("solvers", "diffpir"), "levels"),
    (("solvers", "padis"), "nfe"),
    (("solvers", "admm_tv"), "lamda"),
    (("solvers", "padis-init"), "inners"),
    (("solvers", "dps", "tuned", "denoise"), "sigma_mn"),
    (("tuning",), "image"),
    (("tuning", "solvers", "dps"), "grids"),
    (("evaluation",), "keeps"),
    (("tables", "table1"), "infers"),
    (("memory",), "image_size"),
    (("padis",), "methds"),
    (("padis", "methods", "PaDIS"), "infr"),
    (("padis", "main"), "task"),
    (("padis", "patch_size"), "size"),
    (("padis", "position"), "row"),
    (("padis", "position", "rows", "no position"), "solvr"),
    (("padis", "datasize"), "size"),
    (("padis", "figure"), "imag"),
]


@pytest.mark.parametrize("path,key", MISSPELT, ids=[".".join(p + (k,)) for p, k in MISSPELT])
def test_misspelt_key_is_named(path, key):
    config = default()
    block = config
    for part in path:
        block = block[part]
    assert key not in block
    block[key] = 1
    message = problem(config)
    assert message, f"{'.'.join(path + (key,))} passed validation"
    assert f"'{key}' was unexpected" in message, message


def test_missing_required_key_is_named():
    config = default()
    del config["solvers"]["dps"]["nfe"]
    assert "'nfe' is a required property" in problem(config)


@pytest.mark.parametrize("block", ["solvers", "priors", "memory", "tables"])
def test_missing_block_is_named(block):
    config = default()
    del config[block]
    assert f"'{block}' is a required property" in problem(config)


@pytest.mark.parametrize("key", ["nfe", "sigma_min", "sigma_max", "rho", "spacing"])
def test_classical_solver_takes_no_schedule_key(key):
    config = default()
    assert problem(config) == ""
    config["solvers"]["admm_tv"][key] = 1
    assert f"'{key}' was unexpected" in problem(config)


@pytest.mark.parametrize("infer,ok", [("full", True), (16, True), ("avg16", True), ("stitch16", True),
                                      ("16", True), ("avg", False), ("x16", False), ("half", False),
                                      (0, False), ("016", False)])
def test_infer_grammar(infer, ok):
    config = default()
    config["tables"]["table1"]["infer"] = [infer]
    config["padis"]["methods"]["PaDIS"]["infer"] = infer
    assert (problem(config) == "") is ok


def test_wrong_type_is_named():
    config = default()
    config["training"]["demo"]["steps"] = "many"
    message = problem(config)
    assert "'many' is not of type 'integer'" in message and "steps" in message, message
