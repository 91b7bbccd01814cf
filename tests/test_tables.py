"""Aggregation of synthetic cell files into the Table 1 layout."""

import numpy as np
import pandas as pd
import pytest

from patchcore.experiments import tables

SPEC = {"datasets": ["knee", "brain"], "tasks": ["denoise", "sr2"], "solvers": ["dps"],
        "priors": ["whole", "patch"], "infer": ["full", 32], "pad": ["reflect"]}


def synthetic_cells(rng):
    rows = []
    for d in SPEC["datasets"]:
        for t in SPEC["tasks"]:
            for p in SPEC["priors"]:
                for i in SPEC["infer"]:
                    for img in range(3):
                        rows.append({"dataset": d, "task": t, "solver": "dps", "prior": p,
                                     "infer": i, "pad": "reflect", "image": img,
                                     "psnr": rng.normal(28, 1), "lpips": rng.uniform(0.1, 0.3),
                                     "baseline_psnr": 20.0 + img})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # files arrive in any order


def test_table1_means_stds_and_order():
    df = synthetic_cells(np.random.default_rng(0))
    table = tables.table1(df, SPEC)
    assert list(table[["dataset", "task", "infer"]].itertuples(index=False, name=None))[:3] == [
        ("knee", "denoise", "full"), ("knee", "denoise", "32"), ("knee", "sr2", "full")]
    assert len(table) == 2 * 2 * 1 * 2
    value_cols = [c for c in table.columns if c.startswith(("whole_", "patch_"))]
    assert value_cols == ["whole_psnr_mean", "whole_psnr_std", "whole_lpips_mean", "whole_lpips_std",
                          "patch_psnr_mean", "patch_psnr_std", "patch_lpips_mean", "patch_lpips_std"]
    sel = df[(df.dataset == "brain") & (df.task == "sr2") & (df.prior == "patch") & (df.infer == 32)]
    row = table[(table.dataset == "brain") & (table.task == "sr2") & (table.infer == "32")].iloc[0]
    assert row.patch_psnr_mean == pytest.approx(sel.psnr.mean())
    assert row.patch_psnr_std == pytest.approx(sel.psnr.std(ddof=0))
    assert row.patch_lpips_std == pytest.approx(sel.lpips.std(ddof=0))
    assert row.baseline_psnr_mean == pytest.approx(21.0)
    assert row.images == 3


def test_markdown_states_size_and_missing_lpips():
    df = synthetic_cells(np.random.default_rng(1))
    df["lpips"] = np.nan
    md = tables.table1_markdown(tables.table1(df, SPEC),
                                {"images": 3, "split": "test", "image_size": 64, "nfe": {"dps": 50}})
    assert "3 test images" in md and "64x64" in md and "dps 50" in md
    assert "missing" in md
    assert "whole: PSNR" in md and md.count("\n|") >= 8


def test_attach_lpips_merges_per_image_and_names_a_mismatched_cell():
    df = synthetic_cells(np.random.default_rng(2)).drop(columns="lpips")
    scores = df[tables.AXES + ["image"]].assign(infer=lambda d: d["infer"].astype(str),
                                                lpips=0.25, baseline_lpips=0.5)
    merged = tables.attach_lpips(df, scores.sample(frac=1.0, random_state=1))
    assert len(merged) == len(df) and (merged["lpips"] == 0.25).all()
    assert (merged["baseline_lpips"] == 0.5).all()
    with pytest.raises(ValueError, match="cell knee/denoise/dps/whole/full/reflect: image 2"):
        tables.attach_lpips(df, scores[~((scores.dataset == "knee") & (scores.task == "denoise") &
                                         (scores.prior == "whole") & (scores.infer == "full") &
                                         (scores.image == 2))])


def test_html_table_holds_every_row_and_the_same_cells_as_markdown():
    df = synthetic_cells(np.random.default_rng(3))
    table = tables.table1(df, SPEC)
    desc = {"images": 3, "split": "test", "image_size": 64, "nfe": {"dps": 50}}
    page = tables.table1_html(table, desc)
    md = tables.table1_markdown(table, desc)
    assert page.count("<tr") == len(table) + 1  # header + one per row
    first = md.splitlines()[4].split("|")[5].strip()  # first data row, whole: PSNR
    assert f"<td>{first}</td>" in page and "64x64" in page
