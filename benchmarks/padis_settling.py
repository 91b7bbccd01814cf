"""Settling experiment (issue 20): are the PaDIS findings the implementation or the scale?

On the trained 64-px CT priors (`whole`, `padis`, `padis-nocoords`) and the CT test slices,
each of three methods (whole-image diffusion; PaDIS: the position-aware patch prior on the
zero-padded 16-px shifted grid; PaDIS without position channels) reconstructs sparse-view CT
with two versions of the PaDIS sampler:

- ``previous``: the project's sampler before this issue (the slide's Langevin noise
  z ~ N(0, sigma_t^2 I), noise-free padding, the slide's squared data step, 20 levels x 3 = 60
  NFE from sigma 0.3, as tuned then);
- ``official``: the official code's (unit Langevin noise, the padded canvas in the state, data
  step zeta grad ||r||, 100 levels x 10 = 1000 NFE from sigma 10 to 0.003; our images and
  sigmas are on the official [0, 1] scale, so the schedule carries over unchanged). zeta does not
  carry over: the official CT operator's line integrals are about 40x ours (a 40-unit field of
  view against our unit one), so its zeta 0.3 is about 12 here; the first grid (0.1, 0.3, 1)
  peaked at its edge and was replaced by 1, 3, 10, 30 (the superseded entries stay in the JSON);
- ``official, noise-free padding`` (``--experiment padding``, patch rows of the 20-view tasks):
  the official sampler with ``canvas=False``, to isolate the padding noise; the official
  sampler's zeta, not re-tuned.

Tasks: 20 and 8 views as literal counts (``ct20``, ``ct8``) and as the paper's undersampling
(``ct20at256``, ``ct8at256``: 20 and 8 views at 256 px, i.e. 5 and 2 views at 64 px). Each
(task, method, sampler) chooses zeta on the validation slices (all candidates in one batch, one
zeta per image) and is then scored on the test slices; ADMM-TV chooses its weight the same
way. Measurements are those of the grid (``patchcore.experiments.grid.measurement_seed``), so
every row of a task sees the same data. Rows run batched (one batch of images per solver
call), not image by image as in the grid: statistically the same, not the same random draws.

``--experiment nfe`` runs the official sampler at 60 and 200 NFE (6 and 20 levels of 10 inner
iterations, zeta chosen on validation at each; 1000 NFE is ``official``) for the NFE budget of
the demo (issue 20 item 5).

Run after the priors exist (``snakemake results/priors/ct/{whole,padis,padis-nocoords}/model.safetensors``):
    python benchmarks/padis_settling.py --tasks ct20 ct8          # one process per task list
    python benchmarks/padis_settling.py --report                  # the table from every task's file
Results: benchmarks/results/padis_settling/<task>.json (``settling``) and
<task>.<experiment>.json (the others; resumable: finished entries are kept),
benchmarks/results/padis_settling.md (every experiment's rows and the contrasts).
"""

import argparse
import json
import math
import time
from pathlib import Path

import torch

from patchcore.experiments.cell import clip_image
from patchcore.experiments.grid import measurement_seed
from patchcore.inverse import metrics, schemes
from patchcore.inverse.operators import make_operator
from patchcore.inverse.schedules import karras_sigmas
from patchcore.inverse.solvers import SOLVERS
from patchcore.io.atomic import write_text
from patchcore.io.checkpoint import load_prior
from patchcore.io.prepared import read_split
from patchcore.seeds import derived_seed

RESULTS = Path("benchmarks/results")
SIGMA_Y = 0.002
TASKS = {"ct20": {"n_angles": 20}, "ct8": {"n_angles": 8},
         "ct20at256": {"n_angles": 20, "views_at": 256}, "ct8at256": {"n_angles": 8, "views_at": 256}}
ROWS = {"whole-image diffusion": ("whole", "full"), "PaDIS": ("padis", "16"),
        "PaDIS without positions": ("padis-nocoords", "16")}
PREVIOUS = {"noise": "slide", "data_step": "squared", "canvas": False, "final_noise": True, "init": "noise"}
SAMPLERS = {
    "previous": {"levels": 20, "inner": 3, "sigma_max": 0.3, "options": PREVIOUS, "zetas": [0.3, 1.0, 3.0, 10.0]},
    "official": {"levels": 100, "inner": 10, "sigma_max": 10.0, "sigma_min": 0.003, "options": {},
                 "zetas": [1.0, 3.0, 10.0, 30.0]},
}
# The official sampler with noise-free padding (canvas=False), the official zeta: isolates the
# padding noise (``--experiment padding``; patch rows of the 20-view tasks).
PADDING_SAMPLERS = {"official, noise-free padding": {"levels": 100, "inner": 10, "sigma_max": 10.0,
                                                     "sigma_min": 0.003, "options": {"canvas": False},
                                                     "zeta_from": "official"}}
_OFFICIAL = {"sigma_max": 10.0, "sigma_min": 0.003, "inner": 10, "options": {}}
# The official sampler with fewer levels (the 1000-NFE point is "official" itself).
NFE_SAMPLERS = {f"official, {10 * levels} NFE": {**_OFFICIAL, "levels": levels, "zetas": zetas}
                for levels, zetas in ((6, [3.0, 10.0, 30.0, 100.0]), (20, [1.0, 3.0, 10.0, 30.0]))}
# experiment -> its samplers; each writes benchmarks/results/padis_settling/<task>[.<experiment>].json
EXPERIMENTS = {"settling": SAMPLERS, "padding": PADDING_SAMPLERS, "nfe": NFE_SAMPLERS}
TV_LAMS = [1e-5, 1e-4, 1e-3, 1e-2]


def measure(op, images, task, root_seed=0):
    """The grid's measurements of ``images`` (n, 1, N, N): y of every image, batched."""
    ys = [op.measure(images[i : i + 1], SIGMA_Y, torch.Generator().manual_seed(
        measurement_seed(root_seed, "ct", task, i))) for i in range(images.shape[0])]
    return torch.cat(ys)


def psnrs(x, gt):
    return [float(v) for v in metrics.psnr(clip_image(x), gt)]


def sampler_sigmas(spec, task):
    """The sampler's noise levels; the previous sampler's sigma_min was 0.01 for 20 views, 0.03 sparser."""
    sigma_min = spec.get("sigma_min", 0.01 if task == "ct20" else 0.03)
    return karras_sigmas(spec["levels"], sigma_min, spec["sigma_max"], 7.0)


def run_padis(prior, infer, op, y, zeta, spec, task, seed):
    """PaDIS sampler with ``zeta`` (float or per-image tensor) on measurements ``y``."""
    gen = torch.Generator().manual_seed(seed)
    den = schemes.make_denoiser(prior, infer, "zero", gen, None)
    with torch.no_grad():
        return SOLVERS["padis"](den, y, op, sampler_sigmas(spec, task), generator=gen, sigma_y=SIGMA_Y,
                               inner=spec["inner"], zeta=zeta, eps=0.5, **spec["options"])


def tune_and_test(solve, candidates, val, y_val, test, y_test):
    """Choose the candidate with the best mean validation PSNR (all candidates in one batch when
    ``solve`` takes a per-image tensor), then score it on the test images."""
    k, n = len(candidates), val.shape[0]
    out = solve(torch.tensor(candidates, dtype=torch.float64).repeat_interleave(n), y_val.repeat(k, 1, 1, 1))
    scores = torch.tensor(psnrs(out, val.repeat(k, 1, 1, 1))).reshape(k, n).mean(1)
    best = candidates[int(scores.argmax())]
    return {"val": dict(zip(map(str, candidates), scores.tolist())), "value": best,
            "test": psnrs(solve(best, y_test), test)}


def admm_tv_entry(op, val, y_val, test, y_test):
    def solve(lam, y):
        lams = lam.tolist() if torch.is_tensor(lam) else [lam] * y.shape[0]
        return torch.cat([SOLVERS["admm_tv"](None, y[i : i + 1], op, None, generator=None, sigma_y=SIGMA_Y,
                                             lam=float(lams[i]), iters=30) for i in range(y.shape[0])])
    return tune_and_test(solve, TV_LAMS, val, y_val, test, y_test)


# The position ablation holds the sampler fixed: at 1000 NFE (and in the NFE experiment) the row
# without positions takes PaDIS's zeta instead of choosing its own (a third of the cost).
BORROWS_ZETA = {"PaDIS without positions": "PaDIS"}


def borrowed_zeta(row, name, spec, done):
    """The entry key whose zeta ``(row, sampler)`` takes, or None when it chooses its own."""
    if "zeta_from" in spec:
        return f"{row} | {spec['zeta_from']}"
    if row in BORROWS_ZETA and name != "previous":
        return f"{BORROWS_ZETA[row]} | {name}"
    return None


def padis_entry(prior, infer, op, task, row, name, spec, data, done):
    """One (task, method, sampler) entry: tuned (or borrowed) zeta, test PSNRs, NFE, CPU time."""
    val, y_val, test, y_test = data
    seed = derived_seed("settling", task, row, name)
    solve = lambda zeta, y: run_padis(prior, infer, op, y, zeta, spec, task, seed)  # noqa: E731
    start = time.process_time()
    source = borrowed_zeta(row, name, spec, done)
    if source:
        zeta = done[source]["value"]
        entry = {"value": zeta, "zeta_from": source, "test": psnrs(solve(zeta, y_test), test)}
    else:
        entry = tune_and_test(solve, spec["zetas"], val, y_val, test, y_test)
    entry.update(nfe=spec["levels"] * spec["inner"], cpu_s=time.process_time() - start)
    return entry


def entries_for(task, samplers, baselines=True):
    """(key, kind, row, sampler) of every entry of one task: baselines, then each row's samplers
    (the row without positions last: its prior is the last to train)."""
    keys = [("FBP", "fbp", None, None), ("ADMM-TV", "tv", None, None)] if baselines else []
    for row in ROWS:
        for name, spec in samplers.items():
            if "zeta_from" in spec and (row == "whole-image diffusion" or task.startswith("ct8")):
                continue
            keys.append((f"{row} | {name}", "padis", row, name))
    return keys


def wait_for(path, poll=60):
    """Block until ``path`` exists (a prior still training in another process)."""
    while not path.exists():
        print(f"waiting for {path}", flush=True)
        time.sleep(poll)


def task_results(out, task):
    """Every entry of one task over the experiments' files (``<task>.json``, ``<task>.<experiment>.json``)."""
    merged = {}
    for path in sorted(out.glob(f"{task}.json")) + sorted(out.glob(f"{task}.*.json")):
        merged.update(json.loads(path.read_text()))
    return merged


def run_task(task, experiment, out, priors, data_file, val_images, test_images):
    samplers = EXPERIMENTS[experiment]
    path = out / (f"{task}.json" if experiment == "settling" else f"{task}.{experiment}.json")
    done = json.loads(path.read_text()) if path.exists() else {}
    known = {**task_results(out, task), **done}  # entries of other experiments (borrowed zetas)
    val = read_split(data_file, "val")[:val_images]
    test = read_split(data_file, "test")[:test_images]
    op = make_operator("ct20", val.shape[-1], **TASKS[task])
    data = (val, measure(op, val, task), test, measure(op, test, task))
    for key, kind, row, name in entries_for(task, samplers, baselines=experiment == "settling"):
        if key in done or key.startswith("_"):
            continue
        if kind == "fbp":
            done[key] = {"test": psnrs(op.baseline(data[3]), test)}
        elif kind == "tv":
            done[key] = admm_tv_entry(op, *data)
        else:
            prior_name, infer = ROWS[row]
            wait_for(priors / prior_name / "model.safetensors")
            prior = load_prior(priors / prior_name, "cpu").eval().requires_grad_(False)
            done[key] = padis_entry(prior, infer, op, task, row, name, samplers[name], data, known)
        done[key]["views"] = op.n_angles
        known[key] = done[key]
        write_text(path, json.dumps(done, indent=1) + "\n")
        print(f"{task} {key}: {sum(done[key]['test']) / len(done[key]['test']):.2f} dB", flush=True)


def paired(a, b):
    """Mean and standard error of the paired difference a - b (lists of per-image PSNR)."""
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / len(d)
    se = math.sqrt(sum((v - mean) ** 2 for v in d) / (len(d) - 1) / len(d)) if len(d) > 1 else float("nan")
    return mean, se


def report(samplers, out):
    results = {t: task_results(out, t) for t in TASKS}
    tasks = [t for t in TASKS if results[t]]
    mean = lambda e: sum(e["test"]) / len(e["test"])  # noqa: E731
    head = " | ".join(f"{t} ({results[t]['FBP']['views']} views)" for t in tasks)
    lines = [f"| row | sampler | {head} |", "|---|---|" + "---|" * len(tasks)]
    keys = [k for k, *_ in entries_for("ct20", samplers)]
    for key in keys:
        if not any(key in results[t] for t in tasks):
            continue
        row, _, sampler = key.partition(" | ")
        cells = [f"{mean(results[t][key]):.2f}" + (f" (zeta {results[t][key]['value']:g})" if "value" in results[t][key]
                 and sampler else (f" (lam {results[t][key]['value']:g})" if "value" in results[t][key] else ""))
                 if key in results[t] else "" for t in tasks]
        lines.append(f"| {row} | {sampler} | " + " | ".join(cells) + " |")
    lines += ["", "Contrasts (paired over the test slices, dB, mean ± s.e.):", "",
              f"| contrast | sampler | {' | '.join(tasks)} |", "|---|---|" + "---|" * len(tasks)]
    for label, a, b in (("PaDIS - whole-image diffusion", "PaDIS", "whole-image diffusion"),
                        ("with - without positions", "PaDIS", "PaDIS without positions")):
        for sampler in samplers:
            cells = []
            for t in tasks:
                ka, kb = f"{a} | {sampler}", f"{b} | {sampler}"
                ok = ka in results[t] and kb in results[t]
                cells.append("%+.2f ± %.2f" % paired(results[t][ka]["test"], results[t][kb]["test"]) if ok else "")
            if any(cells):
                lines.append(f"| {label} | {sampler} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    write_text(out.parent / "padis_settling.md", text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="settling", choices=list(EXPERIMENTS))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--priors", type=Path, default=Path("results/priors/ct"))
    parser.add_argument("--data", type=Path, default=Path("results/prepared/ct.h5"))
    parser.add_argument("--val-images", type=int, default=2)
    parser.add_argument("--test-images", type=int, default=4)
    parser.add_argument("--report", action="store_true", help="only write the table from the saved entries")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = RESULTS / "padis_settling"
    if not args.report:
        out.mkdir(parents=True, exist_ok=True)
        for task in args.tasks:
            run_task(task, args.experiment, out, args.priors, args.data, args.val_images, args.test_images)
    report({k: v for samplers in EXPERIMENTS.values() for k, v in samplers.items()}, out)


if __name__ == "__main__":
    main()
