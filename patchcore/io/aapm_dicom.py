"""AAPM 2016 Low-Dose CT Grand Challenge style DICOM series: write (synthetic) and read.

One folder per patient with one ``.IMA`` file per axial slice (CT Image Storage, uint16 pixels,
HU = pixel * RescaleSlope + RescaleIntercept). Files are sorted by one key, the z component of
ImagePositionPatient, never by file name. Every reading error is a ValueError naming the file
(or the folder) and the problem.
"""

from typing import Optional, Sequence, Union
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

SUFFIXES = (".ima", ".dcm")
REQUIRED_TAGS = ("ImagePositionPatient", "Rows", "Columns", "PixelData", "RescaleSlope",
                 "RescaleIntercept")
INTERCEPT = -1024.0
STUDY_DATE, STUDY_TIME = "20151222", "180940"


def _series_header(patient_id):
    """Attributes shared by every slice of one patient's series (one study, one series, one
    frame of reference), as a dict of DICOM keywords. UIDs are derived from the patient id,
    so the same inputs give the same files."""
    uid = lambda what: generate_uid(entropy_srcs=[patient_id, what])  # noqa: E731
    return {
        # Patient module (PS3.3 C.7.1.1): all Type 2.
        "PatientName": patient_id, "PatientID": patient_id, "PatientBirthDate": "",
        "PatientSex": "O",
        # General Study (C.7.2.1).
        "StudyInstanceUID": uid("study"), "StudyDate": STUDY_DATE, "StudyTime": STUDY_TIME,
        "ReferringPhysicianName": "", "StudyID": "1", "AccessionNumber": "",
        "StudyDescription": "Synthetic abdomen CT (patchcore)",
        # General Series (C.7.3.1); Patient Position is 2C, required for CT.
        "Modality": "CT", "SeriesInstanceUID": uid("series"), "SeriesNumber": 1,
        "PatientPosition": "FFS", "SeriesDescription": "Full dose 1 mm (synthetic)",
        # Frame of Reference (C.7.4.1).
        "FrameOfReferenceUID": uid("frame-of-reference"), "PositionReferenceIndicator": "",
        # General Equipment (C.7.5.1).
        "Manufacturer": "patchcore", "ManufacturerModelName": "synthetic phantom",
        # Contrast/Bolus (C.7.6.4), required when contrast was used: the phantom is portal venous.
        "ContrastBolusAgent": "IV contrast (synthetic)",
        # CT Image (C.8.2.1) values shared by the series.
        "KVP": 120, "AcquisitionNumber": 1, "ConvolutionKernel": "B30f",
    }


def _dataset(pixels, z, instance, header, spacing, thickness):
    """One CT slice as a pydicom Dataset with file meta (uint16 pixels): a CT Image IOD."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[header["SeriesInstanceUID"], str(instance)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    # SOP Common (C.12.1).
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 100"
    # General Image (C.7.6.1).
    ds.InstanceNumber, ds.ContentDate, ds.ContentTime = instance, STUDY_DATE, STUDY_TIME
    # Image Plane (C.7.6.2): the first pixel's centre, rows along +x, columns along +y.
    ds.ImagePositionPatient = [-0.5 * spacing[1] * (pixels.shape[1] - 1),
                               -0.5 * spacing[0] * (pixels.shape[0] - 1), float(z)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    ds.SliceThickness, ds.SliceLocation = float(thickness), float(z)
    # Image Pixel (C.7.6.3) with the CT Image constraints (C.8.2.1): one 16-bit grey sample.
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    # CT Image (C.8.2.1).
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, INTERCEPT, "HU"
    # VOI LUT (C.11.2): an abdomen window for viewers.
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def write_series(folder: Union[str, Path], hu_volume: np.ndarray, patient_id: str, rng: np.random.Generator,
                 spacing: Sequence[float] = (0.7, 0.7), thickness: float = 1.0) -> None:
    """Write ``hu_volume`` ``(slices, H, W)`` as AAPM-named ``.IMA`` files into ``folder``.

    Every file is a CT Image IOD (PS3.3 A.3) with every Type 1 and Type 2 attribute of its
    mandatory modules; one study, one series and one frame of reference per patient. Pixels
    are ``round(HU) + 1024`` clipped to the 12-bit range [0, 4095]. Slice ``i`` sits at
    z = -i * thickness (head first, going down); the instance numbers and file names are
    assigned in a random order, so only ImagePositionPatient gives the anatomical order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.rint(np.asarray(hu_volume, dtype=np.float64)) - INTERCEPT, 0, 4095)
    header = _series_header(patient_id)
    order = rng.permutation(len(pixels))
    for instance, i in enumerate(order, start=1):
        ds = _dataset(pixels[i], -i * thickness, instance, header, spacing, thickness)
        stamp = f"{rng.integers(10**5, 10**6)}.{rng.integers(10**8, 10**9)}"
        name = f"{patient_id}_FD_1_1.CT.0001.{instance:04d}.2015.12.22.18.09.40.{stamp}.IMA"
        ds.save_as(folder / name, enforce_file_format=True)


def list_series_files(folder: Union[str, Path], include: Optional[str] = None) -> list[Path]:
    """DICOM files (``.IMA``/``.dcm``, any depth) of a patient folder, optionally only those
    whose relative path contains ``include`` (e.g. ``'full_1mm'`` or ``'_FD_'``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if include:
        files = [p for p in files if include in str(p.relative_to(folder))]
    if not files:
        raise ValueError(f"{folder}: no DICOM files (*.IMA, *.dcm)"
                         + (f" matching '{include}'" if include else ""))
    return files


def _read_slice(path):
    """``(z, HU image, series uid)`` of one file; ValueError naming the file on any problem."""
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError) as e:
        raise ValueError(f"{path}: not a readable DICOM file ({e})") from e
    missing = [t for t in REQUIRED_TAGS if t not in ds]
    if missing:
        raise ValueError(f"{path}: missing DICOM tag(s) {missing}")
    try:
        pixels = ds.pixel_array.astype(np.float32)
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        z = float(ds.ImagePositionPatient[2])
    except Exception as e:  # pydicom raises many types for broken pixel data
        raise ValueError(f"{path}: cannot decode pixels or position ({e})") from e
    hu = pixels * np.float32(slope) + np.float32(intercept)
    if not np.isfinite(hu).all() or not np.isfinite(z):
        raise ValueError(f"{path}: NaN or Inf in pixels, rescale or position")
    return z, hu, ds.get("SeriesInstanceUID")


def read_series(folder: Union[str, Path], include: Optional[str] = None) -> np.ndarray:
    """A patient's CT volume in HU, float32 ``(slices, H, W)``, sorted by decreasing z (head first).

    Raises a ValueError naming the folder or the file for: a missing or empty folder, an
    unreadable file, missing tags, slices of different sizes, several series mixed in one
    folder, repeated slice positions, non-finite values.
    """
    files = list_series_files(folder, include)
    slices = [(*_read_slice(p), p) for p in files]
    first_shape, first_file = slices[0][1].shape, slices[0][3]
    for _, hu, _, path in slices:
        if hu.shape != first_shape:
            raise ValueError(f"{path}: image size {hu.shape} differs from {first_shape} "
                             f"of {first_file.name} (mixed series in {folder}?)")
    series = {s[2] for s in slices}
    if len(series) > 1:
        raise ValueError(f"{folder}: {len(series)} DICOM series mixed in one folder; choose one "
                         f"with the 'include' option (a path fragment such as 'full_1mm')")
    slices.sort(key=lambda s: -s[0])
    zs = np.array([s[0] for s in slices])
    if np.any(np.diff(zs) == 0):
        raise ValueError(f"{folder}: repeated slice positions (ImagePositionPatient z)")
    return np.stack([s[1] for s in slices])
