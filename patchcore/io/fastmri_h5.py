"""fastMRI-layout HDF5 volumes: write (synthetic data) and read with validation.

Layout (as in the fastMRI release): dataset ``kspace`` complex64, ``(slices, coils, H, W)``
multicoil or ``(slices, H, W)`` singlecoil, with the read-out direction ``H`` oversampled
twice; dataset ``reconstruction_rss`` float32 ``(slices, h, w)``, the root-sum-of-squares image
centre-cropped to the recon matrix; dataset ``ismrmrd_header`` (XML bytes) giving
``encoding/encodedSpace/matrixSize`` and ``encoding/reconSpace/matrixSize``; attributes
``acquisition``, ``max``, ``norm``, ``patient_id``.

Every reading error is a ValueError whose message starts with the file path.
"""

from typing import Any, Optional, Sequence, Union
from pathlib import Path
import xml.etree.ElementTree as ET

import h5py
import numpy as np

from patchcore.data.kspace import complex_combine, ifft2c, rss
from patchcore.data.preparation import center_crop

_NS = {"m": "http://www.ismrm.org/ISMRMRD"}
REQUIRED_ATTRS = ("acquisition", "max", "norm", "patient_id")


def header_xml(encoded: tuple[int, int], recon: tuple[int, int], fov_mm: Any = (300.0, 300.0, 3.0)) -> str:
    """A minimal ISMRMRD header: encoded and recon matrix sizes ``(x, y)`` (x = read-out, H)."""
    def space(name, size, fov):
        return (f"<{name}><matrixSize><x>{size[0]}</x><y>{size[1]}</y><z>1</z></matrixSize>"
                f"<fieldOfView_mm><x>{fov[0]}</x><y>{fov[1]}</y><z>{fov[2]}</z></fieldOfView_mm>"
                f"</{name}>")
    enc_fov = (2 * fov_mm[0], fov_mm[1], fov_mm[2])
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<ismrmrdHeader xmlns="{_NS["m"]}"><encoding>'
            f'<trajectory>cartesian</trajectory>{space("encodedSpace", encoded, enc_fov)}'
            f'{space("reconSpace", recon, fov_mm)}</encoding></ismrmrdHeader>').encode()


def write_volume(path: Union[str, Path], kspace: np.ndarray, rss_image: np.ndarray, attrs: dict,
                 header: Optional[str]) -> None:
    """Write one volume in fastMRI layout to ``path`` (plain write; callers make it atomic).

    Args:
        kspace: complex ``(slices, coils, H, W)`` or ``(slices, H, W)``.
        rss_image: float ``(slices, h, w)``, the cropped reference image.
        attrs: dict with ``acquisition`` and ``patient_id`` (``max`` and ``norm`` are computed
            from ``rss_image`` as in fastMRI when absent).
        header: ISMRMRD XML bytes (see ``header_xml``).
    """
    rss_image = np.asarray(rss_image, dtype=np.float32)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=np.asarray(kspace, dtype=np.complex64))
        f.create_dataset("reconstruction_rss", data=rss_image)
        f.create_dataset("ismrmrd_header", data=np.bytes_(header))
        f.attrs["max"] = float(attrs.get("max", rss_image.max()))
        f.attrs["norm"] = float(attrs.get("norm", np.linalg.norm(rss_image)))
        f.attrs["acquisition"] = attrs["acquisition"]
        f.attrs["patient_id"] = attrs["patient_id"]


def recon_size(path: Union[str, Path], header: Optional[str]) -> tuple[int, int]:
    """The recon matrix ``(h, w)`` from ISMRMRD header bytes."""
    try:
        root = ET.fromstring(bytes(header))
        size = root.find("m:encoding/m:reconSpace/m:matrixSize", _NS)
        return int(size.find("m:x", _NS).text), int(size.find("m:y", _NS).text)
    except (ET.ParseError, AttributeError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: 'ismrmrd_header' has no readable "
                         f"encoding/reconSpace/matrixSize ({e})") from e


def num_slices(path: Union[str, Path], target: str = "reconstruction_rss") -> int:
    """Number of slices of a fastMRI file (after validating it)."""
    with _open(path) as f:
        return _check(path, f, target).shape[0]


def read_volume(path: Union[str, Path], target: str = "reconstruction_rss",
                slices: Optional[Sequence[int]] = None, complex_images: bool = False) -> np.ndarray:
    """Target images of one fastMRI volume, float32 ``(n, h, w)`` (complex64 if ``complex_images``).

    Args:
        target: ``'reconstruction_rss'`` (or another ``reconstruction_*`` dataset) to read the
            stored reference, or ``'kspace'`` to reconstruct it: ``ifft2c`` + RSS over coils,
            then a centre crop to the header's recon matrix.
        slices: sorted slice indices to read (default every slice).
        complex_images: return complex images (needs ``target='kspace'``): RSS magnitude with
            the phase of the coil-combined k-space (:func:`patchcore.data.kspace.complex_combine`).
    Raises:
        ValueError starting with ``path``: unreadable or truncated file, missing key or
        attribute, wrong rank, non-finite values.
    """
    if complex_images and target != "kspace":
        raise ValueError(f"{path}: complex images need target 'kspace' (stored reconstructions "
                         f"such as '{target}' are magnitude only)")
    with _open(path) as f:
        data = _check(path, f, target)
        index = slice(None) if slices is None else list(slices)
        try:
            values = data[index]
            header = f["ismrmrd_header"][()] if target == "kspace" else None
        except (OSError, IndexError, TypeError) as e:
            raise ValueError(f"{path}: cannot read '{target}' slices {slices} ({e})") from e
    if not np.isfinite(values).all():
        raise ValueError(f"{path}: '{target}' contains NaN or Inf values")
    if target != "kspace":
        return values.astype(np.float32)
    if complex_images:
        images = complex_combine(values)
    else:
        coil_images = ifft2c(values)
        images = (rss(coil_images, axis=1) if values.ndim == 4 else np.abs(coil_images)).astype(np.float32)
    h, w = recon_size(path, header)
    if h > images.shape[-2] or w > images.shape[-1]:
        raise ValueError(f"{path}: recon matrix {(h, w)} larger than k-space {images.shape[-2:]}")
    return center_crop(images, (h, w))


class _open:
    """Open an HDF5 file for reading, turning every failure into a ValueError naming it."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        try:
            self.f = h5py.File(self.path, "r")
        except FileNotFoundError as e:
            raise ValueError(f"{self.path}: file not found") from e
        except OSError as e:
            raise ValueError(f"{self.path}: not a readable HDF5 file (truncated or corrupt? {e})") from e
        return self.f

    def __exit__(self, *exc):
        self.f.close()
        return False


def _check(path, f, target):
    """Validate keys, attributes and ranks; return the target dataset (not yet read)."""
    if target != "kspace" and not target.startswith("reconstruction_"):
        raise ValueError(f"{path}: unknown target '{target}' (use 'kspace' or 'reconstruction_rss')")
    need = [target] + (["ismrmrd_header"] if target == "kspace" else [])
    missing = [k for k in need if k not in f]
    if missing:
        raise ValueError(f"{path}: missing dataset(s) {missing} (has {sorted(f.keys())})")
    missing = [a for a in REQUIRED_ATTRS if a not in f.attrs]
    if missing:
        raise ValueError(f"{path}: missing attribute(s) {missing}")
    data = f[target]
    if target == "kspace":
        if data.ndim not in (3, 4) or not np.issubdtype(data.dtype, np.complexfloating):
            raise ValueError(f"{path}: 'kspace' has shape {data.shape} and dtype {data.dtype}; "
                             f"expected complex (slices, coils, H, W) or (slices, H, W)")
    elif data.ndim != 3:
        raise ValueError(f"{path}: '{target}' has shape {data.shape}, expected (slices, h, w)")
    if data.shape[0] == 0:
        raise ValueError(f"{path}: '{target}' has no slices")
    return data
