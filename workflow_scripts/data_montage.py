"""Rule data_montage: a row of prepared training and evaluation slices per dataset."""

from patchcore.figures.data import data_montage
from patchcore.io.atomic import atomic_path
from patchcore.io.logs import script_logger
from patchcore.io.prepared import read_split

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
rows = {}
for name, path in sm.input.items():
    train, test = read_split(path, "train"), read_split(path, "test")
    rows[name] = {"train": train.numpy(), "eval": test.numpy(),
                  "note": f"{train.shape[0]} train / {test.shape[0]} test"}
    log.info("%s: train %s, test %s", name, tuple(train.shape), tuple(test.shape))
fig = data_montage(rows)
with atomic_path(sm.output[0]) as tmp:
    fig.savefig(tmp, dpi=150)
