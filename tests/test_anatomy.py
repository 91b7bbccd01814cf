"""Synthetic anatomy and the realism measures: determinism, variety, value ranges, and the
measures on fields whose answer is known."""

import numpy as np
import pytest

from patchcore.data import anatomy

from patchcore.data import realism


@pytest.mark.parametrize("table", [anatomy.CT_DISTRIBUTIONS, anatomy.KNEE_DISTRIBUTIONS])
def test_distribution_tables_are_well_formed(table):
    for name, (kind, a, b) in table.items():
        assert kind in ("uniform", "normal", "integer", "bernoulli"), name
        if kind in ("uniform", "integer"):
            assert a <= b, name
    drawn = anatomy.draw_all(np.random.default_rng(0), table)
    assert set(drawn) == set(table)
    for name, (kind, a, b) in table.items():
        if kind in ("uniform", "integer"):
            assert a <= drawn[name] <= b, name


@pytest.mark.parametrize("make,shape,slices", [(anatomy.abdomen_volume, (64, 64), 4),
                                               (anatomy.knee_volume, (48, 48), 4)])
def test_volumes_are_deterministic_and_differ_between_seeds(make, shape, slices):
    a = make(np.random.default_rng([1, 0]), slices, shape)
    b = make(np.random.default_rng([1, 0]), slices, shape)
    c = make(np.random.default_rng([1, 1]), slices, shape)
    assert a.shape == (slices, *shape) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.05 * np.abs(a).mean()


def test_abdomen_is_in_hounsfield_units_with_air_tissue_and_bone():
    hu = anatomy.abdomen_volume(np.random.default_rng(3), 6, (96, 96))
    assert np.median(hu[:, :4, :4]) < -900  # air in the corners
    centre = hu[:, 30:66, 20:76]
    assert ((centre > -150) & (centre < 200)).mean() > 0.5  # mostly soft tissue and fat inside
    assert hu.max() > 300  # bone somewhere


def test_knee_has_dark_background_and_bright_fat():
    img = anatomy.knee_volume(np.random.default_rng(4), 4, (64, 64))
    assert img.min() >= 0
    assert np.percentile(img, 95) > 0.6 and np.percentile(img, 5) < 0.15


def test_power_law_field_has_the_requested_spectrum_slope():
    field = anatomy.power_law_field(np.random.default_rng(0), (8, 128, 128), 2.5)
    assert abs(field.std() - 1) < 1e-3
    assert realism.spectrum_slope(field * 0.1 + 0.5) == pytest.approx(-2.5, abs=0.35)


def test_spectrum_slope_of_white_noise_is_flat():
    noise = np.random.default_rng(0).normal(size=(6, 64, 64))
    assert realism.spectrum_slope(noise) == pytest.approx(0.0, abs=0.3)


def test_zero_gradient_fraction_flat_vs_noise():
    flat = np.full((2, 1, 32, 32), 0.3)
    noisy = flat + np.random.default_rng(0).normal(0, 0.05, flat.shape)
    assert realism.zero_gradient_fraction(flat) == 1.0
    assert realism.zero_gradient_fraction(noisy) < 0.01


def test_inter_volume_distance_zero_for_identical_volumes():
    rng = np.random.default_rng(0)
    vol = rng.uniform(size=(3, 16, 16))
    same = np.concatenate([vol, vol])
    labels = ["a"] * 3 + ["b"] * 3
    assert realism.inter_volume_distance(same, labels) == pytest.approx(0.0, abs=1e-12)
    other = np.concatenate([vol, vol * 0.5])
    assert realism.inter_volume_distance(other, labels) > 0.05
    with pytest.raises(ValueError):
        realism.inter_volume_distance(same, labels[:-1])


def test_complex_slices_are_measured_by_magnitude():
    rng = np.random.default_rng(0)
    mag = rng.uniform(size=(2, 1, 16, 16))
    phase = rng.uniform(0, 2 * np.pi, size=mag.shape)
    cplx = np.concatenate([mag * np.cos(phase), mag * np.sin(phase)], axis=1)
    assert realism.slice_statistics(cplx) == pytest.approx(realism.slice_statistics(mag))


def test_realism_script_groups_slices_by_volume_from_the_manifest(tmp_path):
    import importlib.util

    import pandas as pd

    from patchcore.io.prepared import write_prepared

    spec = importlib.util.spec_from_file_location("realism_script", "workflow_scripts/realism.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rng = np.random.default_rng(0)
    splits = {"train": rng.uniform(size=(4, 1, 16, 16)), "val": rng.uniform(size=(1, 1, 16, 16)),
              "test": np.zeros((0, 1, 16, 16))}
    rows = [dict(split="train", index=i, source_file=f"v{i // 2}", slice_index=i % 2, norm_constant=1.0)
            for i in range(4)] + [dict(split="val", index=0, source_file="v9", slice_index=0, norm_constant=1.0)]
    write_prepared(tmp_path / "d.h5", tmp_path / "d.csv", splits, pd.DataFrame(rows), {})
    out = script.dataset_measures(tmp_path / "d.h5", tmp_path / "d.csv")
    assert out["volumes"] == 3 and out["slices"] == 5 and out["inter_volume"] > 0
    pd.DataFrame(rows[:-1]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ValueError, match="rows for split 'val'"):
        script.dataset_measures(tmp_path / "d.h5", tmp_path / "short.csv")
