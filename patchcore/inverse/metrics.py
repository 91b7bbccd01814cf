"""Image quality metrics on the ``[0, 1]`` scale: PSNR, SSIM, LPIPS.

Inputs are ``(B, C, H, W)`` (or ``(C, H, W)``) tensors; ``C = 2`` (real, imaginary) images are
scored on their magnitude. Every metric returns a ``(B,)`` float64 tensor (one value per
image). PSNR and SSIM use a data range of 1.0 (the ``[0, 1]`` image scale).
"""

from typing import Optional, Union
import warnings
from pathlib import Path

import torch

DATA_RANGE = 1.0
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
FETCH_COMMAND = "make fetch-weights  (or: python -m patchcore.io.weights)"

_LPIPS_MODELS = {}
_WARNED = set()


def magnitude(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, 1, H, W)``: unchanged for ``C = 1``, modulus for ``C = 2``."""
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[1] not in (1, 2):
        raise ValueError(f"metrics: expected (B, C, H, W) with C = 1 or 2, got {tuple(x.shape)}")
    x = x.detach().to(torch.float64)
    return x if x.shape[1] == 1 else x.norm(dim=1, keepdim=True)


def _pair(x, gt):
    x, gt = magnitude(x), magnitude(gt)
    if x.shape != gt.shape:
        raise ValueError(f"metrics: shapes differ, {tuple(x.shape)} vs {tuple(gt.shape)}")
    return x, gt


def psnr(x: torch.Tensor, gt: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``, per image."""
    x, gt = _pair(x, gt)
    mse = (x - gt).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)


def ssim(x: torch.Tensor, gt: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Structural similarity (scikit-image ``structural_similarity``, 7x7 uniform window), per image."""
    from skimage.metrics import structural_similarity

    x, gt = _pair(x, gt)
    vals = [structural_similarity(g[0].cpu().numpy(), r[0].cpu().numpy(), data_range=data_range)
            for r, g in zip(x, gt)]
    return torch.tensor(vals, dtype=torch.float64)


def alexnet_weights_path() -> Optional[Path]:
    """Where torchvision (hence ``lpips``) looks for the AlexNet trunk: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


def _lpips_model(device, weights=None):
    """The LPIPS(alex) network, or None (with one warning) when the AlexNet weights are absent.

    ``weights``: the AlexNet checkpoint file (default: :func:`alexnet_weights_path`). Never
    downloads, so that no number from a randomly initialised trunk is ever reported.
    """
    path = Path(weights) if weights is not None else alexnet_weights_path()
    if not path.is_file():
        if str(path) not in _WARNED:
            _WARNED.add(str(path))
            warnings.warn(
                f"LPIPS reported as NaN: AlexNet weights not found at {path}. "
                f"Fetch them on a machine with network access with: {FETCH_COMMAND}",
                RuntimeWarning,
                stacklevel=3,
            )
        return None
    key = (str(path), path.stat().st_mtime_ns, str(device))
    if key not in _LPIPS_MODELS:
        _LPIPS_MODELS[key] = _build_lpips(path).eval().to(device)
    return _LPIPS_MODELS[key]


def _build_lpips(path):
    """LPIPS(alex) with its shipped linear layers and the AlexNet trunk loaded from ``path``.

    The trunk is built without weights (``pnet_rand=True``, so nothing is downloaded) and
    its convolutions are then filled from the torchvision checkpoint file.
    """
    import lpips as lpips_pkg
    import torchvision

    from patchcore.io.weights import read_alexnet_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # lpips passes torchvision's legacy `pretrained`
        model = lpips_pkg.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    features = torchvision.models.alexnet(weights=None).features
    features.load_state_dict(read_alexnet_features(path))
    for k in range(1, model.net.N_slices + 1):
        for name, module in getattr(model.net, f"slice{k}").named_children():
            module.load_state_dict(features[int(name)].state_dict())
    return model


def lpips(x: torch.Tensor, gt: torch.Tensor, weights: Optional[Union[str, Path]] = None) -> torch.Tensor:
    """LPIPS (AlexNet, Zhang et al. 2018) per image; NaN when the AlexNet weights are absent.

    ``weights``: the AlexNet checkpoint file (default: torchvision's place in ``$TORCH_HOME``).
    Magnitude images are clipped to ``[0, 1]``, replicated to 3 channels and mapped to ``[-1, 1]``.
    """
    x, gt = _pair(x, gt)
    model = _lpips_model(x.device, weights)
    if model is None:
        return torch.full((x.shape[0],), float("nan"), dtype=torch.float64)

    def prep(t):
        return (t.clamp(0, 1) * 2 - 1).expand(-1, 3, -1, -1).float()

    with torch.no_grad():
        out = model(prep(x), prep(gt))
    return out.flatten().to(torch.float64).cpu()
