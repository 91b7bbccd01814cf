"""Preparation helpers: crop, resize, normalisation, windowing, split, slice selection."""

import numpy as np
import pytest

from patchcore.data import preparation as prep


def test_center_crop_takes_the_middle():
    img = np.arange(6 * 8).reshape(6, 8)
    out = prep.center_crop(img, (2, 4))
    np.testing.assert_array_equal(out, img[2:4, 2:6])
    assert prep.center_crop(np.zeros((3, 7, 9)), 5).shape == (3, 5, 5)
    with pytest.raises(ValueError):
        prep.center_crop(img, 7)


def test_resize_area_preserves_mean_and_range():
    img = np.random.default_rng(0).uniform(size=(2, 16, 16)).astype(np.float32)
    small = prep.resize(img, 8)
    assert small.shape == (2, 8, 8)
    np.testing.assert_allclose(small.mean(axis=(1, 2)), img.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(small[0, 0, 0], img[0, :2, :2].mean(), rtol=1e-5)
    big = prep.resize(img, 24)
    assert big.shape == (2, 24, 24) and big.min() >= 0 and big.max() <= 1


def test_normalise_percentile_and_max():
    vol = np.linspace(0, 10, 1001).reshape(1, 7, 143)
    out, const = prep.normalise_mri(vol, "percentile", 90)
    assert const == pytest.approx(9.0)
    assert out.max() == 1 and out.min() == 0 and (out == 1).mean() == pytest.approx(0.1, abs=0.002)
    out, const = prep.normalise_mri(vol, "max")
    assert const == 10 and np.allclose(out, vol / 10)
    with pytest.raises(ValueError, match="rule"):
        prep.normalise_mri(vol, "mean")
    with pytest.raises(ValueError, match="positive"):
        prep.normalise_mri(np.zeros((2, 3, 3)), "max")


def test_window_ct():
    out = prep.window_ct(np.array([-1000.0, -160, 40, 240, 1000]), -160, 240)
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1])


def test_split_by_volume_deterministic_and_disjoint():
    names = [f"file_{i:03d}.h5" for i in range(20)]
    a = prep.split_volumes(names, 3, 4, seed=7)
    b = prep.split_volumes(list(reversed(names)), 3, 4, seed=7)
    assert a == b
    assert [len(a[k]) for k in ("train", "val", "test")] == [13, 3, 4]
    assert sorted(a["train"] + a["val"] + a["test"]) == names
    assert a != prep.split_volumes(names, 3, 4, seed=8)
    with pytest.raises(ValueError):
        prep.split_volumes(names[:3], 2, 1, seed=0)


def test_select_slices_central_band():
    assert prep.select_slices(10, 1) == [4]
    assert prep.select_slices(10, 4) == [3, 4, 5, 6]
    assert prep.select_slices(5, "all") == list(range(5))
    assert prep.select_slices(3, 8) == [0, 1, 2]


def test_collect_splits_reads_each_volume_once_and_numbers_the_manifest():
    parts = {"train": ["a", "b"], "val": [], "test": ["c"]}
    calls = []

    def read(name, split):
        calls.append((name, split))
        n = {"a": 2, "b": 1, "c": 3}[name]
        return np.full((n, 1, 4, 4), ord(name), np.float32), list(range(10, 10 + n)), float(ord(name))

    splits, rows = prep.collect_splits(parts, read, (1, 4, 4))
    assert calls == [("a", "train"), ("b", "train"), ("c", "test")]
    assert splits["train"].shape == (3, 1, 4, 4) and splits["val"].shape == (0, 1, 4, 4)
    assert [r["index"] for r in rows if r["split"] == "train"] == [0, 1, 2]
    assert [(r["source_file"], r["slice_index"]) for r in rows if r["split"] == "train"] == [
        ("a", 10), ("a", 11), ("b", 10)]
    assert all(splits[r["split"]][r["index"], 0, 0, 0] == r["norm_constant"] for r in rows)


@pytest.mark.parametrize("entry,fragment", [
    ({"format": "fastmri", "channels": "phase"}, "channels 'phase' unknown"),
    ({"format": "aapm", "channels": "complex"}, "needs format 'fastmri'"),
    ({"format": "fastmri", "target": "reconstruction_rss", "channels": "complex"}, "target 'kspace'"),
])
def test_channel_count_names_the_dataset_and_the_problem(entry, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        prep.channel_count(entry, "knee")
    assert "dataset 'knee'" in str(info.value)


def test_slices_of_mri_and_ct_entries():
    rng = np.random.default_rng(0)
    mag = rng.uniform(0, 2, size=(3, 20, 16)).astype(np.float32)
    images, const = prep.mri_slices(mag, {"crop": 12, "normalise": {"rule": "max"}}, 6)
    assert images.shape == (3, 1, 6, 6) and const == pytest.approx(prep.resize(mag[:, 4:16, 2:14], 6).max())
    cplx = mag * np.exp(1j * rng.uniform(-3, 3, size=mag.shape))
    images, _ = prep.mri_slices(cplx, {"channels": "complex"}, 8)
    assert images.shape == (3, 2, 8, 8) and np.sqrt((images ** 2).sum(1)).max() <= 1 + 1e-6
    hu = rng.uniform(-1000, 1000, size=(2, 16, 16))
    images, width = prep.ct_slices(hu, {"window": [-160, 240]}, 8)
    assert images.shape == (2, 1, 8, 8) and width == 400.0 and 0 <= images.min() and images.max() <= 1


def test_ct_minmax_normalises_each_slice_over_its_own_range():
    """``window: minmax`` (the official PaDIS preprocessing): every slice spans exactly [0, 1]
    whatever its HU range, padding below air counts as air, the width of each slice is returned
    and the manifest gets one constant per slice."""
    rng = np.random.default_rng(1)
    hu = np.stack([rng.uniform(-1000, 500, (16, 16)), rng.uniform(-900, 1500, (16, 16))]).astype(np.float32)
    hu[1, 0, 0] = -3024.0  # outside the field of view
    images, widths = prep.ct_slices(hu, {"window": "minmax"}, 16)
    assert images.shape == (2, 1, 16, 16)
    assert np.allclose(images.min(axis=(1, 2, 3)), 0) and np.allclose(images.max(axis=(1, 2, 3)), 1)
    assert widths[1] == pytest.approx(hu[1].max() - prep.AIR_HU)
    assert widths[0] == pytest.approx(hu[0].max() - hu[0].min())
    splits, rows = prep.collect_splits({"train": ["p1"]}, lambda name, split: (images, [3, 4], widths), (1, 16, 16))
    assert [r["norm_constant"] for r in rows] == pytest.approx(list(widths))
    assert "own [min, max]" in prep.normalisation_sentence({"format": "aapm", "window": "minmax"})
