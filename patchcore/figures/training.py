"""Training curves of a prior: training loss and held-out denoising error per noise level."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def training_figure(history):
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
