"""Training curves of a prior: training loss and held-out denoising error per noise level."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def training_figure(history: pd.DataFrame) -> plt.Figure:
    """Figure with the training loss (left) and held-out normalised MSE per sigma (right).

    ``history``: a DataFrame (or list of dicts) with columns ``step``, ``loss`` and
    ``val_nmse@<sigma>`` as written to training.csv. Returns a matplotlib Figure.
    """
    history = pd.DataFrame(history)
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    train = history.dropna(subset=["loss"])
    ax_loss.plot(train["step"], train["loss"], lw=1, color="C0")
    ax_loss.set(xlabel="step", ylabel="EDM loss (weighted)", yscale="log", title="training loss")
    bands = [c for c in history.columns if c.startswith("val_nmse@")]
    for k, column in enumerate(bands):
        val = history.dropna(subset=[column])
        ax_val.plot(val["step"], val[column], marker="o", ms=3, lw=1, color=f"C{k}",
                    label=f"sigma = {column.split('@')[1]}")
    ax_val.set(xlabel="step", ylabel="MSE / c_out^2", yscale="log", title="held-out denoising (EMA)")
    if bands:
        ax_val.legend(fontsize=8)
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3, which="both")
    return fig


def training_overview(histories: dict, smooth: int = 10) -> plt.Figure:
    """Training curves of several priors in one figure: loss, then one panel per held-out sigma.

    ``histories``: ``{name: DataFrame}`` as in :func:`training_figure` (one line per prior in
    every panel). The loss is a running mean over ``smooth`` logged values. Returns a Figure.
    """
    histories = {name: pd.DataFrame(h) for name, h in histories.items()}
    bands = sorted({c for h in histories.values() for c in h.columns if c.startswith("val_nmse@")},
                   key=lambda c: float(c.split("@")[1]))
    n = 1 + len(bands)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 3.3), constrained_layout=True, squeeze=False)
    axes = axes[0]
    colours = plt.get_cmap("tab20" if len(histories) > 10 else "tab10")
    for k, (name, h) in enumerate(histories.items()):
        colour = colours(k % colours.N)
        train = h.dropna(subset=["loss"])
        axes[0].plot(train["step"], train["loss"].rolling(smooth, min_periods=1).mean(),
                     lw=1, color=colour, label=name)
        for ax, column in zip(axes[1:], bands):
            if column in h:
                val = h.dropna(subset=[column])
                ax.plot(val["step"], val[column], marker="o", ms=2, lw=1, color=colour)
    axes[0].set(xlabel="step", ylabel="EDM loss (weighted)", yscale="log", title="training loss")
    for ax, column in zip(axes[1:], bands):
        ax.set(xlabel="step", ylabel="held-out MSE / c_out^2", yscale="log",
               title=f"held-out, sigma = {column.split('@')[1]}")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
               ncol=min(len(histories), 6), fontsize=8, title="prior (group/name)", title_fontsize=8)
    return fig
