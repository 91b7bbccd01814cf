"""PaDIS table aggregation (patchcore.experiments.padis) on synthetic cell frames, and its figures."""

import math

import numpy as np
import pandas as pd

from patchcore.inverse.solvers import solver_nfe
import pytest

from patchcore.experiments import padis as pt
from patchcore.figures import padis as figures

SPEC = {
    "dataset": "ct",
    "methods": {
        "ADMM-TV": {"solver": "admm_tv", "prior": "none", "infer": "full", "pad": "zero"},
        "Whole": {"solver": "padis", "prior": "whole", "infer": "full", "pad": "zero"},
        "PaDIS": {"solver": "padis", "prior": "padis", "infer": 16, "pad": "zero"},
    },
    "main": {"tasks": ["ct20", "ct8"]},
    "patch_size": {"task": "ct20", "method": "PaDIS", "sizes": [8, 16, 32], "full": "Whole"},
    "position": {"task": "ct20", "rows": {
        "with position": "PaDIS",
        "no position": {"solver": "padis", "prior": "padis-nocoords", "infer": 16, "pad": "zero"},
    }},
    "datasize": {"task": "ct20", "sizes": [24, "all"], "patch": "PaDIS", "whole": "Whole"},
    "figure": {"tasks": ["ct20", "ct8"], "methods": ["ADMM-TV", "PaDIS"], "image": 0},
}
CONFIG = {"datasets": {"ct": {}}, "tasks": {"ct20": {}, "ct8": {}},
          "solvers": {"padis": {}, "admm_tv": {}}, "priors": {"none": {}, "whole": {}, "padis": {},
                                                              "padis-nocoords": {}}}
IMAGES = 3


def psnr_of(cell, image):
    """A distinct, known PSNR for every (cell, image): a hash of the cell plus the image index."""
    key = "/".join(str(cell[a]) for a in ("task", "solver", "prior", "infer", "pad"))
    return 20.0 + sum(map(ord, key)) % 97 / 10.0 + image


def frame(cells, images=IMAGES):
    rows = []
    for c in cells:
        for i in range(images):
            p = psnr_of(c, i)
            rows.append({**c, "image": i, "psnr": p, "ssim": p / 100.0, "lpips": math.nan,
                         # The same measurement in every cell of a task: the baseline depends on it only.
                         "baseline_psnr": 15.0 + i + (c["task"] == "ct8"), "baseline_ssim": 0.4 + i / 100,
                         "baseline_lpips": math.nan})
    df = pd.DataFrame(rows)
    df["infer"] = df["infer"].astype(str)
    return df


def all_cells():
    return [c for t in pt.TABLES for c in pt.table_cells(SPEC, t)]


def expected(m, task):
    cell = {"task": task, **(pt.method(SPEC, m) if isinstance(m, str) else pt.method(SPEC, dict(m)))}
    return float(np.mean([psnr_of(cell, i) for i in range(IMAGES)]))


def test_spec_is_consistent_and_errors_name_the_key():
    assert pt.check_spec(SPEC, CONFIG) == []
    bad = {**SPEC, "datasize": {**SPEC["datasize"], "patch": "Nope"}}
    errors = pt.check_spec(bad, CONFIG)
    assert any("padis.datasize" in e and "Nope" in e for e in errors)
    bad = {**SPEC, "main": {"tasks": ["mri4x"]}}
    assert any("'mri4x' is not defined under 'tasks'" in e for e in pt.check_spec(bad, CONFIG))
    assert pt.check_spec(None, CONFIG) == ["padis: missing or not a mapping"]
    bad = {**SPEC, "methods": {**SPEC["methods"], "PaDIS": {**SPEC["methods"]["PaDIS"], "prior": "padis-nx"}}}
    assert any("padis-nx" in e for e in pt.check_spec(bad, CONFIG))


def test_table_cells_are_distinct_and_use_derived_priors():
    cells = pt.table_cells(SPEC, "datasize")
    assert [c["prior"] for c in cells] == ["padis-n24", "whole-n24", "padis", "whole"]
    main = pt.table_cells(SPEC, "main")
    assert len(main) == 6 and len({tuple(c.values()) for c in main}) == 6
    assert all(c["infer"] == "16" for c in main if c["prior"] == "padis")
    sizes = [c["infer"] for c in pt.table_cells(SPEC, "patch_size")]
    assert sizes == ["8", "16", "32", "full"]


def test_main_table_means_order_and_baseline_row():
    table = pt.main_table(frame(all_cells()), SPEC)
    assert list(table["method"]) == ["Baseline", "ADMM-TV", "Whole", "PaDIS"]
    assert list(table.columns[1:5]) == ["ct20_psnr", "ct20_ssim", "ct8_psnr", "ct8_ssim"]
    for task in ("ct20", "ct8"):
        for name in SPEC["methods"]:
            row = table[table["method"] == name].iloc[0]
            assert row[f"{task}_psnr"] == pytest.approx(expected(name, task))
            assert row[f"{task}_ssim"] == pytest.approx(expected(name, task) / 100)
    base = table.iloc[0]
    # Baseline: each image counts once, whatever the number of cells that recorded it.
    assert base["ct20_psnr"] == pytest.approx(16.0) and base["ct8_psnr"] == pytest.approx(17.0)
    assert base["ct20_ssim"] == pytest.approx(0.41) and (table["images"] == IMAGES).all()


def test_missing_cell_is_nan_and_rendered_as_dash():
    df = frame(all_cells())
    df = df[~((df["task"] == "ct8") & (df["solver"] == "admm_tv"))]
    table = pt.main_table(df, SPEC)
    row = table[table["method"] == "ADMM-TV"].iloc[0]
    assert math.isnan(row["ct8_psnr"]) and not math.isnan(row["ct20_psnr"]) and row["images"] == 0
    desc = {"dataset": "ct", "images": 3, "split": "test", "image_size": 64, "nfe": {"PaDIS": 60}}
    md = pt.render(table, "main", desc)
    assert "3 test images" in md and "64x64" in md and "PaDIS: 60" in md
    admm_line = next(line for line in md.splitlines() if line.startswith("| ADMM-TV"))
    assert admm_line.split("|")[4].strip() == "-" and admm_line.split("|")[2].strip() != "-"


def test_patch_size_table_rows_and_full_row():
    table = pt.patch_size_table(frame(all_cells()), SPEC, image_size=64)
    assert list(table["P"]) == [8, 16, 32, 64]
    assert table["psnr"].iloc[1] == pytest.approx(expected("PaDIS", "ct20"))
    assert table["psnr"].iloc[3] == pytest.approx(expected("Whole", "ct20"))
    assert table["psnr"].iloc[0] == pytest.approx(expected({**pt.method(SPEC, "PaDIS"), "infer": "8"}, "ct20"))


def test_position_table():
    table = pt.position_table(frame(all_cells()), SPEC)
    assert list(table["variant"]) == ["with position", "no position"]
    nocoords = SPEC["position"]["rows"]["no position"]
    assert table["psnr"].iloc[1] == pytest.approx(expected(pt.method(SPEC, nocoords), "ct20"))


def test_datasize_table_columns_and_all_row():
    table = pt.datasize_table(frame(all_cells()), SPEC, train_size=192)
    assert list(table.columns) == ["train_images", "patch_psnr", "patch_ssim", "whole_psnr", "whole_ssim", "images"]
    assert list(table["train_images"]) == ["24", "192"]
    n24 = {**pt.method(SPEC, "Whole"), "prior": "whole-n24"}
    assert table["whole_psnr"].iloc[0] == pytest.approx(expected(n24, "ct20"))
    assert table["patch_psnr"].iloc[1] == pytest.approx(expected("PaDIS", "ct20"))
    assert list(pt.datasize_table(frame(all_cells()), SPEC)["train_images"]) == ["24", "all"]
    assert "Whole image PSNR" in pt.render(table, "datasize", {"dataset": "ct", "images": 3, "split": "test",
                                                              "image_size": 64, "nfe": {}})


def test_solver_nfe():
    assert solver_nfe("padis", {"levels": 20, "inner": 3}) == 60
    assert solver_nfe("padis-init", {"algorithm": "padis", "levels": 5, "inner": 2}) == 10
    assert solver_nfe("dps", {"nfe": 50}) == 50
    assert solver_nfe("admm_tv", {"lam": 1e-4}) == 0


def test_figures_build():
    df = frame(all_cells())
    fig = figures.psnr_vs_patch_size(pt.patch_size_table(df, SPEC, 64), 64)
    assert len(fig.axes) == 2
    fig = figures.psnr_vs_training_size(pt.datasize_table(df, SPEC))
    assert len(fig.axes[0].lines) == 2
    img = np.random.default_rng(0).random((1, 8, 8))
    fig = figures.reconstructions([[img, img, None], [img, img, img]], ["ct20", "ct8"], ["a", "b", "c"],
                                  [[30.0, 31.0, None], [20.0, 21.0, None]])
    assert len(fig.axes) == 6
