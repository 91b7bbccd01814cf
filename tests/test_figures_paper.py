"""Roy et al. Fig. 1-3 functions: what a reader needs is on the figure."""

import numpy as np
import pandas as pd
import pytest

from patchcore.figures import paper


def recons(seed, noise):
    rng = np.random.default_rng(seed)
    gt = rng.random((2, 1, 32, 32)).astype(np.float32)
    x = np.clip(gt + noise * rng.standard_normal(gt.shape), 0, 1).astype(np.float32)
    return np.stack([gt, gt * 0.5, x], axis=1)


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes]


def test_baseline_names_follow_the_operator():
    assert paper.baseline_name("sr2") == "bicubic"
    assert paper.baseline_name("denoise") == "noisy input"
    assert paper.baseline_name("ct20") == "FBP (Hann)" and paper.baseline_name("mri4x") == "zero-filled"


def test_fig1_has_a_colour_bar_its_context_and_no_empty_panel():
    data = {"zero": recons(0, 0.1), "reflect": recons(0, 0.05)}
    fig = paper.fig1_padding(data, {"zero": {"ratio": 0.9}, "reflect": {"ratio": 0.6}},
                             "knee, sr2, diffpir, whole prior, 16 px patches")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 5 and all(ax.axison for ax in images)  # nothing blank
    bars = [ax for ax in fig.axes if not ax.images]
    assert len(bars) == 1 and "ground truth" in bars[0].get_ylabel()  # the colour bar
    assert "16 px patches" in fig._suptitle.get_text() and "diffpir" in fig._suptitle.get_text()
    gt, x = data["zero"][0, 0, 0], data["zero"][0, 2, 0]
    assert f"PSNR {paper.psnr(x, gt):.2f} dB" in texts(fig)


def test_fig2_states_psnr_per_panel_and_each_rows_baseline():
    a, b = recons(1, 0.1), recons(2, 0.2)
    panels = [[r[0, 0], r[0, 1], r[0, 2]] for r in (a, b)]
    fig = paper.fig2_grid(panels, ["knee denoise", "knee sr2"], ["ground truth", "task baseline", "method"],
                          baseline_labels=["noisy input", "bicubic"])
    shown = texts(fig)
    assert "noisy input" in shown and "bicubic" in shown
    for r in (a, b):
        assert f"{paper.psnr(r[0, 2, 0], r[0, 0, 0]):.2f} dB" in shown
        assert f"{paper.psnr(r[0, 1, 0], r[0, 0, 0]):.2f} dB" in shown
    assert sum(t.endswith(" dB") for t in shown) == 4  # every panel but the ground truth


def test_fig3_one_panel_per_bound_legend_image_size_and_the_note():
    rows = [{"image_size": s, "infer": str(i), "micro_batch": mb, "peak_mb": float(s) + (mb or 0)}
            for s in (64, 128) for i in (16, 32, "full") for mb in (None, 4)]
    fig = paper.fig3_memory(pd.DataFrame(rows), "cpu allocator peak")
    panels = [ax for ax in fig.axes if ax.lines]
    assert len(panels) == 2
    for ax in panels:
        assert ax.get_legend().get_title().get_text() == "image size"
        assert len(ax.lines) == 2  # one line per image size
    note = " ".join(t.get_text() for t in fig.texts)
    assert "micro-batch" in note and "padded canvas" in note and "cpu allocator peak" in note


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
