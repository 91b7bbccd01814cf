"""The tile diagnosis figure (results/figures/diagnosis_tiles.png): one function returning a
matplotlib Figure from the table of :func:`patchcore.experiments.analysis.diagnose_tiles`."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from patchcore.inverse import schemes  # noqa: E402

COLORS = {"full": "k", "32": "tab:blue", "16": "tab:red"}
STYLES = ["-", "--", ":", "-."]


def _label(ax, xlabel, ylabel, title):
    """Axis labels, a small title and a small legend: every panel's finishing touches."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)


def _color(infer):
    return COLORS.get(str(infer), None)


def _whole_first(infer):
    """Sort key of a scheme: the whole image first, then tiles from the largest down."""
    scheme = schemes.parse(infer)
    return (not scheme.whole, -(scheme.patch or 0))


def _whole_rows(sweep, prior, task_sigma):
    """The whole-image sweep row of ``prior`` at the task sigma."""
    return sweep[(sweep.prior == prior) & (sweep.infer == "full") & (sweep.sigma == task_sigma)]


def _sweep_panel(ax, sweep, prior, pads):
    rows = sweep[sweep.prior == prior]
    for infer in sorted(rows.infer.unique(), key=_whole_first):
        for pad, style in zip(pads, STYLES):
            r = rows[(rows.infer == infer) & ((rows.pad == pad) | (infer == "full"))].sort_values("sigma")
            if infer == "full" and pad != pads[0]:
                continue
            label = "whole image" if infer == "full" else f"{infer} px, {pad}"
            ax.plot(r.sigma, r.psnr - r.input_psnr, style, color=_color(infer), marker=".", label=label)
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xscale("log")
    _label(ax, "noise sigma ([0, 1] scale)", "PSNR gain over the noisy input (dB)",
           f"(a) {prior}-trained prior: held-out denoising" if prior == "whole"
           else f"(b) {prior}-trained prior")


def _montage(examples, keys, columns=3):
    """Images of ``keys`` in a grid of ``columns``, separated by white gaps of 2 pixels."""
    tiles = [np.asarray(examples[k])[0] for k in keys]
    tiles += [np.ones_like(tiles[0])] * (-len(tiles) % columns)
    gap_v = np.ones((tiles[0].shape[0], 2))
    rows = [np.concatenate(sum([[t, gap_v] for t in tiles[i : i + columns]], [])[:-1], axis=1)
            for i in range(0, len(tiles), columns)]
    gap_h = np.ones((2, rows[0].shape[1]))
    return np.concatenate(sum([[r, gap_h] for r in rows], [])[:-1], axis=0)


def _bias_panel(ax, sweep, priors, pads, small):
    """(c) Mean output bias (darkening) against sigma."""
    for prior, style in zip(priors, STYLES):
        for infer in ("full", small):
            r = sweep[(sweep.prior == prior) & (sweep.infer == infer)
                      & ((sweep.pad == pads[0]) | (infer == "full"))].sort_values("sigma")
            ax.plot(r.sigma, r.bias, style, color=_color(infer), marker=".",
                    label=f"{prior} prior, {'whole image' if infer == 'full' else infer + ' px'}")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xscale("log")
    _label(ax, "noise sigma", "mean(denoised - clean)",
           f"(c) mean intensity bias ({pads[0]} padding)")


def _window_panel(ax, sweep, win, priors, small, task_sigma):
    """(d) The smallest tile inside a larger network input."""
    for prior, style in zip(priors, STYLES):
        for fill, color in (("image", "tab:green"), ("reflect", "tab:purple"), ("zero", "tab:gray")):
            r = win[(win.prior == prior) & (win.fill == fill)].sort_values("window")
            ax.plot(r.window, r.psnr, style, color=color, marker=".", label=f"{prior}: {fill}")
        full = _whole_rows(sweep, prior, task_sigma)
        ax.axhline(float(full.psnr.iloc[0]), ls=style, color="k", lw=0.8)
    ax.axhline(float(win.input_psnr.iloc[0]), color="gray", lw=0.8)
    _label(ax, f"network input around each {small}-px tile (px)", "PSNR (dB)",
           f"(d) {small}-px tiles in larger inputs, sigma {task_sigma:g}\n"
                 "(black: whole image; grey: noisy input)")


def _edge_panel(ax, sweep, edge, priors, pads, small, task_sigma):
    """(e) Error against the distance to the tile edge."""
    for prior, style in zip(priors, STYLES):
        r = edge[edge.prior == prior].sort_values("distance")
        ax.plot(r.distance, r.rmse, style, color=_color(small), marker=".", label=f"{prior}: {small}-px tiles")
        full = _whole_rows(sweep, prior, task_sigma)
        ax.axhline(float(full.rmse.iloc[0]), ls=style, color="k", lw=0.8, label=f"{prior}: whole image")
    _label(ax, "distance to the tile edge (px)", "RMSE",
           f"(e) error inside the tile, sigma {task_sigma:g}, {pads[0]}")


def _intensity_panel(ax, inten, priors, small, task_sigma):
    """(f) Output bias per tile intensity."""
    for prior, style in zip(priors, STYLES):
        for infer in ("full", small):
            r = inten[(inten.prior == prior) & (inten.infer == infer)]
            mid = (r.bin_low + r.bin_high.clip(upper=1.0)) / 2
            ax.plot(mid, r.bias, style, color=_color(infer), marker="o",
                    label=f"{prior}, {'whole image' if infer == 'full' else infer + ' px tiles'}")
    ax.axhline(0, color="gray", lw=0.8)
    _label(ax, f"clean mean intensity of the {small}-px tile", "mean(denoised - clean) in the tile",
           f"(f) bias per tile intensity, sigma {task_sigma:g}")


def _attention_bars(sweep, att, win, priors, small, task_sigma):
    """Bars of panel (g): ``(labels, values, colors)``, per prior whole image, attention
    windows (largest first) and the smallest tiles."""
    labels, values, colors = [], [], []
    for prior in priors:
        full = _whole_rows(sweep, prior, task_sigma)
        labels.append(f"{prior}\nwhole")
        values.append(float(full.psnr.iloc[0]))
        colors.append("k")
        for _, r in att[att.prior == prior].sort_values("window", ascending=False).iterrows():
            labels.append(f"{prior}\nattn {int(r.window)}")
            values.append(r.psnr)
            colors.append(_color(int(r.window)) or "tab:orange")
        tiled = win[(win.prior == prior) & (win.fill == "image") & (win.context == 0)]
        labels.append(f"{prior}\n{small} tiles")
        values.append(float(tiled.psnr.iloc[0]))
        colors.append("tab:gray")
    return labels, values, colors


def _attention_panel(ax, sweep, att, win, priors, small, task_sigma):
    """(g) Attention restricted to tile-sized windows on the whole image."""
    labels, values, colors = _attention_bars(sweep, att, win, priors, small, task_sigma)
    ax.bar(range(len(values)), values, color=colors)
    ax.set_xticks(range(len(values)), labels, fontsize=6)
    ax.axhline(float(sweep[sweep.sigma == task_sigma].input_psnr.iloc[0]), color="gray", lw=0.8)
    lo = min(values) - 2
    ax.set_ylim(lo, max(values) + 1)
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"(g) whole image, attention windowed to a tile, sigma {task_sigma:g}", fontsize=9)


def _examples_panel(ax, examples, priors, small, task_sigma):
    """(h) Example outputs."""
    keys = ["clean", "noisy"] + [f"{p} {i}" for p in priors for i in ("full", small)]
    keys = [k for k in keys if k in examples]
    ax.imshow(_montage(examples, keys), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    names = [k.replace(" full", ": whole image").replace(f" {small}", f": {small}-px tiles") for k in keys]
    ax.set_title(f"(h) sigma {task_sigma:g}, top: " + ", ".join(names[:3]) + "\nbottom: "
                 + ", ".join(names[3:]), fontsize=7)


def diagnosis_figure(table: pd.DataFrame, examples: dict, task_sigma: float) -> plt.Figure:
    """Eight panels: denoising gain per prior (a, b), mean bias (c), larger inputs around the
    smallest tile (d), error against the distance to the tile edge (e), bias per tile intensity
    (f), attention windowed on the whole image (g), and example outputs (h).

    Args:
        table: the rows of :func:`patchcore.experiments.analysis.diagnose_tiles` as a DataFrame.
        examples: its example images ``{key: (C, N, N)}``; task_sigma: the detailed noise level.
    """
    sweep = table[table.experiment == "sweep"]
    win = table[table.experiment == "window"]
    pads = [p for p in sweep.pad.unique() if p != "none"]
    priors = list(sweep.prior.unique())
    small = str(min(schemes.parse(i).patch for i in sweep.infer.unique() if not schemes.parse(i).whole))
    fig, axes = plt.subplots(2, 4, figsize=(17, 8.2))
    for ax, prior in zip(axes[0, :2], priors[:2]):
        _sweep_panel(ax, sweep, prior, pads)
    _bias_panel(axes[0, 2], sweep, priors, pads, small)
    _window_panel(axes[0, 3], sweep, win, priors, small, task_sigma)
    _edge_panel(axes[1, 0], sweep, table[table.experiment == "edge"], priors, pads, small, task_sigma)
    _intensity_panel(axes[1, 1], table[table.experiment == "intensity"], priors, small, task_sigma)
    _attention_panel(axes[1, 2], sweep, table[table.experiment == "attention"], win, priors, small, task_sigma)
    _examples_panel(axes[1, 3], examples, priors, small, task_sigma)
    fig.tight_layout()
    return fig
