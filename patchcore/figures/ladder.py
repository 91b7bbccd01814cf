"""The scale ladder figure (results/scale/ladder.png): one panel per contrast, its value at
every rung (mean +- standard error over the paired test images) and the paper's value as a
dashed line. Input: the table of :func:`patchcore.experiments.ladder.ladder`."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from patchcore.experiments.ladder import rung_label  # noqa: E402


def ladder_figure(table, columns=4):
    """A Figure with one panel per (contrast, label, dataset) of ``table``, rungs on the x axis."""
    rungs = table.drop_duplicates("rung").sort_values("order")
    ticks = [f"{r['rung']}\n{rung_label(r)}" for _, r in rungs.iterrows()]
    keys = table.drop_duplicates(["contrast", "label", "dataset"]).reset_index(drop=True)
    rows = math.ceil(len(keys) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.7 * rows), squeeze=False)
    for ax, (_, k) in zip(axes.flat, keys.iterrows()):
        sel = table[(table["label"] == k["label"]) & (table["dataset"] == k["dataset"])].sort_values("order")
        ax.errorbar(sel["order"], sel["value"], yerr=sel["se"], marker="o", capsize=3, color="tab:blue",
                    label="measured")
        if not math.isnan(k["paper"]):
            ax.axhline(k["paper"], color="tab:red", linestyle="--", label="paper")
        ax.axhline(0.0, color="0.6", linewidth=0.6)
        ax.set_xticks(range(len(ticks)), ticks, fontsize=6)
        ax.set_ylabel("ΔPSNR (dB)", fontsize=7)
        ax.set_title(f"({k['contrast']}) {k['label']}\n{k['dataset']}, {k['tasks']}", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
