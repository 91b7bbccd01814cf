# Helpers of the scale ladder (rules/scale.smk): each rung's config, its module, its cells.
import yaml

from patchcore.experiments import ladder

# The rules a rung reuses from the workflow: everything between raw data and a cell's metrics.
RUNG_RULES = ["synthesize", "prepare_dataset", "train", "evaluate"]


def scale_spec():
    if not config.get("scale"):
        raise WorkflowError(
            "config: no 'scale' block (or 'scale: null', as in configs/paper.yaml); "
            "the scale ladder needs one (see config.yaml)"
        )
    return config["scale"]


def rung_overlay(name):
    """The overlay of one rung (``scale.rungs.<name>``: a YAML file, or None for the run's config)."""
    path = scale_spec()["rungs"][name]["overlay"]
    if path is None:
        return None
    try:
        with open(Path(workflow.basedir) / path) as f:
            overlay = yaml.safe_load(f) or {}
    except OSError as e:
        raise WorkflowError(f"config: scale.rungs.{name}: cannot read overlay '{path}': {e.strerror}")
    if not isinstance(overlay, dict):
        raise WorkflowError(f"config: scale.rungs.{name}: overlay '{path}' is not a mapping of config keys")
    return overlay


def rung_config(name):
    """The full config of one rung: its overlay merged over the run's config."""
    return ladder.rung_config(config, rung_overlay(name))


def rung_prefix(name):
    """Where a rung's files live: under results/scale/<rung>/, or the workflow's own results/
    for a rung without an overlay (the run's config itself)."""
    return "" if scale_spec()["rungs"][name]["overlay"] is None else f"results/scale/{name}/"


def rung_contrasts(name):
    """The contrasts (letters a-e) one rung measures (``scale.rungs.<name>.contrasts``, default all)."""
    return list(scale_spec()["rungs"][name].get("contrasts", ladder.CONTRASTS))


def rung_cells(name):
    """Cell files of one rung, under its prefix."""
    cells = ladder.ladder_cells(rung_config(name), scale_spec(), rung_contrasts(name))
    return [f"{rung_prefix(name)}{grid.cell_stem(c)}.csv" for c in cells]


def declare_rungs():
    """One Snakemake module per rung with an overlay: this very workflow with the rung's
    config, its paths under the rung's prefix, its rules named ``<rung>_<rule>``."""
    for name in scale_spec()["rungs"]:
        if rung_prefix(name) == "":
            continue
        rung = rung_config(name)
        validate(rung, "../schemas/config.schema.yaml")
        workflow.module(
            name, snakefile=str(Path(workflow.basedir) / "Snakefile"), config=rung, prefix=rung_prefix(name).rstrip("/")
        )
        workflow.userule(rules=RUNG_RULES, from_module=name, exclude_rules=[], name_modifier=f"{name}_*")(lambda: None)


def scale_cells(wildcards):
    """Every cell file of the ladder, each under its rung's prefix."""
    return [f for r in scale_spec()["rungs"] for f in rung_cells(r)]


def scale_params(wildcards):
    """What the ladder script needs: per rung its config (image size, network, training) and
    its cell files, in rung order."""
    rungs = {}
    for r in scale_spec()["rungs"]:
        rc = rung_config(r)
        rungs[r] = {
            "config": {k: rc[k] for k in ("image_size", "networks", "training", "priors", "tables", "padis")},
            "contrasts": rung_contrasts(r),
            "cells": rung_cells(r),
        }
    return {"spec": scale_spec(), "rungs": rungs}
