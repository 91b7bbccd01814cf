"""Synthetic raw data in the real formats' layout (the data half of rule synthesize).

Pure functions of explicit settings and a seeded ``numpy.random.Generator``; the workflow
script writes what they return (``patchcore.io.fastmri_h5``, ``patchcore.io.aapm_dicom``).
``settings`` is a dataset's ``synthetic`` config entry: ``kind``, ``volumes``, ``slices``,
``seed`` and, for fastMRI kinds, ``matrix`` ``[H, W]`` (k-space size, read-out oversampled
twice), ``coils``, ``noise``; for the CT kind, ``size`` (pixels per side).
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from patchcore.data import anatomy
from patchcore.data.kspace import ifft2c, rss, simulate_multicoil
from patchcore.data.preparation import center_crop

ANATOMY = {"knee": anatomy.knee_volume, "brain": anatomy.brain_volume,
           "abdomen": anatomy.abdomen_volume}
# fastMRI's acquisition attribute of each kind (coronal proton density knee, axial T2 brain).
ACQUISITION = {"knee": "CORPD_FBK", "brain": "AXT2"}


def check_kind(kind: str) -> None:
    """Raise a ValueError naming the known kinds if ``kind`` has no generator."""
    if kind not in ANATOMY:
        raise ValueError(f"synthetic kind '{kind}' unknown (known: {sorted(ANATOMY)})")


def volume_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of volume (or patient) ``index`` of a dataset seeded with ``seed``."""
    return np.random.default_rng([seed, index])


def fastmri_volume(rng: np.random.Generator, settings: Mapping[str, Any]
                   ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """One fastMRI-like volume: anatomy -> read-out oversampling -> coils -> noisy k-space.

    Returns:
        ``(kspace, target, recon)``: complex64 k-space ``(slices, coils, H, W)``, the RSS
        target ``(slices, h, w)`` computed from it as in fastMRI (centre crop to the
        reconstruction matrix), and that matrix ``(h, w) = (H // 2, min(H // 2, W))``.
    """
    H, W = settings["matrix"]
    side = max(H // 2, W)
    obj = center_crop(ANATOMY[settings["kind"]](rng, settings["slices"], (side, side)), (H // 2, W))
    pad = (H - H // 2) // 2  # read-out oversampled twice, as in fastMRI (640 -> 320)
    obj = np.pad(obj, ((0, 0), (pad, H - H // 2 - pad), (0, 0)))
    kspace = simulate_multicoil(rng, obj, settings["coils"], settings.get("noise", 0.01))
    recon = (H // 2, min(H // 2, W))
    target = center_crop(rss(ifft2c(kspace), axis=1), recon)
    return kspace, target, recon


def patient_ids(seed: int, volumes: int) -> list[int]:
    """Distinct sorted AAPM-like patient numbers (1..999) of a dataset seeded with ``seed``."""
    return sorted(np.random.default_rng(seed).choice(np.arange(1, 1000), volumes, replace=False))


def ct_volume(rng: np.random.Generator, settings: Mapping[str, Any]) -> tuple[np.ndarray, float, float]:
    """One CT patient: Hounsfield units ``(slices, size, size)``, pixel spacing and slice
    thickness in millimetres (the phantom's field of view and cranio-caudal slab)."""
    size, slices = settings["size"], settings["slices"]
    hu = ANATOMY[settings["kind"]](rng, slices, (size, size))
    spacing = anatomy.CT_FIELD_OF_VIEW_MM / size
    thickness = anatomy.CT_SLAB * anatomy.CT_T_MM / max(slices - 1, 1)
    return hu, spacing, thickness
