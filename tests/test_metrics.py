"""PSNR and SSIM against scikit-image; LPIPS never reports a random-network number."""

import math
import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from patchcore.inverse import metrics


def _pair(seed=0, b=2, c=1, n=32):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(b, c, n, n, generator=g)
    x = (gt + 0.05 * torch.randn(gt.shape, generator=g)).clamp(0, 1)
    return x, gt


def test_psnr_matches_skimage():
    x, gt = _pair()
    ours = metrics.psnr(x, gt)
    assert ours.shape == (2,)
    for i in range(2):
        ref = peak_signal_noise_ratio(gt[i, 0].double().numpy(), x[i, 0].double().numpy(), data_range=1.0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-6)


def test_ssim_matches_skimage_and_is_one_on_identity():
    x, gt = _pair(1)
    ours = metrics.ssim(x, gt)
    for i in range(2):
        ref = structural_similarity(gt[i, 0].double().numpy(), x[i, 0].double().numpy(), data_range=1.0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-6)
    assert torch.allclose(metrics.ssim(gt, gt), torch.ones(2, dtype=torch.float64))


def test_complex_images_scored_on_magnitude():
    x, gt = _pair(2, c=2)
    mag_x, mag_gt = x.norm(dim=1, keepdim=True), gt.norm(dim=1, keepdim=True)
    assert torch.allclose(metrics.psnr(x, gt), metrics.psnr(mag_x, mag_gt))
    assert torch.allclose(metrics.ssim(x, gt), metrics.ssim(mag_x, mag_gt))
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(x, gt[:, :, :16])


def test_lpips_nan_with_one_warning_when_weights_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(metrics, "_WARNED", set())
    x, gt = _pair(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = metrics.lpips(x, gt)
        second = metrics.lpips(x, gt)
    assert torch.isnan(first).all() and torch.isnan(second).all() and first.shape == (2,)
    lpips_warnings = [w for w in caught if "LPIPS" in str(w.message)]
    assert len(lpips_warnings) == 1
    message = str(lpips_warnings[0].message)
    assert "alexnet-owt-7be5be79.pth" in message and "make fetch-weights" in message
    assert not (tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth").exists()  # nothing downloaded


def test_lpips_loads_trunk_from_torch_home(tmp_path, monkeypatch):
    """With a (stand-in) AlexNet checkpoint in TORCH_HOME, LPIPS uses exactly those weights."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(metrics, "_LPIPS_MODELS", {})
    torch.manual_seed(0)
    alexnet = torchvision.models.alexnet(weights=None)
    path = metrics.alexnet_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(alexnet.state_dict(), path)
    x, gt = _pair(4, b=1, n=64)
    value = metrics.lpips(x, gt)
    assert torch.isfinite(value).all() and value.item() > 0
    assert metrics.lpips(gt, gt).item() == pytest.approx(0.0, abs=1e-6)
    model = next(iter(metrics._LPIPS_MODELS.values()))
    assert torch.equal(model.net.slice1[0].weight, alexnet.features[0].weight)


def test_weights_dry_run_reports_path(tmp_path, monkeypatch, capsys):
    import json

    from patchcore.io import weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert weights.main(["--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"alexnet_weights": str(tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"),
                      "present": False}
