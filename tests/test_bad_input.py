"""Bad raw input: one clear ValueError naming the file or key, and no partial outputs."""

import importlib.util
import logging
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pydicom
import pytest

from patchcore.io import aapm_dicom, fastmri_h5
from patchcore.data.kspace import fft2c

ROOT = Path(__file__).resolve().parents[1]
FASTMRI = {"format": "fastmri", "split": {"val": 1, "test": 1, "seed": 0},
           "slices": {"train": 2, "eval": 1}, "target": "reconstruction_rss", "crop": 8,
           "normalise": {"rule": "percentile", "q": 99.5}}
AAPM = {"format": "aapm", "split": {"val": 1, "test": 1, "seed": 0},
        "slices": {"train": "all", "eval": 1}, "window": [-160, 240]}


def load_prepare():
    spec = importlib.util.spec_from_file_location("prepare", ROOT / "workflow_scripts/prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_prepare(tmp_path, raw, entry):
    """Run the prepare entry point; return its outputs (which must not exist after an error)."""
    out = SimpleNamespace(h5=str(tmp_path / "out" / "d.h5"),
                          manifest=str(tmp_path / "out" / "d_manifest.csv"))
    sm = SimpleNamespace(input=SimpleNamespace(raw=str(raw)), output=out,
                         params=SimpleNamespace(entry=entry, image_size=8),
                         wildcards=SimpleNamespace(dataset="d"), log=[str(tmp_path / "log")])
    stderr = sys.stderr
    try:
        load_prepare().main(sm)
    finally:  # undo the script logger's global set-up
        sys.stderr = stderr
        for handler in logging.root.handlers[:]:
            logging.root.removeHandler(handler)
            handler.close()
    return out


def write_h5(path, slices=3, shape=(16, 12)):
    img = np.random.default_rng(0).uniform(0.1, 1, size=(slices, *shape))
    fastmri_h5.write_volume(path, fft2c(img), img[:, 4:12, 2:10],
                            {"acquisition": "CORPD_FBK", "patient_id": path.stem},
                            fastmri_h5.header_xml(shape, (8, 8)))


def fastmri_folder(tmp_path, n=4):
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(n):
        write_h5(raw / f"file_{i}.h5")
    return raw


def assert_fails_cleanly(tmp_path, raw, entry, *fragments):
    with pytest.raises(ValueError) as info:
        run_prepare(tmp_path, raw, entry)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_good_folder_prepares(tmp_path):
    out = run_prepare(tmp_path, fastmri_folder(tmp_path), FASTMRI)
    with h5py.File(out.h5) as f:
        assert f["train"].shape == (4, 1, 8, 8) and f["test"].shape == (1, 1, 8, 8)
        assert 0 <= f["train"][()].min() and f["train"][()].max() <= 1


def test_missing_and_empty_folder(tmp_path):
    assert_fails_cleanly(tmp_path, tmp_path / "nowhere", FASTMRI, "nowhere", "does not exist")
    (tmp_path / "empty").mkdir()
    assert_fails_cleanly(tmp_path, tmp_path / "empty", FASTMRI, "empty", "no *.h5")
    assert_fails_cleanly(tmp_path, tmp_path / "empty", AAPM, "empty", "no patient folders")


def test_missing_key(tmp_path):
    raw = fastmri_folder(tmp_path)
    with h5py.File(raw / "file_2.h5", "a") as f:
        del f["reconstruction_rss"]
    assert_fails_cleanly(tmp_path, raw, FASTMRI, "file_2.h5", "reconstruction_rss", "missing")


def test_wrong_rank(tmp_path):
    raw = fastmri_folder(tmp_path)
    with h5py.File(raw / "file_1.h5", "a") as f:
        del f["kspace"]
        f["kspace"] = np.zeros((16, 12), np.complex64)
    assert_fails_cleanly(tmp_path, raw, {**FASTMRI, "target": "kspace"}, "file_1.h5", "'kspace' has shape")


def test_truncated_file(tmp_path):
    raw = fastmri_folder(tmp_path)
    data = (raw / "file_3.h5").read_bytes()
    (raw / "file_3.h5").write_bytes(data[: len(data) // 2])
    assert_fails_cleanly(tmp_path, raw, FASTMRI, "file_3.h5", "not a readable HDF5")


@pytest.mark.parametrize("target", ["reconstruction_rss", "kspace"])
def test_non_finite_hdf5(tmp_path, target):
    raw = fastmri_folder(tmp_path)
    with h5py.File(raw / "file_0.h5", "a") as f:
        f[target][1, ..., 3, 3] = np.nan if target != "kspace" else np.inf
    assert_fails_cleanly(tmp_path, raw, {**FASTMRI, "target": target}, "file_0.h5", "NaN or Inf")


def ct_folder(tmp_path, n=3):
    raw = tmp_path / "raw"
    for i in range(n):
        aapm_dicom.write_series(raw / f"L{i:03d}", np.zeros((3, 8, 8)), f"L{i:03d}",
                                np.random.default_rng(i))
    return raw


def test_dicom_mixed_sizes(tmp_path):
    raw = ct_folder(tmp_path)
    aapm_dicom.write_series(raw / "L001" / "extra", np.zeros((1, 6, 6)), "L001",
                            np.random.default_rng(9))
    assert_fails_cleanly(tmp_path, raw, AAPM, "image size")


def test_dicom_missing_tag_unreadable_and_nan(tmp_path):
    raw = ct_folder(tmp_path)
    first = sorted((raw / "L002").glob("*.IMA"))[0]
    ds = pydicom.dcmread(first)
    del ds.ImagePositionPatient
    ds.save_as(first)
    assert_fails_cleanly(tmp_path, raw, AAPM, first.name, "ImagePositionPatient")
    first.write_bytes(b"not a dicom file")
    assert_fails_cleanly(tmp_path, raw, AAPM, first.name, "not a readable DICOM")
    write = sorted((raw / "L001").glob("*.IMA"))[0]
    ds = pydicom.dcmread(write)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns that 'NaN' is not a valid DS value
        ds.RescaleSlope = "NaN"
        ds.save_as(write)
    with pytest.raises(ValueError, match="NaN or Inf"):
        aapm_dicom.read_series(raw / "L001")
