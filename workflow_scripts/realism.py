"""Rule realism: the realism measures of every prepared dataset (patchcore.data.realism), one row each.

Every split of a dataset is measured together (all slices the pipeline sees); slices are
grouped into volumes by the manifest's ``source_file``.
"""

import numpy as np
import pandas as pd

from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger
from patchcore.io.prepared import SPLITS, read_split
from patchcore.data.realism import realism_measures


def dataset_measures(h5, manifest_csv):
    """The measures of one prepared dataset (its HDF5 file and manifest) as a dict."""
    manifest = pd.read_csv(manifest_csv)
    images, volumes = [], []
    for split in SPLITS:
        data = read_split(h5, split).numpy()
        rows = manifest[manifest.split == split].sort_values("index")
        if len(rows) != len(data):
            raise ValueError(f"{manifest_csv}: {len(rows)} rows for split '{split}' but {h5} "
                             f"holds {len(data)} slices")
        images += list(data)
        volumes += list(rows.source_file)
    return realism_measures(np.stack(images), volumes)


def main(sm):
    log = script_logger(sm.log[0])
    rows = []
    for name, h5, csv in zip(sm.params.names, sm.input.data, sm.input.manifests):
        rows.append({"dataset": name, **dataset_measures(h5, csv)})
        log.info("%s: %s", name, rows[-1])
    write_text(sm.output[0], pd.DataFrame(rows).to_csv(index=False, float_format="%.4f"))


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
