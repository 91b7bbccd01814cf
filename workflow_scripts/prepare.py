"""Rule prepare_dataset: raw fastMRI HDF5 files or AAPM DICOM folders -> prepared splits.

The same code runs on the synthetic data and on a real download: list volumes, split by
volume, read each volume (validated, errors name the file), select a central band of slices,
centre-crop, resize to ``image_size``, map to [0, 1], then write the HDF5 and the manifest.
Everything is read before anything is written, so a bad file leaves no output behind.
"""

from pathlib import Path

import numpy as np
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
    """Selected slices of one fastMRI volume ``(n, C, size, size)`` (C = 1 magnitude in [0, 1],
    C = 2 real/imaginary in [-1, 1] for ``channels: complex``), indices, constant."""
    target = entry.get("target", "reconstruction_rss")
    complex_images = entry.get("channels", "magnitude") == "complex"
    idx = prep.select_slices(fastmri_h5.num_slices(path, target), count)
    images = fastmri_h5.read_volume(path, target, idx, complex_images=complex_images)
    if entry.get("crop"):
        images = prep.center_crop(images, entry["crop"])
    norm = entry.get("normalise", {"rule": "percentile", "q": 99.5})
    if complex_images:
        images, const = prep.normalise_complex(prep.resize_complex(images, size), norm["rule"],
                                               norm.get("q", 99.5))
        return images, idx, const
    images, const = prep.normalise_mri(prep.resize(images, size), norm["rule"], norm.get("q", 99.5))
    return images[:, None], idx, const


def aapm_slices(path, entry, count, size):
    """Selected slices of one AAPM patient in [0, 1] ``(n, 1, size, size)``, indices, window width."""
    hu = aapm_dicom.read_series(path, entry.get("include"))
    idx = prep.select_slices(len(hu), count)
    hu = hu[idx]
    if entry.get("crop"):
        hu = prep.center_crop(hu, entry["crop"])
    lo, hi = entry["window"]
    return prep.window_ct(prep.resize(hu, size), lo, hi)[:, None], idx, float(hi - lo)


def prepare(raw_dir, entry, image_size, dataset, log):
    """All splits ``{split: (n, C, S, S)}``, the manifest DataFrame and the file attributes."""
    channels = entry.get("channels", "magnitude")
    if channels not in ("magnitude", "complex"):
        raise ValueError(f"dataset '{dataset}': channels '{channels}' unknown (use 'magnitude' or 'complex')")
    if channels == "complex" and (entry["format"] != "fastmri" or entry.get("target") != "kspace"):
        raise ValueError(f"dataset '{dataset}': channels 'complex' needs format 'fastmri' and "
                         f"target 'kspace' (the phase comes from the k-space; CT and stored "
                         f"reconstructions are real)")
    n_channels = 2 if channels == "complex" else 1
    names = list_volumes(raw_dir, entry["format"])
    sp = entry.get("split", {})
    parts = prep.split_volumes(names, sp.get("val", 1), sp.get("test", 1), sp.get("seed", 0))
    reader = {"fastmri": fastmri_slices, "aapm": aapm_slices}[entry["format"]]
    counts = entry.get("slices", {})
    splits, rows = {}, []
    for split in SPLITS:
        count = counts.get("train" if split == "train" else "eval", "all")
        images = []
        for name in parts[split]:
            imgs, idx, const = reader(Path(raw_dir) / name, entry, count, image_size)
            rows += [dict(split=split, index=len(images) + j, source_file=name, slice_index=s,
                          norm_constant=const) for j, s in enumerate(idx)]
            images += list(imgs)
        splits[split] = np.stack(images) if images else np.zeros(
            (0, n_channels, image_size, image_size), np.float32)
        log.info("%s: %d volumes, %d slices", split, len(parts[split]), len(images))
    attrs = {"normalisation": prep.normalisation_sentence(entry), "image_size": image_size,
             "dataset": dataset, "format": entry["format"], "source": str(raw_dir),
             "split": f"by volume, seed {sp.get('seed', 0)}", "channels": channels}
    return splits, pd.DataFrame(rows), attrs


def main(sm):
    log = script_logger(sm.log[0])
    splits, manifest, attrs = prepare(sm.input.raw, sm.params.entry, sm.params.image_size,
                                      sm.wildcards.dataset, log)
    write_prepared(sm.output.h5, sm.output.manifest, splits, manifest, attrs)
    log.info("wrote %s (%s)", sm.output.h5, {k: v.shape for k, v in splits.items()})


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
