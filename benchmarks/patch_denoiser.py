"""Time per NFE and peak memory of the shifted-grid patch denoiser vs the whole-image denoiser.

Each point runs in a fresh process (``python -m patchcore.profiling --json ...``), so CPU peak
memory (peak RSS rise) is not polluted by earlier points. Writes
``benchmarks/results/patch_denoiser.json`` and ``benchmarks/results/patch_denoiser.png``.

Usage: ``python benchmarks/patch_denoiser.py [--device cpu] [--network demo-xxs] [--quick]``.
The default grid (images 64..1024, patches 16/64/full, micro-batch all-at-once or 16,
with/without gradients, 2 NFE per point) takes a few minutes on one CPU core; ``--quick``
keeps images 64..256 for a smoke run.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from patchcore.io.atomic import atomic_path  # noqa: E402

OUT = ROOT / "benchmarks" / "results"


def grid(sizes, patches, micro_batches):
    """Points ``(image_size, patch, micro_batch, grad)``; patches smaller than the image only."""
    points = []
    for n in sizes:
        for grad in (False, True):
            points.append((n, "full", None, grad))
            for p in patches:
                if p < n:
                    points.extend((n, p, mb, grad) for mb in micro_batches)
    return points


def run_point(point, network, device, nfe, timeout):
    n, patch, mb, grad = point
    cmd = [sys.executable, "-m", "patchcore.profiling", "--json", "--network", network, "--image-size", str(n),
           "--patch", str(patch), "--device", device, "--nfe", str(nfe)]
    if mb:
        cmd += ["--micro-batch", str(mb)]
    if grad:
        cmd.append("--grad")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"image_size": n, "patch": patch, "micro_batch": mb, "grad": grad, "error": f"timeout {timeout}s"}
    if done.returncode != 0:
        return {"image_size": n, "patch": patch, "micro_batch": mb, "grad": grad,
                "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _find(results, **key):
    for r in results:
        if "error" not in r and all(r.get(k) == v for k, v in key.items()):
            return r
    return None


def check_targets(results, patch=64, micro_batch=16, small=256, large=1024):
    """The three targets of the memory claim, each with its numbers and a verdict."""
    out = []
    for grad in (False, True):
        a = _find(results, image_size=small, patch=patch, micro_batch=micro_batch, grad=grad)
        b = _find(results, image_size=large, patch=patch, micro_batch=micro_batch, grad=grad)
        if a and b:
            ratio = b["peak_bytes"] / max(a["peak_bytes"], 1)
            out.append({"target": f"peak flat within 10% from {small} to {large} px (patch {patch}, "
                                  f"micro-batch {micro_batch}, grad={grad})",
                        "value": ratio, "pass": ratio <= 1.10})
        full = _find(results, image_size=large, patch="full", grad=grad)
        if b and full:
            ratio = b["peak_bytes"] / max(full["peak_bytes"], 1)
            out.append({"target": f"peak at {large} px with {patch} px tiles <= 1/10 of whole image (grad={grad})",
                        "value": ratio, "pass": ratio <= 0.10})
    for r in results:
        if "error" in r or r["patch"] == "full":
            continue
        full = _find(results, image_size=r["image_size"], patch="full", grad=r["grad"])
        if full:
            allowed = 1.15 * full["time_per_nfe_s"] * (r["padded_size"] / r["image_size"]) ** 2
            out.append({"target": f"time/NFE <= 1.15 x whole-image x padded/image pixels "
                                  f"(N={r['image_size']}, P={r['patch']}, mb={r['micro_batch']}, grad={r['grad']})",
                        "value": r["time_per_nfe_s"] / allowed, "pass": r["time_per_nfe_s"] <= allowed})
    return out


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 8), sharex=True)
    series = sorted({(str(r["patch"]), r["micro_batch"] or 0) for r in results if "error" not in r},
                    key=lambda s: (s[0] == "full", int(s[0]) if s[0] != "full" else 0, s[1]))
    for col, grad in enumerate((False, True)):
        for patch, mb in series:
            pts = sorted((r["image_size"], r) for r in results if "error" not in r and str(r["patch"]) == patch
                         and (r["micro_batch"] or 0) == mb and r["grad"] == grad)
            if not pts:
                continue
            label = "whole image" if patch == "full" else f"patch {patch}, mb {mb or 'all'}"
            xs = [n for n, _ in pts]
            axes[0, col].plot(xs, [r["peak_bytes"] / 2**20 for _, r in pts], "o-", label=label)
            axes[1, col].plot(xs, [r["time_per_nfe_s"] for _, r in pts], "o-", label=label)
        axes[0, col].set_title(f"{'with' if grad else 'without'} gradient")
        axes[0, col].set_ylabel("peak memory rise (MiB)")
        axes[1, col].set_ylabel("time per NFE (s)")
        axes[1, col].set_xlabel("image size (px)")
        for ax in axes[:, col]:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--network", default="demo-xxs")
    ap.add_argument("--nfe", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args(argv)
    sizes = [64, 128, 256] if args.quick else [64, 128, 256, 512, 1024]
    points = grid(sizes, patches=[16, 64], micro_batches=[None, 16])
    results = []
    for i, point in enumerate(points):
        results.append(run_point(point, args.network, args.device, args.nfe, args.timeout))
        r = results[-1]
        status = r.get("error") or f"{r['time_per_nfe_s']:.3f} s/NFE, {r['peak_bytes'] / 2**20:.1f} MiB"
        print(f"[{i + 1}/{len(points)}] N={point[0]} P={point[1]} mb={point[2]} grad={point[3]}: {status}",
              flush=True)
    report = {"network": args.network, "device": args.device, "nfe_per_point": args.nfe,
              "memory_method": next((r["memory_method"] for r in results if "memory_method" in r), None),
              "points": results, "targets": check_targets(results)}
    OUT.mkdir(parents=True, exist_ok=True)
    with atomic_path(OUT / "patch_denoiser.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    plot(results, OUT / "patch_denoiser.png")
    for t in report["targets"]:
        print(("PASS " if t["pass"] else "FAIL ") + f"{t['value']:.3f}  {t['target']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
