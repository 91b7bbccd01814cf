"""Rule synthesize: raw synthetic data of one dataset in its real file format.

fastMRI kind (knee, brain): one HDF5 per volume, ``file_{kind}_{i:04d}.h5``: anatomy -> smooth
complex phase -> coil maps -> k-space (read-out oversampled twice) + complex Gaussian noise,
with ``reconstruction_rss`` computed from that k-space as in fastMRI. AAPM kind (abdomen): one
folder per patient ``L{nnn}`` holding its shuffled ``.IMA`` DICOM series in a series folder named
as in the TCIA download (``1.000000-Full Dose Images``, which ``include: "Full Dose"`` selects). The folder is built beside
the output and renamed onto it at the end, so a killed job leaves nothing complete-looking.
"""

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from patchcore.data import anatomy
from patchcore.io import aapm_dicom, fastmri_h5
from patchcore.io.logs import script_logger
from patchcore.data.kspace import ifft2c, rss, simulate_multicoil
from patchcore.data.preparation import center_crop

ANATOMY = {"knee": anatomy.knee_volume, "brain": anatomy.brain_volume,
           "abdomen": anatomy.abdomen_volume}
ACQUISITION = {"knee": "CORPD_FBK", "brain": "AXT2"}
SERIES = "1.000000-Full Dose Images"  # the series folder of a TCIA LDCT download


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder beside ``path``; on success replace ``path`` with it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    mask = os.umask(0)
    os.umask(mask)
    tmp.chmod(0o777 & ~mask)  # mkdtemp makes 0700; give the folder the usual mode
    try:
        yield tmp
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fastmri_volume(rng, kind, s):
    """k-space ``(slices, coils, H, W)``, RSS target ``(slices, h, w)`` and header of one volume."""
    H, W = s["matrix"]
    side = max(H // 2, W)
    obj = center_crop(ANATOMY[kind](rng, s["slices"], (side, side)), (H // 2, W))
    pad = (H - H // 2) // 2  # read-out oversampled twice, as in fastMRI (640 -> 320)
    obj = np.pad(obj, ((0, 0), (pad, H - H // 2 - pad), (0, 0)))
    kspace = simulate_multicoil(rng, obj, s["coils"], s.get("noise", 0.01))
    recon = (H // 2, min(H // 2, W))
    target = center_crop(rss(ifft2c(kspace), axis=1), recon)
    return kspace, target, fastmri_h5.header_xml((H, W), recon)


def write_fastmri(out, kind, s, log):
    for i in range(s["volumes"]):
        rng = np.random.default_rng([s["seed"], i])  # per-volume seed
        kspace, target, header = fastmri_volume(rng, kind, s)
        attrs = {"acquisition": ACQUISITION[kind], "patient_id": f"synthetic-{kind}-{i:04d}"}
        fastmri_h5.write_volume(out / f"file_{kind}_{i:04d}.h5", kspace, target, attrs, header)
        log.info("volume %d: kspace %s, target %s", i, kspace.shape, target.shape)


def write_aapm(out, kind, s, log):
    ids = sorted(np.random.default_rng(s["seed"]).choice(np.arange(1, 1000), s["volumes"],
                                                         replace=False))
    for i, pid in enumerate(ids):
        rng = np.random.default_rng([s["seed"], i])  # per-patient seed
        hu = ANATOMY[kind](rng, s["slices"], (s["size"], s["size"]))
        spacing = anatomy.CT_FIELD_OF_VIEW_MM / s["size"]
        thickness = anatomy.CT_SLAB * anatomy.CT_T_MM / max(s["slices"] - 1, 1)
        aapm_dicom.write_series(out / f"L{pid:03d}" / SERIES, hu, f"L{pid:03d}", rng, spacing=(spacing, spacing),
                                thickness=thickness)
        log.info("patient L%03d: %s slices of %s px (%.2f mm pixels, %.1f mm slices)", pid, s["slices"],
                 s["size"], spacing, thickness)


def main(sm):
    log = script_logger(sm.log[0])
    entry, s = sm.params.entry, sm.params.synthetic
    writer = {"fastmri": write_fastmri, "aapm": write_aapm}[entry["format"]]
    if s["kind"] not in ANATOMY:
        raise ValueError(f"synthetic kind '{s['kind']}' unknown (known: {sorted(ANATOMY)})")
    start = time.perf_counter()
    with atomic_dir(sm.output[0]) as tmp:
        writer(tmp, s["kind"], s, log)
    log.info("wrote %s in %.1f s", sm.output[0], time.perf_counter() - start)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
