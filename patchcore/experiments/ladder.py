"""The scale ladder (issue 12): the papers' key contrasts measured at several scales.

A rung is a whole config (the run's config with an overlay merged over it: other image size,
network, training length); each rung's cells come from the same ``evaluate`` rule. The spec
is the ``scale:`` block of the config:

    rungs: {<name>: {overlay: <file or null>, contrasts: [a, b, c, d, e]}, ...}
    roy: {datasets: [knee], tasks: [denoise, sr2], solvers: [diffpir], whole: whole, patch: patch}
    padis: {tasks: [ct20, ct8], no_position: <row of padis.position.rows>, datasize: 24,
            paper_datasize: 288}

Roy et al.'s contrasts use each rung's ``tables.table1`` (its inference sizes and padding),
PaDIS's its ``padis:`` block (the PaDIS and whole-image methods of ``padis.datasize``), so a
rung's overlay scales them with its numbers. Contrasts, each a paired PSNR difference (dB) over
the same test images:

    (a) patch- minus whole-trained prior, both at whole-image inference;
    (b) cost of tiles of 1/k of the image side: whole-image minus tiled inference, per prior;
    (c) PaDIS minus whole-image diffusion, per task;
    (d) PaDIS with minus without position channels;
    (e) loss from training on ``datasize`` images instead of all: all minus few, per prior.

``per_image`` frames have one row per (cell, image) with the columns dataset, task, solver,
prior, infer, pad, image, psnr (the cells' CSV files, concatenated).
"""

import copy
import math

import pandas as pd

from patchcore.experiments import padis as padis_tables

CELL_KEYS = ("dataset", "task", "solver", "prior", "infer", "pad")
CONTRASTS = ("a", "b", "c", "d", "e")

# Roy et al. 2025, Table 1 (PSNR, dB): whole-trained (256 x 256) and patch-trained (128 x 128)
# EDM2 priors, 256-px images; inference on the whole image ("full") or on tiles of 1/2 and 1/4
# of the side (128 and 64 px). Key: (dataset, task, solver, prior, tile fraction 1, 2 or 4).
_ROY = {
    ("knee", "denoise", "dps"): {"whole": (27.88, 27.77, 27.67), "patch": (27.93, 27.86, 27.85)},
    ("knee", "denoise", "diffpir"): {"whole": (27.85, 27.80, 27.68), "patch": (27.75, 27.76, 27.71)},
    ("knee", "sr2", "dps"): {"whole": (27.87, 27.72, 27.66), "patch": (27.87, 27.75, 27.75)},
    ("knee", "sr2", "diffpir"): {"whole": (27.86, 27.76, 27.68), "patch": (27.84, 27.77, 27.77)},
    ("brain", "denoise", "dps"): {"whole": (28.72, 28.57, 28.35), "patch": (28.64, 28.64, 28.64)},
    ("brain", "denoise", "diffpir"): {"whole": (28.75, 28.63, 28.46), "patch": (28.52, 28.48, 28.47)},
    ("brain", "sr2", "dps"): {"whole": (28.91, 28.70, 28.57), "patch": (28.93, 28.83, 28.83)},
    ("brain", "sr2", "diffpir"): {"whole": (28.92, 28.76, 28.61), "patch": (28.98, 28.90, 28.87)},
}
ROY_TABLE1 = {(d, t, s, p, frac): v
              for (d, t, s), priors in _ROY.items()
              for p, values in priors.items()
              for frac, v in zip((1, 2, 4), values)}

# PaDIS (Hu et al. 2024), as on the PaDIS talk's slides (fessler2024_padis_talk): CT 256 px,
# 56-px patches, 1000 NFE. Main table: PSNR of whole-image diffusion and PaDIS on 20- and
# 8-view CT; "Positional encoding" table (20 views); "Dataset size" table (20 views): PSNR of
# the patch (56 x 56) and whole-image (256 x 256) priors per number of training slices (2304 =
# all).
PADIS_MAIN = {"ct20": {"whole": 32.84, "padis": 33.57}, "ct8": {"whole": 25.74, "padis": 29.48}}
PADIS_POSITION = {"with position": 33.57, "no position": 23.25, "no position + init": 24.51}
PADIS_DATASIZE = {144: (32.28, 29.12), 288: (32.43, 31.09), 576: (33.03, 31.81),
                  1152: (33.01, 31.36), 2304: (33.57, 32.84)}
PADIS_ALL = 2304


# ---- rungs and their cells -------------------------------------------------------------------


def merge(base, overlay):
    """``base`` with ``overlay`` merged over it recursively (dicts merge, anything else replaces);
    neither argument is changed."""
    out = copy.deepcopy(base)
    for key, value in (overlay or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def rung_config(base, overlay):
    """The config of one rung: ``overlay`` over the run's config, without the ``scale`` block
    (a rung has no ladder of its own)."""
    rung = merge({k: v for k, v in base.items() if k != "scale"}, overlay)
    rung.pop("scale", None)
    return rung


def _cell(dataset, task, method):
    return {"dataset": dataset, "task": task, **{k: str(method[k]) for k in ("solver", "prior", "infer", "pad")}}


def tile_fraction(image_size, infer):
    """How many tiles per image side an inference size means (1 for ``full``), or None when
    the tile does not divide the image evenly."""
    if str(infer) == "full":
        return 1
    n, p = int(image_size), int(infer)
    return n // p if n % p == 0 else None


def roy_cells(rung, spec):
    """Cells of contrasts (a) and (b): Roy's datasets x tasks x solvers x {whole, patch} prior
    x the rung's Table 1 inference sizes, at its first padding."""
    roy, t1 = spec["roy"], rung["tables"]["table1"]
    return [{"dataset": d, "task": t, "solver": s, "prior": p, "infer": str(i), "pad": t1["pad"][0]}
            for d in roy["datasets"] for t in roy["tasks"] for s in roy["solvers"]
            for p in (roy["whole"], roy["patch"]) for i in t1["infer"]]


def padis_methods(rung, spec):
    """The rung's PaDIS, whole-image diffusion and no-position methods ``{solver, prior, infer, pad}``."""
    p = rung["padis"]
    return {"padis": padis_tables.method(p, p["datasize"]["patch"]),
            "whole": padis_tables.method(p, p["datasize"]["whole"]),
            "no_position": padis_tables.method(p, p["position"]["rows"][spec["padis"]["no_position"]])}


def padis_cells(rung, spec, contrasts=CONTRASTS):
    """Cells of contrasts (c)-(e) (those of them in ``contrasts``) on the rung's PaDIS dataset."""
    p, sp = rung["padis"], spec["padis"]
    m = padis_methods(rung, spec)
    cells = []
    if "c" in contrasts:
        cells += [_cell(p["dataset"], t, m[k]) for t in sp["tasks"] for k in ("padis", "whole")]
    if "d" in contrasts:
        t = p["position"]["task"]
        cells += [_cell(p["dataset"], t, m["padis"]), _cell(p["dataset"], t, m["no_position"])]
    if "e" in contrasts:
        few = {k: padis_tables.with_train_size(m[k], sp["datasize"]) for k in ("padis", "whole")}
        cells += [_cell(p["dataset"], p["datasize"]["task"], m[k]) for k in ("padis", "whole")]
        cells += [_cell(p["dataset"], p["datasize"]["task"], few[k]) for k in ("padis", "whole")]
    return cells


def ladder_cells(rung, spec, contrasts=CONTRASTS):
    """Every cell one rung needs for ``contrasts`` (letters a-e), each once, in a stable order."""
    unknown = set(contrasts) - set(CONTRASTS)
    if unknown:
        raise KeyError(f"scale: unknown contrast(s) {sorted(unknown)} (known: {list(CONTRASTS)})")
    out, seen = [], set()
    roy = roy_cells(rung, spec) if {"a", "b"} & set(contrasts) else []
    for c in roy + padis_cells(rung, spec, contrasts):
        key = tuple(c[k] for k in CELL_KEYS)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


# ---- contrasts -------------------------------------------------------------------------------


def _psnr(per_image):
    df = per_image.copy()
    for k in CELL_KEYS:
        df[k] = df[k].astype(str)
    return df.set_index([*CELL_KEYS, "image"])["psnr"].sort_index()


def _values(psnr, cell):
    key = tuple(str(cell[k]) for k in CELL_KEYS)
    try:
        return psnr.loc[key]
    except KeyError:
        raise KeyError(f"ladder: no per-image rows for cell {dict(zip(CELL_KEYS, key))}") from None


def paired(psnr, pairs):
    """Mean, standard error and count of PSNR(plus) - PSNR(minus) over every image of every pair
    ``(plus_cell, minus_cell)``; images are matched by index (the same test image and
    measurement in both cells of a pair)."""
    diffs = []
    for plus, minus in pairs:
        a, b = _values(psnr, plus), _values(psnr, minus)
        if not a.index.equals(b.index):
            raise ValueError(f"ladder: cells {plus} and {minus} hold different images")
        diffs.append(a - b)
    d = pd.concat(diffs, ignore_index=True)
    n = int(d.size)
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(d.mean()), se, n


def _mean(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _roy_paper(dataset, tasks, solvers, plus, minus):
    """Roy's Table 1 mean of PSNR(plus) - PSNR(minus), plus/minus as (prior, fraction)."""
    out = []
    for t in tasks:
        for s in solvers:
            a, b = ROY_TABLE1.get((dataset, t, s, *plus)), ROY_TABLE1.get((dataset, t, s, *minus))
            out.append(a - b if a is not None and b is not None else None)
    return _mean(out)


def _row(contrast, label, dataset, tasks, value, paper, source):
    mean, se, n = value
    return {"contrast": contrast, "label": label, "dataset": dataset, "tasks": "+".join(tasks),
            "value": mean, "se": se, "n": n, "paper": paper, "paper_source": source}


def roy_contrasts(psnr, rung, spec, contrasts=CONTRASTS):
    """Rows of contrasts (a) and (b) (those in ``contrasts``) for every Roy dataset."""
    roy, t1 = spec["roy"], rung["tables"]["table1"]
    n, pad = rung["image_size"], t1["pad"][0]
    tasks, solvers = roy["tasks"], roy["solvers"]
    rows = []
    for d in roy["datasets"]:
        def cell(t, s, prior, infer):
            return {"dataset": d, "task": t, "solver": s, "prior": prior, "infer": str(infer), "pad": pad}

        pairs = [(cell(t, s, roy["patch"], "full"), cell(t, s, roy["whole"], "full"))
                 for t in tasks for s in solvers]
        if "a" in contrasts:
            rows.append(_row("a", "patch - whole trained, whole-image inference", d, tasks, paired(psnr, pairs),
                             _roy_paper(d, tasks, solvers, ("patch", 1), ("whole", 1)), "Roy et al. 2025, Table 1"))
        for i in (t1["infer"] if "b" in contrasts else []):
            k = tile_fraction(n, i)
            if k in (None, 1):
                continue
            for kind in ("whole", "patch"):
                pairs = [(cell(t, s, roy[kind], "full"), cell(t, s, roy[kind], i)) for t in tasks for s in solvers]
                rows.append(_row("b", f"cost of N/{k} tiles, {kind}-trained", d, tasks, paired(psnr, pairs),
                                 _roy_paper(d, tasks, solvers, (kind, 1), (kind, k)), "Roy et al. 2025, Table 1"))
    return rows


def padis_contrasts(psnr, rung, spec, contrasts=CONTRASTS):
    """Rows of contrasts (c), (d) and (e) (those in ``contrasts``)."""
    p, sp = rung["padis"], spec["padis"]
    m = padis_methods(rung, spec)
    d = p["dataset"]
    rows = []
    for t in (sp["tasks"] if "c" in contrasts else []):
        paper = PADIS_MAIN.get(t)
        rows.append(_row("c", f"PaDIS - whole-image diffusion, {t}", d, [t],
                         paired(psnr, [(_cell(d, t, m["padis"]), _cell(d, t, m["whole"]))]),
                         paper["padis"] - paper["whole"] if paper else math.nan,
                         "Hu et al. 2024 (PaDIS talk), main table"))
    t = p["position"]["task"]
    if "d" in contrasts:
        rows.append(_row("d", "PaDIS with - without position channels", d, [t],
                         paired(psnr, [(_cell(d, t, m["padis"]), _cell(d, t, m["no_position"]))]),
                         PADIS_POSITION["with position"] - PADIS_POSITION[sp["no_position"]]
                         if sp["no_position"] in PADIS_POSITION else math.nan,
                         "Hu et al. 2024 (PaDIS talk), positional encoding table"))
    t, n = p["datasize"]["task"], sp["datasize"]
    paper_n = sp.get("paper_datasize")
    for i, kind in enumerate(("padis", "whole") if "e" in contrasts else ()):
        few = padis_tables.with_train_size(m[kind], n)
        paper = (PADIS_DATASIZE[PADIS_ALL][i] - PADIS_DATASIZE[paper_n][i]) if paper_n in PADIS_DATASIZE else math.nan
        label = "patch (PaDIS)" if kind == "padis" else "whole-image"
        rows.append(_row("e", f"loss from {n} training images, {label} prior", d, [t],
                         paired(psnr, [(_cell(d, t, m[kind]), _cell(d, t, few))]), paper,
                         f"Hu et al. 2024 (PaDIS talk), dataset size table ({paper_n} of {PADIS_ALL})"))
    return rows


def contrasts(per_image, rung, spec, which=CONTRASTS):
    """The contrasts ``which`` (letters a-e) of one rung as a DataFrame (one row each; ``value``
    and ``paper`` in dB)."""
    psnr = _psnr(per_image)
    return pd.DataFrame(roy_contrasts(psnr, rung, spec, which) + padis_contrasts(psnr, rung, spec, which))


# ---- the ladder table ------------------------------------------------------------------------


def rung_summary(rung, spec):
    """What a rung is: image size, parameters of its whole-image prior's network, training
    steps and batch (of Roy's whole-trained prior)."""
    from patchcore.priors.network import build_network, count_parameters
    from patchcore.priors.training import resolve_options

    prior = rung["priors"][spec["roy"]["whole"]]
    options = resolve_options(prior, rung.get("networks", {}), rung.get("training", {}),
                              rung["image_size"], 1)
    params = count_parameters(build_network(options["prior"]["network"]))
    return {"image_size": int(rung["image_size"]), "parameters": int(params),
            "steps": int(options["training"]["steps"]), "batch": int(options["training"]["batch"])}


def ladder(per_rung):
    """The ladder: ``per_rung`` is ``[(name, summary, contrasts frame), ...]`` in rung order;
    returns one frame with the rung's name and summary columns first."""
    frames = []
    for order, (name, summary, frame) in enumerate(per_rung):
        frame = frame.copy()
        for key, value in reversed(list({"rung": name, "order": order, **summary}.items())):
            frame.insert(0, key, value)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def rung_label(row):
    """A rung's short description, e.g. ``128 px, 0.31 M``."""
    return f"{int(row['image_size'])} px, {row['parameters'] / 1e6:.2f} M"


def markdown(table):
    """The ladder as a Markdown table: one row per contrast, one column per rung (mean +- SE, dB)
    and the paper's value."""
    rungs = table.drop_duplicates("rung").sort_values("order")
    heads = [f"{r['rung']} ({rung_label(r)}, {int(r['steps'])} steps x {int(r['batch'])})"
             for _, r in rungs.iterrows()]
    lines = ["| contrast | " + " | ".join(heads) + " | paper |",
             "|---|" + "---|" * len(heads) + "---|"]
    keys = table.drop_duplicates(["contrast", "label", "dataset"])
    for _, k in keys.iterrows():
        cells = []
        for _, r in rungs.iterrows():
            hit = table[(table["rung"] == r["rung"]) & (table["label"] == k["label"]) & (table["dataset"] == k["dataset"])]
            cells.append("" if hit.empty else f"{hit['value'].iloc[0]:+.2f} ± {hit['se'].iloc[0]:.2f}")
        paper = "" if math.isnan(k["paper"]) else f"{k['paper']:+.2f}"
        lines.append(f"| ({k['contrast']}) {k['label']} [{k['dataset']}, {k['tasks']}] | " + " | ".join(cells)
                     + f" | {paper} |")
    notes = ("PSNR differences in dB, mean ± standard error over the paired test images (and tasks/"
             "solvers pooled). Paper values: " + "; ".join(sorted(set(table["paper_source"]))) + ".")
    return "\n".join(["# Scale ladder", "", *lines, "", notes, ""])
