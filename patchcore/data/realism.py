"""Measures of realism of a prepared dataset (is it flat? are its volumes all alike?).

Three numbers per dataset, each computed by a fixed rule on the prepared ``[0, 1]`` slices
(complex slices by their magnitude), never tuned to a result:

- ``spectrum_slope``: slope of log radially averaged power against log spatial frequency of
  the slice *interior* (the central square of half the side), after removing its mean and
  applying a 2-D Hann window; frequencies from 2 cycles per crop to 0.9 x Nyquist; median
  over slices. Natural photographs and CT/MR interiors lie around -2 to -3; a flat,
  piecewise-constant picture with sharp edges tends to -3 and beyond, white noise to 0.
- ``zero_gradient``: fraction of interior pixels whose horizontal and vertical forward
  differences are both below ``1/1024`` (below one grey level of a 10-bit display); mean
  over slices. Piecewise-constant regions give large values.
- ``inter_volume``: mean pairwise Euclidean distance between volumes of their mean slice
  statistics (mean, standard deviation, 10th/50th/90th percentile, mean gradient magnitude,
  all on the ``[0, 1]`` scale). Near-identical volumes give values near 0.
"""

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

ZERO_GRADIENT_TOL = 1.0 / 1024
STAT_NAMES = ("mean", "std", "p10", "p50", "p90", "grad")


def _magnitude(images):
    """``(n, C, H, W)`` or ``(n, H, W)`` -> ``(n, H, W)`` float64 (modulus for C = 2)."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4:
        x = np.sqrt((x ** 2).sum(1)) if x.shape[1] == 2 else x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"realism: expected (n, C, H, W) or (n, H, W), got {x.shape}")
    return x


def interior(images: np.ndarray) -> np.ndarray:
    """The central square of half the shorter side of each slice: ``(n, h, h)``."""
    x = _magnitude(images)
    H, W = x.shape[-2:]
    h = min(H, W) // 2
    top, left = (H - h) // 2, (W - h) // 2
    return x[:, top:top + h, left:left + h]


def radial_spectrum(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of one square ``(h, h)`` image: ``(freqs, power)``.

    Mean removed, 2-D Hann window; ``freqs`` in cycles per crop (integers 1..h//2).
    """
    h = img.shape[0]
    win = np.outer(np.hanning(h), np.hanning(h))
    f = np.fft.fftshift(np.fft.fft2((img - img.mean()) * win))
    power = np.abs(f) ** 2
    yy, xx = np.indices(power.shape) - h // 2
    r = np.rint(np.hypot(yy, xx)).astype(int)
    freqs = np.arange(1, h // 2 + 1)
    sums = np.bincount(r.ravel(), power.ravel(), minlength=h)
    counts = np.bincount(r.ravel(), minlength=h)
    return freqs, sums[freqs] / np.maximum(counts[freqs], 1)


def spectrum_slope(images: np.ndarray) -> float:
    """Median over slices of the log-log slope of the interior's radial power spectrum."""
    slopes = []
    for img in interior(images):
        freqs, power = radial_spectrum(img)
        keep = (freqs >= 2) & (freqs <= 0.9 * freqs[-1]) & (power > 0)
        if keep.sum() < 3:
            continue
        slopes.append(np.polyfit(np.log(freqs[keep]), np.log(power[keep]), 1)[0])
    return float(np.median(slopes)) if slopes else float("nan")


def zero_gradient_fraction(images: np.ndarray, tol: float = ZERO_GRADIENT_TOL) -> float:
    """Mean over slices of the fraction of interior pixels with both forward differences < tol."""
    x = interior(images)
    dy = np.abs(np.diff(x, axis=1))[:, :, :-1]
    dx = np.abs(np.diff(x, axis=2))[:, :-1, :]
    return float(((dy < tol) & (dx < tol)).mean())


def slice_statistics(images: np.ndarray) -> np.ndarray:
    """Per-slice statistics ``(n, 6)``: mean, std, p10, p50, p90, mean gradient magnitude."""
    x = _magnitude(images)
    flat = x.reshape(len(x), -1)
    gy, gx = np.gradient(x, axis=(1, 2))
    return np.stack([flat.mean(1), flat.std(1), *np.percentile(flat, [10, 50, 90], axis=1),
                     np.hypot(gy, gx).reshape(len(x), -1).mean(1)], axis=1)


def inter_volume_distance(images: np.ndarray, volumes: Sequence[Any]) -> float:
    """Mean pairwise distance between volumes' mean slice statistics.

    Args:
        images: ``(n, C, H, W)`` or ``(n, H, W)`` slices.
        volumes: length-``n`` sequence naming the volume of each slice.
    Returns:
        a float (NaN with fewer than two volumes).
    """
    volumes = np.asarray(volumes)
    if len(volumes) != len(images):
        raise ValueError(f"realism: {len(images)} slices but {len(volumes)} volume labels")
    stats = slice_statistics(images)
    means = [stats[volumes == v].mean(0) for v in np.unique(volumes)]
    pairs = [np.linalg.norm(a - b) for a, b in itertools.combinations(means, 2)]
    return float(np.mean(pairs)) if pairs else float("nan")


def realism_measures(images: np.ndarray, volumes: Sequence[Any]) -> dict[str, float | int]:
    """All three measures of one dataset as a dict (see the module docstring)."""
    return {"spectrum_slope": spectrum_slope(images),
            "zero_gradient": zero_gradient_fraction(images),
            "inter_volume": inter_volume_distance(images, volumes),
            "slices": int(len(images)), "volumes": int(len(np.unique(np.asarray(volumes))))}
