"""The synthetic CT files are CT Image IODs (DICOM PS3.3 A.3): every Type 1 and Type 2
attribute of the mandatory modules, checked module by module, and consistent UIDs.

The module tables below are written from DICOM PS3.3 (module tables C.7.1.1 Patient, C.7.2.1
General Study, C.7.3.1 General Series, C.7.4.1 Frame of Reference, C.7.5.1 General Equipment,
C.7.6.1 General Image, C.7.6.2 Image Plane, C.7.6.3 Image Pixel, C.8.2.1 CT Image, C.12.1 SOP
Common). Type 1: present with a value; Type 2: present, possibly empty. Conditional (1C/2C)
attributes are listed where their condition holds for an axial CT image: Patient Position
(2C, required for CT without a Patient Orientation Code Sequence), Pixel Data (1C, no Pixel
Data Provider URL). Type 3 attributes are not required and not listed.
"""

import numpy as np
import pydicom
import pytest
from pydicom.uid import CTImageStorage

from patchcore.io import aapm_dicom

MODULES = {
    "Patient (C.7.1.1)": {"PatientName": 2, "PatientID": 2, "PatientBirthDate": 2, "PatientSex": 2},
    "General Study (C.7.2.1)": {"StudyInstanceUID": 1, "StudyDate": 2, "StudyTime": 2,
                                "ReferringPhysicianName": 2, "StudyID": 2, "AccessionNumber": 2},
    "General Series (C.7.3.1)": {"Modality": 1, "SeriesInstanceUID": 1, "SeriesNumber": 2,
                                 "PatientPosition": 2},
    "Frame of Reference (C.7.4.1)": {"FrameOfReferenceUID": 1, "PositionReferenceIndicator": 2},
    "General Equipment (C.7.5.1)": {"Manufacturer": 2},
    "General Image (C.7.6.1)": {"InstanceNumber": 2},
    "Image Plane (C.7.6.2)": {"PixelSpacing": 1, "ImageOrientationPatient": 1,
                              "ImagePositionPatient": 1, "SliceThickness": 2},
    "Image Pixel (C.7.6.3)": {"SamplesPerPixel": 1, "PhotometricInterpretation": 1, "Rows": 1,
                              "Columns": 1, "BitsAllocated": 1, "BitsStored": 1, "HighBit": 1,
                              "PixelRepresentation": 1, "PixelData": 1},
    "CT Image (C.8.2.1)": {"ImageType": 1, "SamplesPerPixel": 1, "PhotometricInterpretation": 1,
                           "BitsAllocated": 1, "BitsStored": 1, "HighBit": 1,
                           "RescaleIntercept": 1, "RescaleSlope": 1, "KVP": 2,
                           "AcquisitionNumber": 2},
    "SOP Common (C.12.1)": {"SOPClassUID": 1, "SOPInstanceUID": 1},
}


@pytest.fixture(scope="module")
def two_patients(tmp_path_factory):
    root = tmp_path_factory.mktemp("aapm")
    rng = np.random.default_rng(0)
    for pid in ("L004", "L007"):
        aapm_dicom.write_series(root / pid, rng.normal(0, 300, size=(4, 16, 12)), pid, rng,
                                spacing=(2.9, 2.9), thickness=5.0)
    return {pid: [pydicom.dcmread(f) for f in sorted((root / pid).glob("*.IMA"))]
            for pid in ("L004", "L007")}


def _empty(value):
    return value is None or (hasattr(value, "__len__") and len(value) == 0)


@pytest.mark.parametrize("module", list(MODULES))
def test_every_type1_and_type2_attribute_of_each_module(two_patients, module):
    for files in two_patients.values():
        for ds in files:
            for keyword, kind in MODULES[module].items():
                assert keyword in ds, f"{module}: {keyword} (Type {kind}) missing"
                if kind == 1:
                    assert not _empty(ds[keyword].value), f"{module}: {keyword} (Type 1) empty"


def test_enumerated_values_of_a_ct_image(two_patients):
    for ds in two_patients["L004"]:
        assert ds.SOPClassUID == CTImageStorage == ds.file_meta.MediaStorageSOPClassUID
        assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
        assert ds.Modality == "CT" and ds.SamplesPerPixel == 1
        assert ds.PhotometricInterpretation in ("MONOCHROME1", "MONOCHROME2")
        assert ds.BitsAllocated == 16 and 12 <= ds.BitsStored <= 16 and ds.HighBit == ds.BitsStored - 1
        assert ds.ImageType[0] in ("ORIGINAL", "DERIVED") and ds.ImageType[1] in ("PRIMARY", "SECONDARY")
        assert ds.ImageType[2] in ("AXIAL", "LOCALIZER")
        assert len(ds.ImageOrientationPatient) == 6 and len(ds.ImagePositionPatient) == 3
        assert len(ds.PixelSpacing) == 2 and len(ds.PixelData) == ds.Rows * ds.Columns * 2
        assert int(ds.pixel_array.max()) < 2 ** ds.BitsStored
        for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID):
            assert pydicom.uid.UID(uid).is_valid, uid


def test_uids_consistent_within_and_distinct_between_patients(two_patients):
    per_patient = {}
    for pid, files in two_patients.items():
        studies = {ds.StudyInstanceUID for ds in files}
        series = {ds.SeriesInstanceUID for ds in files}
        frames = {ds.FrameOfReferenceUID for ds in files}
        instances = [ds.SOPInstanceUID for ds in files]
        assert len(studies) == len(series) == len(frames) == 1, pid
        assert len(set(instances)) == len(instances), pid
        assert sorted(ds.InstanceNumber for ds in files) == list(range(1, len(files) + 1))
        per_patient[pid] = studies | series | frames | set(instances)
    assert not per_patient["L004"] & per_patient["L007"]


def test_slice_geometry_matches_thickness(two_patients):
    zs = sorted(float(ds.ImagePositionPatient[2]) for ds in two_patients["L004"])
    np.testing.assert_allclose(np.diff(zs), 5.0)
    assert all(float(ds.SliceThickness) == 5.0 for ds in two_patients["L004"])
