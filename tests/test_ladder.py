"""The scale ladder: its contrasts from cell tables (pure), and `snakemake -n scale` planning
every rung's cells through the evaluate rule."""

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from patchcore.experiments import ladder

ROOT = Path(__file__).resolve().parents[1]

SPEC = {"roy": {"datasets": ["knee"], "tasks": ["denoise", "sr2"], "solvers": ["diffpir"],
                "whole": "whole", "patch": "patch"},
        "padis": {"tasks": ["ct20", "ct8"], "no_position": "no position", "datasize": 24, "paper_datasize": 288}}


def rung(image_size=64, tile=16):
    """The parts of a config the ladder reads, with PaDIS at ``tile``-px tiles."""
    padis = {"solver": "padis", "prior": "padis", "infer": tile, "pad": "zero"}
    return {
        "image_size": image_size,
        "tables": {"table1": {"infer": ["full", image_size // 2, image_size // 4], "pad": ["reflect"]}},
        "padis": {"dataset": "ct",
                  "methods": {"Whole image diffusion": {"solver": "padis", "prior": "whole", "infer": "full", "pad": "zero"},
                              "PaDIS": padis},
                  "position": {"task": "ct20", "rows": {"with position": "PaDIS",
                                                        "no position": {**padis, "prior": "padis-nocoords"}}},
                  "datasize": {"task": "ct20", "sizes": [24, "all"], "patch": "PaDIS", "whole": "Whole image diffusion"}},
    }


def per_image(cells, psnr_of, images=3):
    """One row per (cell, image), PSNR given by ``psnr_of(cell, image)``."""
    return pd.DataFrame([{**c, "image": i, "psnr": psnr_of(c, i)} for c in cells for i in range(images)])


def test_each_rung_needs_roy_and_padis_cells_once():
    cells = ladder.ladder_cells(rung(), SPEC)
    keys = [tuple(c[k] for k in ladder.CELL_KEYS) for c in cells]
    assert len(keys) == len(set(keys)) == 12 + 7
    assert ("knee", "sr2", "diffpir", "patch", "16", "reflect") in keys
    assert ("ct", "ct20", "padis", "whole-n24", "full", "zero") in keys
    assert ("ct", "ct20", "padis", "padis-nocoords", "16", "zero") in keys
    big = ladder.ladder_cells(rung(128, 32), SPEC)
    assert ("knee", "denoise", "diffpir", "whole", "32", "reflect") in [tuple(c[k] for k in ladder.CELL_KEYS) for c in big]


def test_contrasts_are_paired_differences_with_the_papers_values():
    r = rung()
    # PSNR = 20 + offsets: patch prior +0.5 dB at full; tiles cost the whole prior 1 dB per
    # halving and the patch prior 0.25; PaDIS +2 over whole; no position -3; 24 images -1.5
    # (patch) and -0.5 (whole); image i adds 0.1 i to every cell (cancels in every pair).
    def psnr(c, i):
        v = 20.0 + 0.1 * i
        if c["dataset"] == "knee":
            halvings = {"full": 0, "32": 1, "16": 2}[c["infer"]]
            v += (0.5 if c["prior"] == "patch" else 0.0) - halvings * (0.25 if c["prior"] == "patch" else 1.0)
        else:
            v += {"padis": 2.0, "whole": 0.0, "padis-nocoords": -1.0, "padis-n24": 0.5, "whole-n24": -0.5}[c["prior"]]
        return v

    table = ladder.contrasts(per_image(ladder.ladder_cells(r, SPEC), psnr), r, SPEC)
    got = {row.label: row for row in table.itertuples()}
    a = got["patch - whole trained, whole-image inference"]
    assert a.value == pytest.approx(0.5) and a.n == 6 and a.se == pytest.approx(0.0, abs=1e-12)
    # Roy et al. Table 1, knee, DiffPIR: (27.75 - 27.85 + 27.84 - 27.86) / 2.
    assert a.paper == pytest.approx(-0.06)
    assert got["cost of N/2 tiles, whole-trained"].value == pytest.approx(1.0)
    assert got["cost of N/4 tiles, whole-trained"].value == pytest.approx(2.0)
    assert got["cost of N/4 tiles, patch-trained"].value == pytest.approx(0.5)
    assert got["cost of N/4 tiles, whole-trained"].paper == pytest.approx((0.17 + 0.18) / 2)
    c20 = got["PaDIS - whole-image diffusion, ct20"]
    assert c20.value == pytest.approx(2.0) and c20.paper == pytest.approx(33.57 - 32.84)
    assert got["PaDIS - whole-image diffusion, ct8"].paper == pytest.approx(29.48 - 25.74)
    d = got["PaDIS with - without position channels"]
    assert d.value == pytest.approx(3.0) and d.paper == pytest.approx(33.57 - 23.25)
    e_patch = got["loss from 24 training images, patch (PaDIS) prior"]
    e_whole = got["loss from 24 training images, whole-image prior"]
    assert e_patch.value == pytest.approx(1.5) and e_whole.value == pytest.approx(0.5)
    assert e_patch.paper == pytest.approx(33.57 - 32.43) and e_whole.paper == pytest.approx(32.84 - 31.09)


def test_standard_error_is_that_of_the_paired_differences():
    r = rung()
    noise = [0.0, 1.0, -1.0]

    def psnr(c, i):
        return 20.0 + (noise[i] if c["prior"] == "patch" and c["infer"] == "full" else 0.0)

    table = ladder.contrasts(per_image(ladder.ladder_cells(r, SPEC), psnr), r, SPEC)
    a = table[table["contrast"] == "a"].iloc[0]
    diffs = pd.Series(noise * 2)
    assert a["value"] == pytest.approx(0.0)
    assert a["se"] == pytest.approx(diffs.std(ddof=1) / math.sqrt(6))


def test_a_rung_measures_only_its_contrasts():
    r = rung()
    cells = ladder.ladder_cells(r, SPEC, ["a", "b", "c"])
    assert len(cells) == 12 + 4 and not any(c["prior"].endswith("-n24") or c["prior"] == "padis-nocoords" for c in cells)
    table = ladder.contrasts(per_image(cells, lambda c, i: 20.0), r, SPEC, ["a", "b", "c"])
    assert sorted(set(table["contrast"])) == ["a", "b", "c"]
    with pytest.raises(KeyError, match="unknown contrast"):
        ladder.ladder_cells(r, SPEC, ["f"])


def test_a_missing_cell_is_named():
    r = rung()
    cells = [c for c in ladder.ladder_cells(r, SPEC) if c["prior"] != "whole-n24"]
    with pytest.raises(KeyError, match="whole-n24"):
        ladder.contrasts(per_image(cells, lambda c, i: 20.0), r, SPEC)


def test_rung_config_merges_the_overlay_and_drops_the_ladder():
    base = {"image_size": 64, "scale": {"rungs": {}}, "priors": {"patch": {"network": "demo", "sampler": {"mode": "random", "sizes": [32]}}}}
    got = ladder.rung_config(base, {"image_size": 128, "priors": {"patch": {"sampler": {"sizes": [64]}}}})
    assert got == {"image_size": 128, "priors": {"patch": {"network": "demo", "sampler": {"mode": "random", "sizes": [64]}}}}
    assert base["priors"]["patch"]["sampler"]["sizes"] == [32] and "scale" in base


def test_the_ladder_overlays_scale_every_patch_size_with_the_image():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for name, entry in config["scale"]["rungs"].items():
        if entry["overlay"] is None:
            continue
        r = ladder.rung_config(config, yaml.safe_load((ROOT / entry["overlay"]).read_text()))
        factor = r["image_size"] // config["image_size"]
        assert r["priors"]["patch"]["sampler"]["sizes"] == [s * factor for s in config["priors"]["patch"]["sampler"]["sizes"]], name
        assert r["tables"]["table1"]["infer"] == [i if i == "full" else i * factor for i in config["tables"]["table1"]["infer"]], name
        assert str(r["padis"]["methods"]["PaDIS"]["infer"]) == str(int(config["padis"]["methods"]["PaDIS"]["infer"]) * factor), name


def test_snakemake_plans_every_rung_through_the_evaluate_rule(tmp_path):
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
                           str(tmp_path), "-n", "scale", "--quiet", "rules"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    jobs = {}
    for line in (done.stdout + done.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            jobs[parts[0]] = int(parts[1])
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for name, entry in config["scale"]["rungs"].items():
        prefix = "" if entry["overlay"] is None else f"{name}_"
        overlay = yaml.safe_load((ROOT / entry["overlay"]).read_text()) if entry["overlay"] else {}
        cells = ladder.ladder_cells(ladder.rung_config(config, overlay), config["scale"],
                                    entry.get("contrasts", ladder.CONTRASTS))
        assert jobs.get(f"{prefix}evaluate") == len(cells), (name, jobs)
        assert jobs.get(f"{prefix}train") == len({(c["dataset"] == "ct", c["prior"]) for c in cells}), (name, jobs)
    assert jobs.get("scale_ladder") == 1 and jobs.get("scale_figure") == 1, jobs
