"""Synthetic raw data (patchcore.data.synthetic): shapes of the fastMRI layout, CT geometry, seeds."""

import numpy as np
import pytest

from patchcore.data import synthetic
from patchcore.data.kspace import ifft2c, rss
from patchcore.data.preparation import center_crop


def test_fastmri_volume_has_the_fastmri_layout_and_its_target_is_the_rss_of_its_kspace():
    settings = {"kind": "knee", "slices": 2, "matrix": [64, 36], "coils": 3, "noise": 0.01}
    kspace, target, recon = synthetic.fastmri_volume(synthetic.volume_rng(11, 0), settings)
    assert kspace.shape == (2, 3, 64, 36) and kspace.dtype == np.complex64
    assert recon == (32, 32) and target.shape == (2, 32, 32)
    np.testing.assert_allclose(target, center_crop(rss(ifft2c(kspace), axis=1), recon), rtol=1e-6)


def test_same_seed_same_volume_other_index_other_volume():
    settings = {"kind": "abdomen", "slices": 2, "size": 32}
    a, spacing, thickness = synthetic.ct_volume(synthetic.volume_rng(13, 0), settings)
    b, _, _ = synthetic.ct_volume(synthetic.volume_rng(13, 0), settings)
    c, _, _ = synthetic.ct_volume(synthetic.volume_rng(13, 1), settings)
    assert a.shape == (2, 32, 32) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert spacing == pytest.approx(380.0 / 32) and thickness > 0


def test_patient_ids_are_distinct_sorted_and_seeded():
    ids = synthetic.patient_ids(13, 8)
    assert ids == sorted(set(ids)) and len(ids) == 8 and all(1 <= i <= 999 for i in ids)
    assert ids == synthetic.patient_ids(13, 8) and ids != synthetic.patient_ids(14, 8)


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="synthetic kind 'liver' unknown"):
        synthetic.check_kind("liver")
