"""Prepared data: one HDF5 file per dataset with the splits, plus a manifest CSV.

Layout of ``results/prepared/{dataset}.h5``: datasets ``train``, ``val``, ``test``, each
float32 ``(n, C, H, W)`` in [0, 1] (C = 1 magnitude; C = 2 real/imaginary in [-1, 1]);
attributes ``normalisation`` (a sentence stating the rule), ``image_size``, ``dataset``.
The manifest has one row per slice: ``split, index, source_file, slice_index, norm_constant``.
"""

from pathlib import Path
from typing import Sequence, Union

import h5py
import numpy as np
import pandas as pd
import torch

from patchcore.io.atomic import atomic_path

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ["split", "index", "source_file", "slice_index", "norm_constant"]


def write_prepared(path_h5: Union[str, Path], path_csv: Union[str, Path], splits: dict,
                   manifest: pd.DataFrame, attrs: dict) -> None:
    """Write the splits and the manifest atomically.

    Args:
        splits: ``{split: array (n, C, H, W)}`` for every name in SPLITS (n may be 0).
        manifest: a DataFrame with MANIFEST_COLUMNS.
        attrs: attributes stored on the HDF5 file (strings and numbers).
    """
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(f"manifest for {path_h5}: missing columns {missing}")
    with atomic_path(path_h5) as tmp:
        with h5py.File(tmp, "w") as f:
            for name in SPLITS:
                data = np.asarray(splits[name], dtype=np.float32)
                if not np.isfinite(data).all():
                    raise ValueError(f"{path_h5}: split '{name}' contains NaN or Inf values")
                f.create_dataset(name, data=data)
            for key, value in attrs.items():
                f.attrs[key] = value
    with atomic_path(path_csv) as tmp:
        manifest[MANIFEST_COLUMNS].to_csv(tmp, index=False)


def read_split(path: Union[str, Path], split: str) -> torch.Tensor:
    """Images of one split as a float32 tensor ``(n, C, H, W)``.

    Raises a ValueError naming the file and the problem for a file that is not a prepared
    data file (missing split, wrong rank).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}' (known: {SPLITS})")
    try:
        with h5py.File(path, "r") as f:
            if split not in f:
                raise ValueError(f"{path}: no dataset '{split}' (has {sorted(f.keys())})")
            data = f[split][()]
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from e
    if data.ndim != 4:
        raise ValueError(f"{path}: '{split}' has shape {data.shape}, expected (n, C, H, W)")
    return torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))


def read_group(paths: Sequence[Union[str, Path]], split: str) -> torch.Tensor:
    """Images ``(n, C, N, N)`` in [0, 1] of ``split`` of all ``paths`` (a training group), concatenated.

    Raises ValueError naming the files when their image shapes differ.
    """
    parts = [read_split(path, split) for path in paths]
    shapes = {tuple(p.shape[1:]) for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"prepared files {list(map(str, paths))} have different image shapes {shapes}")
    return torch.cat(parts).float()
