"""Rule data_montage: a row of prepared training and evaluation slices per dataset, with the
dataset's realism measures (rule realism) written beside its row."""

import pandas as pd

from patchcore.figures.data import data_montage
from patchcore.io.atomic import atomic_path
from patchcore.io.logs import script_logger
from patchcore.io.prepared import read_split

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
measures = pd.read_csv(sm.input.realism).set_index("dataset")
rows = {}
for name, path in zip(sm.params.names, sm.input.data):
    train, test = read_split(path, "train"), read_split(path, "test")
    m = measures.loc[name]
    rows[name] = {"train": train.numpy(), "eval": test.numpy(),
                  "note": f"{train.shape[0]} train / {test.shape[0]} test",
                  "measures": f"slope {m.spectrum_slope:.2f}\nzero-grad {m.zero_gradient:.3f}\n"
                              f"inter-vol {m.inter_volume:.3f}"}
    log.info("%s: train %s, test %s", name, tuple(train.shape), tuple(test.shape))
fig = data_montage(rows)
with atomic_path(sm.output[0]) as tmp:
    fig.savefig(tmp, dpi=150)
