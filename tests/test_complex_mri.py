"""Complex MRI (`channels: complex`): coil combination, preparation, model scale, evaluation
clipping, and the workflow end to end on a tiny overlay config."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from patchcore.data import preparation as prep
from patchcore.experiments.cell import clip_image
from patchcore.io import fastmri_h5
from patchcore.data.kspace import complex_combine, fft2c, ifft2c, rss
from patchcore.priors.prior import from_model_scale, to_model_scale

ROOT = Path(__file__).resolve().parents[1]


def _kspace(seed=0, shape=(2, 3, 16, 12)):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)


def test_complex_combine_has_rss_magnitude_and_the_phase_of_the_summed_kspace():
    k = _kspace()
    z = complex_combine(k)
    assert z.shape == (2, 16, 12) and z.dtype == np.complex64
    np.testing.assert_allclose(np.abs(z), rss(ifft2c(k), axis=1), rtol=1e-5)
    summed = ifft2c(k.sum(1))
    np.testing.assert_allclose(np.angle(z * np.conj(summed)), 0, atol=1e-4)


def test_complex_combine_single_coil_is_the_inverse_fft():
    img = _kspace(1, (2, 8, 8))
    np.testing.assert_allclose(complex_combine(fft2c(img)), img, atol=1e-5)


def test_normalise_complex_matches_the_magnitude_rule_and_keeps_the_phase():
    z = _kspace(2, (3, 8, 8)) * 5
    out, const = prep.normalise_complex(z, "percentile", 90)
    mag, const_mag = prep.normalise_mri(np.abs(z), "percentile", 90)
    assert out.shape == (3, 2, 8, 8) and const == const_mag
    np.testing.assert_allclose(np.hypot(out[:, 0], out[:, 1]), mag, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.angle(out[:, 0] + 1j * out[:, 1]), np.angle(z), atol=1e-4)
    assert np.abs(out).max() <= 1


def test_resize_complex_is_resize_of_each_part():
    z = _kspace(3, (2, 16, 16))
    out = prep.resize_complex(z, 8)
    np.testing.assert_allclose(out.real, prep.resize(z.real, 8))
    np.testing.assert_allclose(out.imag, prep.resize(z.imag, 8))


def test_read_volume_complex_needs_kspace(tmp_path):
    k = _kspace(4, (2, 2, 16, 8))
    path = tmp_path / "v.h5"
    target = rss(ifft2c(k), axis=1)[:, 4:12]
    fastmri_h5.write_volume(path, k, target.astype(np.float32), {"acquisition": "x", "patient_id": "p"},
                            fastmri_h5.header_xml((16, 8), (8, 8)))
    z = fastmri_h5.read_volume(path, "kspace", complex_images=True)
    assert np.iscomplexobj(z) and z.shape == (2, 8, 8)
    np.testing.assert_allclose(np.abs(z), target, rtol=1e-5)
    with pytest.raises(ValueError, match="kspace"):
        fastmri_h5.read_volume(path, "reconstruction_rss", complex_images=True)


def test_model_scale_centres_magnitude_but_only_scales_complex():
    mag, cplx = torch.rand(2, 1, 4, 4), torch.rand(2, 2, 4, 4) * 2 - 1
    assert torch.allclose(to_model_scale(mag), 2 * mag - 1)
    assert torch.allclose(to_model_scale(cplx), 2 * cplx)
    for x in (mag, cplx):
        assert torch.allclose(from_model_scale(to_model_scale(x)), x)


def test_clip_image_limits_the_complex_magnitude_and_keeps_the_phase():
    x = torch.tensor([[[[3.0]], [[4.0]]], [[[0.3]], [[-0.4]]]])  # |x| = 5 and 0.5
    out = clip_image(x)
    assert torch.allclose(out[0].flatten(), torch.tensor([0.6, 0.8]))
    assert torch.allclose(out[1], x[1])
    assert torch.equal(clip_image(torch.tensor([[[[1.5, -0.2]]]])), torch.tensor([[[[1.0, 0.0]]]]))


@pytest.mark.slow
def test_complex_mri_workflow_end_to_end(tmp_path):
    """tests/configs/complex.yaml over tiny.yaml: prepare (2 channels), train, evaluate, table."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    args = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
            "--configfile", str(ROOT / "tests/configs/tiny.yaml"), str(ROOT / "tests/configs/complex.yaml"),
            "--cores", "2", "results/table1.csv"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PATCHCORE_DEVICE="cpu"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with h5py.File(tmp_path / "results/prepared/knee.h5") as f:
        train = f["train"][()]
        assert f.attrs["channels"] == "complex"
    assert train.shape[1:] == (2, 32, 32) and np.abs(train).max() <= 1
    assert np.hypot(train[:, 0], train[:, 1]).max() == pytest.approx(1.0, abs=1e-5)
    assert np.abs(train[:, 1]).mean() > 0.05  # a real phase, not a magnitude copied into channel 0
    options = (tmp_path / "results/priors/mri/whole/options.json").read_text()
    assert '"channels": 2' in options
    table = pd.read_csv(tmp_path / "results/table1.csv")
    assert set(table.task) == {"denoise", "mri4x"} and table.whole_psnr_mean.between(5, 60).all()
    recon = np.load(tmp_path / "results/cells/knee/mri4x/diffpir/whole/full-reflect.npy")
    assert recon.shape[2] == 2  # (kept, gt/baseline/reconstruction, C, H, W)
