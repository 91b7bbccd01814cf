"""Larger-than-training helpers (issue 14): the data entry of a larger size and the table."""

import pandas as pd
import pytest

from patchcore.experiments.resolution import resolution_entry, resolution_markdown, resolution_table

CT = {"format": "aapm", "synthetic": {"kind": "abdomen", "volumes": 8, "slices": 32, "size": 128, "seed": 13},
      "split": {"val": 1, "test": 1, "seed": 0}, "slices": {"train": "all", "eval": 8}, "window": [-160, 240]}
KNEE = {"format": "fastmri", "crop": 64,
        "synthetic": {"kind": "knee", "volumes": 16, "slices": 12, "coils": 4, "matrix": [128, 72], "seed": 11}}


def test_entry_scales_the_raw_matrix_and_crop_with_the_size():
    e = resolution_entry(CT, 64, 256, {"volumes": 2, "slices": 4, "seed": 113}, images=2)
    assert e["synthetic"] == {"kind": "abdomen", "volumes": 2, "slices": 4, "size": 512, "seed": 113}
    assert e["split"] == {"val": 0, "test": 1, "seed": 0} and e["slices"] == {"train": 1, "eval": 2}
    assert e["window"] == CT["window"] and CT["synthetic"]["size"] == 128  # input untouched
    k = resolution_entry(KNEE, 64, 128, {"seed": 5}, images=1)
    assert k["synthetic"]["matrix"] == [256, 144] and k["crop"] == 128 and k["synthetic"]["coils"] == 4


def test_entry_of_a_download_is_refused():
    with pytest.raises(ValueError, match="synthetic"):
        resolution_entry({"format": "aapm", "raw_dir": "/data"}, 64, 128, {}, 1)


def test_table_averages_images_and_joins_memory_in_method_order():
    cells = pd.DataFrame([
        {"method": m, "image_size": n, "image": i, "psnr": p + i, "ssim": 0.5, "baseline_psnr": 20.0,
         "baseline_ssim": 0.4}
        for n in (64, 128) for m, p in (("whole", 30.0), ("patch", 28.0)) for i in (0, 1)])
    memory = pd.DataFrame([{"method": m, "image_size": n, "peak_mb": n / 8, "peak_rss_mb": 1.0, "tiles": 1,
                            "time_per_nfe_s": 0.1, "cpu_time_per_nfe_s": 0.05}
                           for n in (64, 128) for m in ("whole", "patch")])
    t = resolution_table(cells, memory)
    assert list(zip(t.image_size, t.method)) == [(64, "whole"), (64, "patch"), (128, "whole"), (128, "patch")]
    assert list(t.psnr) == [30.5, 28.5, 30.5, 28.5] and list(t.images) == [2, 2, 2, 2]
    assert list(t.peak_mb) == [8.0, 8.0, 16.0, 16.0]
    md = resolution_markdown(t, "test")
    assert md.count("\n| 128 |") == 2 and "30.50" in md
