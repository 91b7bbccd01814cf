"""PaDIS (Hu et al. 2024) table layouts from per-image cell metrics: main table, patch size,
position encoding and training-set size.

Pure pandas on plain dicts: the spec is the ``padis:`` block of the config,

    dataset: ct
    methods: {<row name>: {solver, prior, infer, pad}, ...}     # the main table's rows
    main: {tasks: [ct20, ct8, deblur, sr2]}
    patch_size: {task, method, sizes: [8, 16, 32], full: <method or null>}
    position: {task, rows: {<row name>: <method name or {solver, prior, infer, pad}>}}
    datasize: {task, sizes: [24, 48, all], patch: <method>, whole: <method>}

A method is a cell without its dataset and task. The data-size rows use the derived prior
names ``<prior>-n<N>`` (the preset ``<prior>`` trained on the first N training images);
``all`` is the preset itself. ``per_image`` frames have one row per (cell, image) with the
columns dataset, task, solver, prior, infer, pad, image, psnr, ssim, baseline_psnr, baseline_ssim.
"""

from typing import Optional, Union
import math

import pandas as pd

from patchcore.experiments import grid
from patchcore.inverse import schemes

METHOD_KEYS = ("solver", "prior", "infer", "pad")
METRICS = ("psnr", "ssim")
TABLES = ("main", "patch_size", "position", "datasize")


# ---- the spec -------------------------------------------------------------------------------


def method(spec: dict, ref: Union[str, dict]) -> dict:
    """A method ``{solver, prior, infer, pad}`` (infer as a string) from a name of
    ``spec['methods']`` or an inline dict."""
    if isinstance(ref, str):
        if ref not in spec.get("methods", {}):
            raise KeyError(f"padis: method '{ref}' is not defined under padis.methods "
                           f"(known: {sorted(spec.get('methods', {}))})")
        ref = spec["methods"][ref]
    missing = [k for k in METHOD_KEYS if k not in ref]
    if missing:
        raise KeyError(f"padis: method {ref} lacks key(s) {missing}")
    return {k: str(ref[k]) for k in METHOD_KEYS}


def with_infer(m: dict, infer: Union[str, int]) -> dict:
    return {**m, "infer": str(infer)}


def with_train_size(m: dict, size: int) -> dict:
    """``m`` with its prior trained on the first ``size`` images (``all``: the preset itself)."""
    return m if str(size) == "all" else {**m, "prior": f"{m['prior']}-n{int(size)}"}


def table_rows(spec: dict, table: str) -> list[tuple]:
    """The rows of one table: a list of ``(label, task, method)``.

    The label is the row name (main, position), the patch size (patch_size; ``full`` for the
    whole-image row) or ``(size, 'patch'|'whole')`` (datasize).
    """
    if table == "main":
        return [(name, task, method(spec, name)) for task in spec["main"]["tasks"]
                for name in spec["methods"]]
    if table == "patch_size":
        ps = spec["patch_size"]
        rows = [(str(p), ps["task"], with_infer(method(spec, ps["method"]), p)) for p in ps["sizes"]]
        if ps.get("full"):
            rows.append(("full", ps["task"], method(spec, ps["full"])))
        return rows
    if table == "position":
        pos = spec["position"]
        return [(name, pos["task"], method(spec, ref)) for name, ref in pos["rows"].items()]
    if table == "datasize":
        ds = spec["datasize"]
        return [((str(n), kind), ds["task"], with_train_size(method(spec, ds[kind]), n))
                for n in ds["sizes"] for kind in ("patch", "whole")]
    raise KeyError(f"padis: unknown table '{table}' (known: {TABLES})")


def table_cells(spec: dict, table: str) -> list[dict]:
    """The distinct cells (dicts with the six grid axes) one table needs, in row order."""
    seen, cells = set(), []
    for _, task, m in table_rows(spec, table):
        cell = {"dataset": str(spec["dataset"]), "task": str(task), **m}
        key = tuple(cell.values())
        if key not in seen:
            seen.add(key)
            cells.append(cell)
    return cells


def check_spec(spec: dict, config: dict) -> list[str]:
    """Cross-references of the ``padis`` block against the config; a list of error messages."""
    errors = []
    if not isinstance(spec, dict):
        return ["padis: missing or not a mapping"]
    for key in ("dataset", "methods", *TABLES):
        if key not in spec:
            errors.append(f"padis: missing key '{key}'")
    if errors:
        return errors
    if spec["dataset"] not in config.get("datasets", {}):
        errors.append(f"padis.dataset: '{spec['dataset']}' is not defined under 'datasets'")
    priors = config.get("priors", {})
    for table in TABLES:
        try:
            rows = table_rows(spec, table)
        except (KeyError, TypeError, ValueError) as err:
            errors.append(f"padis.{table}: {err}")
            continue
        for _, task, m in rows:
            checks = [("tasks", task, config.get("tasks", {})), ("solvers", m["solver"], config.get("solvers", {}))]
            for section, name, known in checks:
                if name not in known:
                    errors.append(f"padis.{table}: '{name}' is not defined under '{section}'")
            try:
                grid.prior_preset(priors, m["prior"])
            except KeyError as err:
                errors.append(f"padis.{table}: {err.args[0]}")
    fig = spec.get("figure")
    if fig is not None:
        for name in fig.get("methods", []):
            if name not in spec["methods"]:
                errors.append(f"padis.figure.methods: '{name}' is not defined under padis.methods")
        for task in fig.get("tasks", []):
            if task not in config.get("tasks", {}):
                errors.append(f"padis.figure.tasks: '{task}' is not defined under 'tasks'")
    return sorted(set(errors), key=errors.index)


def figure_cells(spec: dict) -> list[tuple[str, str, dict]]:
    """Cells of the reconstruction figure: ``[(task, method name, cell)]`` for every task and
    method of ``spec['figure']`` (rows are tasks, columns methods)."""
    fig = spec["figure"]
    return [(task, name, {"dataset": str(spec["dataset"]), "task": str(task), **method(spec, name)})
            for task in fig["tasks"] for name in fig["methods"]]


# ---- aggregation ----------------------------------------------------------------------------


def _clean(per_image):
    df = per_image.copy()
    for axis in ("dataset", "task") + METHOD_KEYS:
        df[axis] = df[axis].astype(str)
    return df


def _select(df, dataset, task, m):
    mask = (df["dataset"] == str(dataset)) & (df["task"] == str(task))
    for k in METHOD_KEYS:
        mask &= df[k] == m[k]
    return df[mask]


def _means(sub, prefix=""):
    """``{psnr, ssim, images}`` means over the images of ``sub`` (NaN and 0 when empty)."""
    out = {m: float(sub[f"{prefix}{m}"].mean()) if len(sub) else math.nan for m in METRICS}
    out["images"] = int(sub["image"].nunique()) if len(sub) else 0
    return out


def baseline_means(per_image: pd.DataFrame, dataset: str, task: str) -> dict:
    """Means of the task's trivial reconstruction (FBP for CT) over the evaluation images.

    Every cell of a (dataset, task) measures the same images with the same noise, so their
    ``baseline_*`` columns agree; each image counts once (its mean over cells).
    """
    df = _clean(per_image)
    sub = df[(df["dataset"] == str(dataset)) & (df["task"] == str(task))]
    per = sub.groupby("image")[[f"baseline_{m}" for m in METRICS]].mean().reset_index()
    return _means(per, "baseline_")


def main_table(per_image: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """PaDIS main table: one row per method (after a ``Baseline`` row), for each task of
    ``spec['main']['tasks']`` the columns ``<task>_psnr`` and ``<task>_ssim`` (means over
    images; NaN where a cell is missing), and ``images`` (the fewest images of any entry)."""
    df = _clean(per_image)
    tasks = [str(t) for t in spec["main"]["tasks"]]
    rows = []
    for name in ["Baseline", *spec["methods"]]:
        row, counts = {"method": name}, []
        for task in tasks:
            if name == "Baseline":
                stats = baseline_means(df, spec["dataset"], task)
            else:
                stats = _means(_select(df, spec["dataset"], task, method(spec, name)))
            row.update({f"{task}_{m}": stats[m] for m in METRICS})
            counts.append(stats["images"])
        row["images"] = min(counts) if counts else 0
        rows.append(row)
    return pd.DataFrame(rows)


def patch_size_table(per_image: pd.DataFrame, spec: dict, image_size: int) -> pd.DataFrame:
    """PaDIS patch-size table: one row per inference patch size ``P`` (the ``full`` row, from
    ``patch_size.full``, shows ``P = image_size``), columns P, psnr, ssim, images, method."""
    df = _clean(per_image)
    rows = []
    for label, task, m in table_rows(spec, "patch_size"):
        stats = _means(_select(df, spec["dataset"], task, m))
        rows.append({"P": schemes.parse(label).size(image_size), **stats, "method": _describe(m)})
    return pd.DataFrame(rows)


def position_table(per_image: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """PaDIS position-encoding table: one row per ``position.rows`` entry, columns variant,
    psnr, ssim, images, method."""
    df = _clean(per_image)
    rows = [{"variant": label, **_means(_select(df, spec["dataset"], task, m)), "method": _describe(m)}
            for label, task, m in table_rows(spec, "position")]
    return pd.DataFrame(rows)


def datasize_table(per_image: pd.DataFrame, spec: dict, train_size: Optional[int] = None) -> pd.DataFrame:
    """PaDIS training-set-size table: one row per size (``all`` shown as ``train_size`` when
    given), columns train_images, patch_psnr, patch_ssim, whole_psnr, whole_ssim, images."""
    df = _clean(per_image)
    rows = {}
    for (size, kind), task, m in table_rows(spec, "datasize"):
        shown = train_size if size == "all" and train_size is not None else size
        row = rows.setdefault(size, {"train_images": str(shown), "images": []})
        stats = _means(_select(df, spec["dataset"], task, m))
        row.update({f"{kind}_{k}": stats[k] for k in METRICS})
        row["images"].append(stats["images"])
    out = pd.DataFrame(list(rows.values()))
    out["images"] = [min(v) for v in out["images"]]
    return out[["train_images", "patch_psnr", "patch_ssim", "whole_psnr", "whole_ssim", "images"]]


def _describe(m):
    return f"{m['solver']} / {m['prior']} / {m['infer']} / {m['pad']}"


# ---- markdown -------------------------------------------------------------------------------


def _fmt(v, digits):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def describe(description: dict) -> str:
    """One sentence on what the numbers are: images, image size, split, NFE per method."""
    d = description
    nfe = "; ".join(f"{k}: {v}" for k, v in d.get("nfe", {}).items())
    return (f"Means over {d['images']} {d['split']} images of the '{d['dataset']}' dataset, "
            f"{d['image_size']}x{d['image_size']} pixels. NFE per reconstruction: {nfe}. "
            f"'-' marks a missing cell.")


def main_markdown(table: pd.DataFrame, description: dict) -> str:
    """Markdown of :func:`main_table` in the paper's layout (PSNR ↑ / SSIM ↑ per task)."""
    tasks = [c[: -len("_psnr")] for c in table.columns if c.endswith("_psnr")]
    body = pd.DataFrame([
        {"Method": r["method"], **{f"{t} {m.upper()} ↑": _fmt(r[f"{t}_{m}"], 2 if m == "psnr" else 3)
                                   for t in tasks for m in METRICS}}
        for _, r in table.iterrows()
    ]).to_markdown(index=False, disable_numparse=True)
    return f"PaDIS main table (Hu et al. 2024 layout). {describe(description)}\n\n{body}\n"


def simple_markdown(table: pd.DataFrame, label_column: str, title: str, description: dict) -> str:
    """Markdown of a one-task table (patch size, position): label, PSNR, SSIM, cell."""
    body = pd.DataFrame([
        {label_column: r[label_column], "PSNR ↑": _fmt(r["psnr"], 2), "SSIM ↑": _fmt(r["ssim"], 3),
         "cell (solver / prior / infer / pad)": r["method"]}
        for _, r in table.iterrows()
    ]).to_markdown(index=False, disable_numparse=True)
    return f"{title} {describe(description)}\n\n{body}\n"


def datasize_markdown(table: pd.DataFrame, description: dict) -> str:
    """Markdown of :func:`datasize_table`: patch prior vs whole-image prior per training-set size."""
    body = pd.DataFrame([
        {"Training images": r["train_images"], "Patches PSNR ↑": _fmt(r["patch_psnr"], 2),
         "Patches SSIM ↑": _fmt(r["patch_ssim"], 3), "Whole image PSNR ↑": _fmt(r["whole_psnr"], 2),
         "Whole image SSIM ↑": _fmt(r["whole_ssim"], 3)}
        for _, r in table.iterrows()
    ]).to_markdown(index=False, disable_numparse=True)
    return f"PaDIS training-set size table. {describe(description)}\n\n{body}\n"


def render(table: pd.DataFrame, kind: str, description: dict) -> str:
    """Markdown of any of the four tables (``kind`` in :data:`TABLES`)."""
    if kind == "main":
        return main_markdown(table, description)
    if kind == "patch_size":
        return simple_markdown(table, "P", "PaDIS patch-size table (inference patch size P; the "
                               "largest P is the whole-image row).", description)
    if kind == "position":
        return simple_markdown(table, "variant", "PaDIS position-encoding table.", description)
    if kind == "datasize":
        return datasize_markdown(table, description)
    raise KeyError(f"padis: unknown table '{kind}' (known: {TABLES})")


def build(per_image: pd.DataFrame, spec: dict, kind: str, *, image_size: int,
          train_size: Optional[int] = None) -> pd.DataFrame:
    """Any of the four tables from per-image metrics (``kind`` in :data:`TABLES`)."""
    if kind == "main":
        return main_table(per_image, spec)
    if kind == "patch_size":
        return patch_size_table(per_image, spec, image_size)
    if kind == "position":
        return position_table(per_image, spec)
    if kind == "datasize":
        return datasize_table(per_image, spec, train_size)
    raise KeyError(f"padis: unknown table '{kind}' (known: {TABLES})")
