"""Rule prepare_dataset: raw fastMRI HDF5 files or AAPM DICOM folders -> prepared splits.

The same code runs on the synthetic data and on a real download: list volumes, split by
volume, read each volume (validated, errors name the file), select a central band of slices,
centre-crop, resize to ``image_size``, map to [0, 1], then write the HDF5 and the manifest.
Everything is read before anything is written, so a bad file leaves no output behind.
"""

from pathlib import Path

import pandas as pd

from patchcore.data import preparation as prep
from patchcore.io import aapm_dicom, fastmri_h5
from patchcore.io.logs import script_logger
from patchcore.io.prepared import SPLITS, write_prepared


def list_volumes(raw_dir, fmt):
    """Volume names (file names for fastMRI, patient folder names for AAPM), sorted."""
    root = Path(raw_dir)
    if not root.is_dir():
        raise ValueError(f"{root}: raw data folder does not exist")
    if fmt == "fastmri":
        names = sorted(p.name for p in root.glob("*.h5"))
    elif fmt == "aapm":
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    else:
        raise ValueError(f"unknown dataset format '{fmt}' (use 'fastmri' or 'aapm')")
    if not names:
        kind = "*.h5 files" if fmt == "fastmri" else "patient folders of DICOM files"
        raise ValueError(f"{root}: no {kind} found")
    return names


def fastmri_slices(path, entry, count, size):
    """Selected slices of one fastMRI volume ``(n, C, size, size)``, their indices, the constant."""
    target = entry.get("target", "reconstruction_rss")
    idx = prep.select_slices(fastmri_h5.num_slices(path, target), count)
    images = fastmri_h5.read_volume(path, target, idx,
                                    complex_images=entry.get("channels", "magnitude") == "complex")
    images, const = prep.mri_slices(images, entry, size)
    return images, idx, const


def aapm_slices(path, entry, count, size):
    """Selected slices of one AAPM patient ``(n, 1, size, size)``, their indices, the window width."""
    hu = aapm_dicom.read_series(path, entry.get("include"))
    idx = prep.select_slices(len(hu), count)
    images, width = prep.ct_slices(hu[idx], entry, size)
    return images, idx, width


def prepare(raw_dir, entry, image_size, dataset, log):
    """All splits ``{split: (n, C, S, S)}``, the manifest DataFrame and the file attributes."""
    n_channels = prep.channel_count(entry, dataset)
    parts = prep.split_entry(list_volumes(raw_dir, entry["format"]), entry)
    reader = {"fastmri": fastmri_slices, "aapm": aapm_slices}[entry["format"]]

    def read(name, split):
        return reader(Path(raw_dir) / name, entry, prep.slice_count(entry, split), image_size)

    splits, rows = prep.collect_splits({split: parts[split] for split in SPLITS}, read,
                                       (n_channels, image_size, image_size))
    for split in SPLITS:
        log.info("%s: %d volumes, %d slices", split, len(parts[split]), len(splits[split]))
    return splits, pd.DataFrame(rows), prep.prepared_attrs(entry, image_size, dataset, raw_dir)


def main(sm):
    log = script_logger(sm.log[0])
    splits, manifest, attrs = prepare(sm.input.raw, sm.params.entry, sm.params.image_size,
                                      sm.wildcards.dataset, log)
    write_prepared(sm.output.h5, sm.output.manifest, splits, manifest, attrs)
    log.info("wrote %s (%s)", sm.output.h5, {k: v.shape for k, v in splits.items()})


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
