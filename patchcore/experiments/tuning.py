"""Hyper-parameter search on the validation split (never on test images).

The search runs the same cell code as the grid (:func:`patchcore.experiments.cell.run_cell`) on the
validation images for every setting of a small grid; the chosen values are then written into
config under ``solvers.<name>.tuned.<task>``, where every cell picks them up.
"""

import itertools

import pandas as pd


def settings(grid: dict) -> list[dict]:
    """All combinations of a ``{parameter: [values]}`` grid, as a list of dicts (sorted keys)."""
    keys = sorted(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def best_settings(results: pd.DataFrame) -> pd.DataFrame:
    """The setting with the highest mean PSNR per (task, solver), averaged over datasets.

    Args:
        results: one row per (dataset, task, solver, setting) with columns ``setting`` (a
            string key), the parameters, and ``psnr`` (mean over the validation images).

    Returns:
        A frame with one row per (task, solver): ``setting``, ``psnr`` (mean over datasets) and,
        where the results have it, ``baseline_psnr`` (the task baseline's, same images).
    """
    columns = ["psnr"] + (["baseline_psnr"] if "baseline_psnr" in results else [])
    mean = results.groupby(["task", "solver", "setting"], as_index=False)[columns].mean()
    idx = mean.groupby(["task", "solver"])["psnr"].idxmax()
    return mean.loc[idx].reset_index(drop=True)


def tuned_block(best: pd.DataFrame, results: pd.DataFrame) -> dict:
    """The ``tuned`` entries to paste into config: ``{solver: {task: {param: value}}}``."""
    out = {}
    params = [c for c in results.columns if c not in ("dataset", "task", "solver", "setting", "psnr", "baseline_psnr")]
    for _, row in best.iterrows():
        match = results[(results.setting == row.setting) & (results.task == row.task)
                        & (results.solver == row.solver)].iloc[0]
        values = {p: (float(match[p]) if isinstance(match[p], float) else match[p].item()
                      if hasattr(match[p], "item") else match[p])
                  for p in params if pd.notna(match[p])}
        out.setdefault(row.solver, {})[row.task] = values
    return out
