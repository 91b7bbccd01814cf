"""The validation search helpers."""

import pandas as pd

from patchcore.experiments import tuning


def test_settings_is_the_product():
    s = tuning.settings({"zeta": [0.1, 0.3], "lambda": [1.0, 7.0, 12.0]})
    assert len(s) == 6 and s[0] == {"lambda": 1.0, "zeta": 0.1}
    assert len({tuple(sorted(d.items())) for d in s}) == 6


def test_best_setting_averages_over_datasets():
    rows = []
    for dataset, bias in [("knee", 0.0), ("brain", 1.0)]:
        for zeta, psnr in [(0.1, 25.0), (0.3, 26.0), (0.5, 24.0)]:
            # On brain alone 0.5 would win; averaged over datasets 0.3 wins.
            p = psnr + bias + (3.0 if (dataset == "brain" and zeta == 0.5) else 0.0)
            rows.append({"dataset": dataset, "task": "sr2", "solver": "dps", "setting": f"zeta={zeta}",
                         "zeta": zeta, "psnr": p})
    df = pd.DataFrame(rows)
    best = tuning.best_settings(df)
    assert list(best.setting) == ["zeta=0.3"]
    assert tuning.tuned_block(best, df) == {"dps": {"sr2": {"zeta": 0.3}}}


def test_best_setting_carries_the_baseline_of_the_same_images():
    df = pd.DataFrame([
        {"dataset": d, "task": "denoise", "solver": "dps", "setting": f"zeta={z}", "zeta": z,
         "psnr": p, "baseline_psnr": b}
        for d, b in [("knee", 20.0), ("brain", 22.0)] for z, p in [(1.0, 24.0), (3.0, 23.0)]])
    best = tuning.best_settings(df)
    assert list(best.setting) == ["zeta=1.0"]
    assert best.baseline_psnr.iloc[0] == 21.0 and best.psnr.iloc[0] == 24.0
