"""configs/paper.yaml's shapes, executed: raw fastMRI / AAPM files at paper size, preparation at
256 px, one training step of the paper's whole and patch priors, and DPS / DiffPIR cells with
whole-image and 64-px inference through the `evaluate` and `table1` rules.

Counts (volumes, slices, coils, steps, NFE, images, network width, table cells) are cut by the
overlay tests/configs/paper_shapes.yaml merged over config.yaml and configs/paper.yaml; no code
path knows about it. The first test checks that the overlay changes counts only.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pydicom
import pytest
import yaml
from snakemake.utils import update_config

from patchcore.io.prepared import read_split

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "configs" / "paper.yaml"
OVERLAY = ROOT / "tests" / "configs" / "paper_shapes.yaml"
# fastMRI multicoil: k-space read-out oversampled twice, 320 x 320 targets; AAPM: 512 x 512.
KSPACE = {"knee": (640, 368), "brain": (640, 320)}


def merged(*files):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for f in files:
        update_config(config, yaml.safe_load(Path(f).read_text()))
    return config


def test_overlay_keeps_every_shape_of_the_paper_config():
    paper, cut = merged(PAPER), merged(PAPER, OVERLAY)
    assert cut["image_size"] == paper["image_size"] == 256
    for name in ("knee", "brain"):
        assert cut["datasets"][name]["crop"] == paper["datasets"][name]["crop"] == 320
        assert tuple(cut["datasets"][name]["synthetic"]["matrix"]) == KSPACE[name]
    assert cut["datasets"]["ct"]["synthetic"]["size"] == 512
    assert cut["priors"] == paper["priors"]  # samplers: whole images, 128-px patches
    net = cut["networks"]["edm2-xs"]
    assert net["preset"] == paper["networks"]["edm2-xs"]["preset"] == "edm2-xs-256"
    assert set(net) <= {"preset", "model_channels"}  # only the width is cut
    t = cut["tables"]["table1"]
    assert set(map(str, t["infer"])) <= set(map(str, paper["tables"]["table1"]["infer"]))
    assert {"full", "64"} <= set(map(str, t["infer"])) and set(t["solvers"]) == {"dps", "diffpir"}
    assert cut["tasks"] == paper["tasks"]
    for solver in t["solvers"]:  # only the NFE differ from the paper's solver settings
        a, b = dict(cut["solvers"][solver]), dict(paper["solvers"][solver])
        a.pop("nfe"), b.pop("nfe")
        assert a == b


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("paper_shapes")
    shutil.copy(ROOT / "config.yaml", work / "config.yaml")
    args = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
            str(work), "--configfile", str(PAPER), str(OVERLAY), "--cores", "2",
            "results/table1.csv", "results/prepared/ct.h5"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, PATCHCORE_DEVICE="cpu", OMP_NUM_THREADS="1"))
    if done.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-1500:]}" for p in sorted((work / "logs").rglob("*.log")))
        raise AssertionError(f"paper-shape run failed:\n{done.stderr[-3000:]}\n{logs[-6000:]}")
    return work


@pytest.mark.slow
def test_raw_files_have_the_paper_sizes(paper_run):
    for name, (h, w) in KSPACE.items():
        files = sorted((paper_run / "resources/synthetic" / name).glob("*.h5"))
        assert files
        with h5py.File(files[0]) as f:
            assert f["kspace"].shape[2:] == (h, w) and f["kspace"].dtype == np.complex64
            assert f["reconstruction_rss"].shape[1:] == (320, 320)
    dicom = next((paper_run / "resources/synthetic/ct").rglob("*.IMA"))
    assert "Full Dose" in str(dicom)  # the series folder that paper.yaml's `include` selects
    assert pydicom.dcmread(dicom).pixel_array.shape == (512, 512)


@pytest.mark.slow
def test_prepared_images_are_256_px(paper_run):
    for name in ("knee", "brain", "ct"):
        for split in ("train", "test"):
            x = read_split(paper_run / f"results/prepared/{name}.h5", split)
            assert x.shape[1:] == (1, 256, 256) and len(x) >= 1, (name, split, x.shape)
            assert 0 <= float(x.min()) and float(x.max()) <= 1


@pytest.mark.slow
def test_priors_trained_one_step_with_the_paper_network(paper_run):
    import json

    for prior, sizes in (("whole", [256]), ("patch", [128])):
        opts = json.loads((paper_run / f"results/priors/mri/{prior}/options.json").read_text())
        text = json.dumps(opts)
        assert '"channel_mult": [1, 2, 2, 4]' in text and '"attn_levels": [2, 3]' in text, text
        assert f'"sizes": {sizes}' in text, text
        history = pd.read_csv(paper_run / f"results/priors/mri/{prior}/training.csv")
        assert history["step"].max() == 1 and np.isfinite(history["loss"].dropna()).all()


@pytest.mark.slow
def test_cells_and_table_at_256_px(paper_run):
    cells = sorted(p for p in (paper_run / "results/cells").rglob("*.csv") if not p.name.endswith(".lpips.csv"))
    assert len(cells) == 8, cells  # dps, diffpir x whole, patch x full, 64
    for path in cells:  # LPIPS is scored apart, one file per cell (NaN without the weights)
        assert len(pd.read_csv(path.with_suffix(".lpips.csv"))) == 1
    for path in cells:
        metrics = pd.read_csv(path)
        assert len(metrics) == 1 and np.isfinite(metrics[["psnr", "baseline_psnr"]].values).all()
        kept = np.load(path.with_suffix(".npy"))
        assert kept.shape == (1, 3, 1, 256, 256)
    text = (paper_run / "results/table1.md").read_text()
    assert "knee 1" in text and "ct 1" not in text  # the images of Table 1's datasets only
    table = pd.read_csv(paper_run / "results/table1.csv")
    assert set(table["infer"].astype(str)) == {"full", "64"} and len(table) == 4
    assert table[["whole_psnr_mean", "patch_psnr_mean"]].notna().all().all()
