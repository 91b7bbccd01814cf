"""Preparation of raw volumes into training/evaluation slices (pure functions, no file I/O).

Split by volume (never by slice), pick a central band of slices, centre-crop, resize, and map
to [0, 1]: MRI magnitude divided by a per-volume constant (a percentile or the maximum), CT
Hounsfield units through a fixed window.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def split_volumes(names: Sequence[str], n_val: int, n_test: int, seed: int) -> dict[str, list[str]]:
    """Deterministic split of volume names into ``{'train', 'val', 'test'}`` lists.

    The names are sorted, then permuted with ``seed``; the first ``n_test`` go to test, the
    next ``n_val`` to val, the rest to train. Each list is returned sorted.
    """
    names = sorted(names)
    if len(set(names)) != len(names):
        raise ValueError("volume names must be unique")
    if n_val < 0 or n_test < 0 or n_val + n_test >= len(names):
        raise ValueError(f"cannot split {len(names)} volumes into val {n_val}, test {n_test} "
                         f"and a non-empty train split")
    order = np.random.default_rng(seed).permutation(len(names))
    picked = [names[i] for i in order]
    return {"test": sorted(picked[:n_test]), "val": sorted(picked[n_test:n_test + n_val]),
            "train": sorted(picked[n_test + n_val:])}


def select_slices(n_slices: int, count: int | str) -> list[int]:
    """Indices of a central band of ``count`` slices out of ``n_slices`` (``'all'``: every slice).

    With ``count >= n_slices`` every slice is returned.
    """
    if count == "all" or int(count) >= n_slices:
        return list(range(n_slices))
    count = int(count)
    if count < 1:
        raise ValueError(f"slice count must be >= 1 or 'all', got {count}")
    start = (n_slices - count) // 2
    return list(range(start, start + count))


def center_crop(img: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Centre crop of the last two axes to ``size`` (an int or ``(h, w)``); fastMRI's convention."""
    h, w = (size, size) if np.isscalar(size) else size
    H, W = img.shape[-2:]
    if h > H or w > W:
        raise ValueError(f"crop size {(h, w)} larger than image {(H, W)}")
    top, left = (H - h) // 2, (W - w) // 2
    return img[..., top:top + h, left:left + w]


def resize(img: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(..., H, W)`` float images to ``size x size``.

    Downsizing by area averaging (``F.interpolate`` mode ``area``, no aliasing); upsizing
    bilinear with antialias. Returns a float32 numpy array.
    """
    x = torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float32)
    lead = x.shape[:-2]
    x = x.reshape(-1, 1, *x.shape[-2:])
    if x.shape[-2:] == (size, size):
        out = x
    elif x.shape[-2] >= size and x.shape[-1] >= size:
        out = F.interpolate(x, size=(size, size), mode="area")
    else:
        out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                            align_corners=False)
    return out.reshape(*lead, size, size).numpy()


def normalise_mri(vol: np.ndarray, rule: str, q: float = 99.5) -> tuple[np.ndarray, float]:
    """Scale a magnitude volume to [0, 1] by one constant.

    Args:
        vol: ``(slices, H, W)`` non-negative magnitude.
        rule: ``'percentile'`` (the ``q``-th percentile of the volume) or ``'max'``.
    Returns:
        ``(clip(vol / const, 0, 1), const)``.
    """
    if rule == "percentile":
        const = float(np.percentile(vol, q))
    elif rule == "max":
        const = float(np.max(vol))
    else:
        raise ValueError(f"unknown normalisation rule '{rule}' (use 'percentile' or 'max')")
    if not np.isfinite(const) or const <= 0:
        raise ValueError(f"normalisation constant {const} is not positive (empty volume?)")
    return np.clip(vol / const, 0, 1).astype(np.float32), const


def resize_complex(img: np.ndarray, size: int) -> np.ndarray:
    """:func:`resize` of complex ``(..., H, W)`` images (real and imaginary parts separately;
    both resizing rules are linear, so this is the resize of the complex image)."""
    return resize(img.real, size) + 1j * resize(img.imag, size)


def normalise_complex(vol: np.ndarray, rule: str, q: float = 99.5) -> tuple[np.ndarray, float]:
    """Scale a complex volume by one constant taken from its magnitude; two channels out.

    Args:
        vol: complex ``(slices, H, W)``.
        rule: as :func:`normalise_mri`, applied to ``|vol|``.
    Returns:
        ``(images, const)``: float32 ``(slices, 2, H, W)`` real and imaginary parts of
        ``vol / const`` with the magnitude clipped to 1 (the phase kept), so each channel is
        in [-1, 1] and the magnitude equals :func:`normalise_mri` of ``|vol|``.
    """
    magnitude, const = normalise_mri(np.abs(vol), rule, q)
    phase = np.angle(vol)
    return np.stack([magnitude * np.cos(phase), magnitude * np.sin(phase)], axis=1).astype(np.float32), const


def window_ct(hu: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map Hounsfield units to [0, 1] through the window ``[lo, hi]`` (clipped outside)."""
    if hi <= lo:
        raise ValueError(f"CT window [{lo}, {hi}] is empty")
    return np.clip((np.asarray(hu, dtype=np.float32) - lo) / (hi - lo), 0, 1)


AIR_HU = -1024.0  # the lowest value a CT slice's range starts at (padding outside the field of view is below)


def minmax_ct(hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each slice of ``hu`` ``(n, H, W)`` mapped linearly from its own ``[min, max]`` to [0, 1], as
    the official PaDIS preprocessing normalises each slice over its full range; values below air
    (``AIR_HU``, e.g. padding outside the field of view) count as air. Returns the images and each
    slice's width ``max - min`` in HU."""
    hu = np.maximum(np.asarray(hu, dtype=np.float32), AIR_HU)
    lo = hu.min(axis=(1, 2), keepdims=True)
    width = np.maximum(hu.max(axis=(1, 2), keepdims=True) - lo, 1e-6)
    return (hu - lo) / width, width.reshape(-1)


def normalisation_sentence(entry: Mapping[str, Any]) -> str:
    """The normalisation rule of a dataset's config entry, as one sentence (stored in attrs)."""
    if entry["format"] == "aapm" and entry["window"] == "minmax":
        return ("CT Hounsfield units of each slice mapped linearly from the slice's own [min, max] to [0, 1] "
                f"(values below {AIR_HU:g} HU count as air), as the official PaDIS preprocessing.")
    if entry["format"] == "aapm":
        lo, hi = entry["window"]
        return f"CT Hounsfield units mapped linearly from the window [{lo}, {hi}] HU to [0, 1], clipped."
    norm = entry.get("normalise", {"rule": "percentile", "q": 99.5})
    if norm["rule"] == "percentile":
        how = f"the {norm.get('q', 99.5)}th percentile"
    else:
        how = "the maximum"
    if entry.get("channels", "magnitude") == "complex":
        return (f"Complex MRI (real, imaginary channels): RSS magnitude with the phase of the "
                f"coil-combined k-space, divided by {how} of the magnitude of the selected slices "
                f"of its volume (after crop and resize), magnitude clipped to 1.")
    return (f"MRI magnitude divided by {how} of the selected slices of its volume "
            f"(after crop and resize), clipped to [0, 1].")


# ---- one dataset's config entry applied to its volumes (rule prepare_dataset) ----------------

DEFAULT_NORMALISE = {"rule": "percentile", "q": 99.5}


def channel_count(entry: Mapping[str, Any], dataset: str) -> int:
    """Channels of a dataset's prepared images (1 magnitude, 2 real/imaginary), checked against
    its format and target (errors name the dataset)."""
    channels = entry.get("channels", "magnitude")
    if channels not in ("magnitude", "complex"):
        raise ValueError(f"dataset '{dataset}': channels '{channels}' unknown (use 'magnitude' or 'complex')")
    if channels == "complex" and (entry["format"] != "fastmri" or entry.get("target") != "kspace"):
        raise ValueError(f"dataset '{dataset}': channels 'complex' needs format 'fastmri' and "
                         f"target 'kspace' (the phase comes from the k-space; CT and stored "
                         f"reconstructions are real)")
    return 2 if channels == "complex" else 1


def split_entry(names: Sequence[str], entry: Mapping[str, Any]) -> dict[str, list[str]]:
    """:func:`split_volumes` with the entry's ``split`` settings (default 1 val, 1 test, seed 0)."""
    sp = entry.get("split", {})
    return split_volumes(names, sp.get("val", 1), sp.get("test", 1), sp.get("seed", 0))


def slice_count(entry: Mapping[str, Any], split: str) -> int | str:
    """Slices per volume of ``split`` (the entry's ``slices.train`` or ``slices.eval``; default all)."""
    return entry.get("slices", {}).get("train" if split == "train" else "eval", "all")


def mri_slices(images: np.ndarray, entry: Mapping[str, Any], size: int) -> tuple[np.ndarray, float]:
    """Selected slices of one fastMRI volume as read (magnitude, or complex for ``channels:
    complex``): crop, resize, normalise by one constant of the volume.

    Returns:
        ``(images, const)``: float32 ``(n, C, size, size)``, C = 1 magnitude in [0, 1] or
        C = 2 real/imaginary in [-1, 1]; the normalisation constant.
    """
    if entry.get("crop"):
        images = center_crop(images, entry["crop"])
    norm = entry.get("normalise", DEFAULT_NORMALISE)
    if entry.get("channels", "magnitude") == "complex":
        return normalise_complex(resize_complex(images, size), norm["rule"], norm.get("q", 99.5))
    images, const = normalise_mri(resize(images, size), norm["rule"], norm.get("q", 99.5))
    return images[:, None], const


def ct_slices(hu: np.ndarray, entry: Mapping[str, Any], size: int) -> tuple[np.ndarray, Any]:
    """Selected slices of one CT patient in Hounsfield units: crop, resize, map to [0, 1] through
    the entry's ``window`` (``[lo, hi]`` HU, or ``minmax``: each slice over its own range).

    Returns:
        ``(images, width)``: float32 ``(n, 1, size, size)``; the window width in HU (one per
        slice for ``minmax``).
    """
    if entry.get("crop"):
        hu = center_crop(hu, entry["crop"])
    if entry["window"] == "minmax":
        images, widths = minmax_ct(resize(hu, size))
        return images[:, None], widths
    lo, hi = entry["window"]
    return window_ct(resize(hu, size), lo, hi)[:, None], float(hi - lo)


# read(name, split) -> (images (n, C, S, S), slice indices, normalisation constant(s))
VolumeReader = Callable[[str, str], tuple[np.ndarray, Sequence[int], Any]]


def collect_splits(parts: Mapping[str, Sequence[str]], read: VolumeReader, image_shape: tuple[int, int, int]
                   ) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Every split's slices and the manifest rows, reading each volume once through ``read``.

    Args:
        parts: ``{split: volume names}`` (:func:`split_entry`).
        read: ``read(name, split)`` returns one volume's selected slices, their indices in the
            volume and its normalisation constant, or one per slice (the reader holds the file I/O).
        image_shape: ``(C, S, S)``, the shape of an empty split's slices.
    Returns:
        ``({split: (n, C, S, S)}, rows)`` with one manifest row per slice: ``split, index,
        source_file, slice_index, norm_constant``.
    """
    splits, rows = {}, []
    for split, names in parts.items():
        images = []
        for name in names:
            imgs, idx, const = read(name, split)
            consts = np.broadcast_to(np.asarray(const, dtype=np.float64), (len(idx),))  # one, or one per slice
            rows += [dict(split=split, index=len(images) + j, source_file=name, slice_index=s,
                          norm_constant=float(consts[j])) for j, s in enumerate(idx)]
            images += list(imgs)
        splits[split] = np.stack(images) if images else np.zeros((0, *image_shape), np.float32)
    return splits, rows


def prepared_attrs(entry: Mapping[str, Any], image_size: int, dataset: str, source: str) -> dict[str, Any]:
    """The attributes of a prepared file: how it was normalised, its size, origin and split."""
    return {"normalisation": normalisation_sentence(entry), "image_size": image_size,
            "dataset": dataset, "format": entry["format"], "source": str(source),
            "split": f"by volume, seed {entry.get('split', {}).get('seed', 0)}",
            "channels": entry.get("channels", "magnitude")}
