"""The evaluation grid: expansion of a table spec into cells, cell paths and cell seeds.

A cell is one combination (dataset, task, solver, prior, infer, pad); each writes its own
files, so one cell can be rerun alone. Pure functions on plain dicts and strings.
"""

import itertools

from patchcore.seeds import derived_seed

AXES = ("dataset", "task", "solver", "prior", "infer", "pad")
SPEC_KEYS = {"dataset": "datasets", "task": "tasks", "solver": "solvers", "prior": "priors",
             "infer": "infer", "pad": "pad"}
CELL_PATTERN = "results/cells/{dataset}/{task}/{solver}/{prior}/{infer}-{pad}"


def expand_table(spec: dict) -> list[dict]:
    """All cells of a table spec (lists per axis) as dicts, in the spec's order.

    ``spec`` maps ``datasets``, ``tasks``, ``solvers``, ``priors``, ``infer``, ``pad`` to lists;
    ``infer`` entries are ``"full"`` or integers (stored as strings in the cell).
    """
    lists = [[str(v) for v in spec[SPEC_KEYS[axis]]] for axis in AXES]
    return [dict(zip(AXES, combo)) for combo in itertools.product(*lists)]


def cell_stem(cell: dict) -> str:
    """Path of a cell's files without extension."""
    return CELL_PATTERN.format(**cell)


def cell_seed(root_seed: int, cell: dict) -> int:
    """A 32-bit seed derived from the root seed and the cell's own wildcards only.

    Uses SHA-256 (not Python's salted ``hash``) so it is the same in every process.
    """
    return derived_seed(root_seed, *(cell[a] for a in AXES), bits=32)


def measurement_seed(root_seed: int, dataset: str, task: str, index: int) -> int:
    """Seed of the measurement noise of one evaluation image.

    Independent of solver, prior and patch size, so every cell of a (dataset, task) sees the
    same measurements and the comparison between cells is paired.
    """
    return derived_seed(root_seed, dataset, task, index, bits=32)


def check_references(config: dict) -> list[str]:
    """Cross-references the JSON schema cannot express; returns a list of error messages."""
    errors = []
    known = {"datasets": set(config.get("datasets", {})), "tasks": set(config.get("tasks", {})),
             "solvers": set(config.get("solvers", {})), "priors": set(config.get("priors", {}))}
    for name, spec in config.get("tables", {}).items():
        for key, names in known.items():
            for value in spec.get(key, []):
                if key == "priors":
                    try:
                        prior_preset(config.get("priors", {}), value)
                    except KeyError:
                        errors.append(f"tables.{name}.priors: '{value}' is not defined under 'priors'")
                elif value not in names:
                    errors.append(f"tables.{name}.{key}: '{value}' is not defined under '{key}'")
    members = [d for ds in config.get("groups", {}).values() for d in ds]
    for dataset in known["datasets"]:
        if members.count(dataset) != 1:
            errors.append(f"groups: dataset '{dataset}' must be in exactly one group "
                          f"(found in {members.count(dataset)})")
    for dataset in members:
        if dataset not in known["datasets"]:
            errors.append(f"groups: '{dataset}' is not defined under 'datasets'")
    return errors


def prior_preset(priors: dict, name: str) -> dict:
    """The training preset of a prior name.

    A name is either an entry of ``priors`` or ``<base>-n<N>``: preset ``<base>`` trained on the
    first N training images only (the data-size ablations), so those need no config entries.
    """
    if name in priors:
        return dict(priors[name])
    base, sep, count = name.rpartition("-n")
    if sep and base in priors and count.isdigit() and int(count) > 0:
        return {**priors[base], "train_images": int(count)}
    raise KeyError(f"prior '{name}' is neither an entry of 'priors' nor '<entry>-n<N>'")


def prior_pattern(priors: dict) -> str:
    """Regular expression matching every valid prior name (for wildcard constraints)."""
    names = "|".join(sorted(priors, key=len, reverse=True)) or "(?!x)x"
    return rf"(?:{names})(?:-n[1-9]\d*)?"


def needs_checkpoint(preset: dict) -> bool:
    """Whether a prior preset is a trained network (``kind: none`` stands for no prior)."""
    return preset.get("kind") != "none"
