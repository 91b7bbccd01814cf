"""Rule synthesize: raw synthetic data of one dataset in its real file format.

fastMRI kind (knee, brain): one HDF5 per volume, ``file_{kind}_{i:04d}.h5``: anatomy -> smooth
complex phase -> coil maps -> k-space (read-out oversampled twice) + complex Gaussian noise,
with ``reconstruction_rss`` computed from that k-space as in fastMRI. AAPM kind (abdomen): one
folder per patient ``L{nnn}`` holding its shuffled ``.IMA`` DICOM series in a series folder named
as in the TCIA download (``1.000000-Full Dose Images``, which ``include: "Full Dose"`` selects). The folder is built beside
the output and renamed onto it at the end, so a killed job leaves nothing complete-looking.
"""

import time

from patchcore.data import synthetic
from patchcore.io import aapm_dicom, fastmri_h5
from patchcore.io.atomic import atomic_dir
from patchcore.io.logs import script_logger

SERIES = "1.000000-Full Dose Images"  # the series folder of a TCIA LDCT download


def write_fastmri(out, s, log):
    kind = s["kind"]
    for i in range(s["volumes"]):
        kspace, target, recon = synthetic.fastmri_volume(synthetic.volume_rng(s["seed"], i), s)
        attrs = {"acquisition": synthetic.ACQUISITION[kind], "patient_id": f"synthetic-{kind}-{i:04d}"}
        header = fastmri_h5.header_xml(tuple(s["matrix"]), recon)
        fastmri_h5.write_volume(out / f"file_{kind}_{i:04d}.h5", kspace, target, attrs, header)
        log.info("volume %d: kspace %s, target %s", i, kspace.shape, target.shape)


def write_aapm(out, s, log):
    for i, pid in enumerate(synthetic.patient_ids(s["seed"], s["volumes"])):
        rng = synthetic.volume_rng(s["seed"], i)
        hu, spacing, thickness = synthetic.ct_volume(rng, s)
        aapm_dicom.write_series(out / f"L{pid:03d}" / SERIES, hu, f"L{pid:03d}", rng, spacing=(spacing, spacing),
                                thickness=thickness)
        log.info("patient L%03d: %s slices of %s px (%.2f mm pixels, %.1f mm slices)", pid, s["slices"],
                 s["size"], spacing, thickness)


def main(sm):
    log = script_logger(sm.log[0])
    entry, s = sm.params.entry, sm.params.synthetic
    writer = {"fastmri": write_fastmri, "aapm": write_aapm}[entry["format"]]
    synthetic.check_kind(s["kind"])
    start = time.perf_counter()
    with atomic_dir(sm.output[0]) as tmp:
        writer(tmp, s, log)
    log.info("wrote %s in %.1f s", sm.output[0], time.perf_counter() - start)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
