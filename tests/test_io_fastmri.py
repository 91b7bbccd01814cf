"""fastMRI-layout HDF5: write a tiny volume, read it back through both targets."""

import h5py
import numpy as np
import pytest

from patchcore.io import fastmri_h5
from patchcore.data.kspace import coil_maps, fft2c, ifft2c, rss
from patchcore.data.preparation import center_crop


def tiny_volume(rng, slices=3, coils=2, shape=(16, 12), recon=(8, 8)):
    """Multicoil k-space of a random object and its cropped RSS reference."""
    obj = rng.uniform(size=(slices, *shape))
    kspace = fft2c(coil_maps(rng, coils, shape)[None] * obj[:, None]).astype(np.complex64)
    target = center_crop(rss(ifft2c(kspace), axis=1), recon)
    return kspace, target, fastmri_h5.header_xml(shape, recon)


@pytest.fixture
def volume_file(tmp_path):
    kspace, target, header = tiny_volume(np.random.default_rng(0))
    path = tmp_path / "file_1000.h5"
    fastmri_h5.write_volume(path, kspace, target, {"acquisition": "CORPD_FBK",
                                                   "patient_id": "p0"}, header)
    return path, kspace, target


def test_layout(volume_file):
    path, kspace, target = volume_file
    with h5py.File(path, "r") as f:
        assert f["kspace"].dtype == np.complex64 and f["kspace"].shape == (3, 2, 16, 12)
        assert f["reconstruction_rss"].dtype == np.float32
        assert set(fastmri_h5.REQUIRED_ATTRS) <= set(f.attrs)
        np.testing.assert_allclose(f.attrs["max"], target.max(), rtol=1e-6)
        assert fastmri_h5.recon_size(path, f["ismrmrd_header"][()]) == (8, 8)


def test_both_targets_agree(volume_file):
    path, _, target = volume_file
    stored = fastmri_h5.read_volume(path, "reconstruction_rss")
    from_k = fastmri_h5.read_volume(path, "kspace")
    assert stored.shape == from_k.shape == (3, 8, 8) and stored.dtype == np.float32
    np.testing.assert_allclose(stored, target, rtol=1e-6)
    np.testing.assert_allclose(from_k, stored, rtol=1e-4, atol=1e-6)


def test_slice_selection_and_count(volume_file):
    path, _, target = volume_file
    assert fastmri_h5.num_slices(path) == 3
    np.testing.assert_allclose(fastmri_h5.read_volume(path, "kspace", [1, 2]), target[1:],
                               rtol=1e-4, atol=1e-6)


def test_singlecoil_kspace(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.uniform(size=(2, 16, 12))
    path = tmp_path / "single.h5"
    fastmri_h5.write_volume(path, fft2c(img), center_crop(img, (8, 8)),
                            {"acquisition": "CORPD_FBK", "patient_id": "p1"},
                            fastmri_h5.header_xml((16, 12), (8, 8)))
    np.testing.assert_allclose(fastmri_h5.read_volume(path, "kspace"), center_crop(img, (8, 8)),
                               rtol=1e-5, atol=1e-6)
