"""Aggregation of per-image cell metrics into the papers' table layouts.

Pure pandas: data frames in, data frames / strings out.
"""

import html
import math

import pandas as pd

ROW_AXES = ["dataset", "task", "solver", "infer"]
STATS = [("psnr", "mean"), ("psnr", "std"), ("lpips", "mean"), ("lpips", "std")]


AXES = ["dataset", "task", "solver", "prior", "infer", "pad"]


def attach_lpips(per_image: pd.DataFrame, lpips: pd.DataFrame) -> pd.DataFrame:
    """Per-image cell metrics with the LPIPS columns of rule lpips merged in.

    Args:
        per_image: rows ``AXES + image`` with PSNR/SSIM (the cells' CSV files).
        lpips: rows ``AXES + image`` with ``lpips`` and ``baseline_lpips`` (the cells'
            ``.lpips.csv`` files).

    Returns:
        ``per_image`` with ``lpips`` and ``baseline_lpips`` (NaN where not scored). Raises
        ValueError naming the first cell whose images differ between the two.
    """
    keys = AXES + ["image"]
    left = per_image.drop(columns=["lpips", "baseline_lpips"], errors="ignore").astype({"infer": str})
    right = lpips[keys + ["lpips", "baseline_lpips"]].astype({"infer": str})
    merged = left.merge(right, on=keys, how="outer", indicator=True, validate="one_to_one")
    bad = merged[merged["_merge"] != "both"]
    if len(bad):
        r = bad.iloc[0]
        cell = "/".join(str(r[a]) for a in AXES)
        raise ValueError(f"cell {cell}: image {r['image']} is in only one of its metrics and LPIPS "
                         f"files ({r['_merge']}); rerun that cell")
    return merged.drop(columns="_merge")


def _ordered(values, order):
    """``values`` sorted by their position in ``order`` (unknown ones last, alphabetically)."""
    order = [str(v) for v in order]
    return sorted(set(values), key=lambda v: (order.index(v) if v in order else len(order), v))


def table1(per_image: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Roy et al. Table 1 layout from per-image metrics.

    Args:
        per_image: one row per (cell, image) with columns dataset, task, solver, prior, infer,
            pad, image, psnr, lpips, baseline_psnr.
        spec: the table's config entry (its lists give the row and column order).

    Returns:
        A frame with one row per (dataset, task, solver, infer) in the spec's order and, for
        each prior (training preset) in the spec's order, the columns ``<prior>_psnr_mean``,
        ``_psnr_std``, ``_lpips_mean``, ``_lpips_std`` (std over images, ddof 0), followed by
        ``baseline_psnr_mean`` (the task's trivial reconstruction) and ``images``.
    """
    df = per_image.astype({"infer": str})
    stats = (df.groupby(ROW_AXES + ["prior"])[["psnr", "lpips"]]
               .agg(["mean", lambda s: s.std(ddof=0)]))
    stats.columns = [f"{m}_{'mean' if f == 'mean' else 'std'}" for m, f in stats.columns]
    wide = stats.unstack("prior")
    priors = _ordered(df["prior"], spec["priors"])
    columns = {f"{p}_{m}_{s}": wide[(f"{m}_{s}", p)] for p in priors for m, s in STATS}
    out = pd.DataFrame(columns)
    base = df.groupby(ROW_AXES)
    out["baseline_psnr_mean"] = base["baseline_psnr"].mean()
    out["images"] = base["image"].nunique()
    order = [_ordered(df[a], spec[key]) for a, key in
             zip(ROW_AXES, ["datasets", "tasks", "solvers", "infer"])]
    index = pd.MultiIndex.from_product(order, names=ROW_AXES)
    return out.reindex(index).dropna(how="all").reset_index()


def _pm(mean, std, digits):
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "missing"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _display(table):
    """The rows of :func:`table1` as strings (``mean ± std``, 'missing'), as both renderings show them."""
    priors = [c[: -len("_psnr_mean")] for c in table.columns if c.endswith("_psnr_mean")
              and not c.startswith("baseline")]
    rows = []
    for _, r in table.iterrows():
        row = {"dataset": r.dataset, "task": r.task, "solver": r.solver,
               "inference size": r.infer}
        for p in priors:
            row[f"{p}: PSNR ↑"] = _pm(r[f"{p}_psnr_mean"], r[f"{p}_psnr_std"], 2)
            row[f"{p}: LPIPS ↓"] = _pm(r[f"{p}_lpips_mean"], r[f"{p}_lpips_std"], 3)
        row["baseline PSNR"] = f"{r.baseline_psnr_mean:.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


def _heading(description):
    d = description
    nfe = ", ".join(f"{k} {v}" for k, v in sorted(d["nfe"].items()))
    return (f"Table 1 (Roy et al. layout). Columns are training presets (priors); rows are "
            f"dataset, task, solver and inference patch size. Mean ± std over "
            f"{d['images']} {d['split']} images per dataset of {d['image_size']}x{d['image_size']} "
            f"pixels; NFE: {nfe}. LPIPS 'missing' means the AlexNet weights were not available "
            f"(see README, make fetch-weights).")


def table1_markdown(table: pd.DataFrame, description: dict) -> str:
    """Markdown rendering of :func:`table1`, with the evaluation size stated above it."""
    return _heading(description) + "\n\n" + _display(table).to_markdown(index=False) + "\n"


_HTML_STYLE = """<style>
body { font-family: sans-serif; font-size: 13px; margin: 12px; }
table { border-collapse: collapse; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #eee; }
td:nth-child(-n+4), th:nth-child(-n+4) { text-align: left; }
tr:nth-child(even) td { background: #f7f7f7; }
</style>"""


def table1_html(table: pd.DataFrame, description: dict) -> str:
    """A self-contained HTML page of :func:`table1` (for the Snakemake report and a browser)."""
    body = _display(table).to_html(index=False, border=0, escape=True)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Table 1</title>\n"
            f"{_HTML_STYLE}</head><body>\n<p>{html.escape(_heading(description))}</p>\n"
            f"{body}\n</body></html>\n")
