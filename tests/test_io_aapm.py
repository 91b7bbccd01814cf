"""AAPM-style DICOM series: shuffled files read back in z order with exact HU."""

import numpy as np
import pydicom
import pytest

from patchcore.io import aapm_dicom


@pytest.fixture
def series(tmp_path):
    rng = np.random.default_rng(0)
    hu = rng.integers(-1024, 2000, size=(6, 12, 10)).astype(np.float32)
    hu[:, 0, 0] = np.arange(6)  # a per-slice tag to check the order
    aapm_dicom.write_series(tmp_path / "L067", hu, "L067", rng)
    return tmp_path / "L067", hu


def test_files_are_ct_dicom_with_aapm_names(series):
    folder, hu = series
    files = sorted(folder.glob("*.IMA"))
    assert len(files) == 6 and all(f.name.startswith("L067_FD_1_1.CT.0001.") for f in files)
    ds = pydicom.dcmread(files[0])
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert ds.pixel_array.dtype == np.uint16 and (ds.Rows, ds.Columns) == (12, 10)
    assert float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1


def test_names_are_shuffled_relative_to_z(series):
    folder, _ = series
    zs = [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in sorted(folder.glob("*.IMA"))]
    assert zs != sorted(zs, reverse=True)


def test_read_back_in_z_order_exact_hu(series):
    folder, hu = series
    out = aapm_dicom.read_series(folder)
    assert out.dtype == np.float32 and out.shape == hu.shape
    np.testing.assert_array_equal(out, hu)


def test_hu_clipped_to_uint16_range(tmp_path):
    hu = np.full((2, 4, 4), -3000.0)
    aapm_dicom.write_series(tmp_path / "L1", hu, "L1", np.random.default_rng(0))
    assert aapm_dicom.read_series(tmp_path / "L1").min() == -1024
