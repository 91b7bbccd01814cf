"""EDM training loss (Karras et al. 2022, Eq. 2 and Table 1) with optional EDM2 uncertainty.

Model scale throughout (images in [-1, 1]); randomness is drawn by the caller with an explicit
generator (:func:`sample_sigma`, :func:`sample_noise`) and passed in, so one training step is a
pure function of its inputs and distributed ranks can split one global batch.
"""

from typing import Optional, Sequence, Union
import torch
from torch import nn

from patchcore.priors.precond import SIGMA_DATA


def sample_sigma(n: int, generator: Optional[torch.Generator], p_mean: float = -1.2, p_std: float = 1.2,
                 device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """Training noise levels on the model scale: ln sigma ~ N(p_mean, p_std^2), shape ``(n,)``."""
    z = torch.randn(n, generator=generator)
    return (z * p_std + p_mean).exp().to(device)


def sample_noise(shape: Sequence[int], generator: Optional[torch.Generator],
                 device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """Unit Gaussian noise of ``shape`` drawn on CPU from ``generator`` (device-independent)."""
    return torch.randn(shape, generator=generator).to(device)


def loss_weight(sigma: Union[float, torch.Tensor], sigma_data: float = SIGMA_DATA) -> torch.Tensor:
    """EDM loss weight lambda(sigma) = (s^2 + sd^2) / (s * sd)^2 = 1 / c_out^2 (EDM Table 1)."""
    return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


def edm_loss(precond: nn.Module, x0: torch.Tensor, sigma: Union[float, torch.Tensor], noise: torch.Tensor,
             extra: Optional[torch.Tensor] = None, uncertainty: bool = False) -> torch.Tensor:
    """Per-sample EDM loss, shape ``(B,)``.

    ``x0`` (B, C, H, W) clean images on the model scale, ``sigma`` (B,) model-scale noise
    levels, ``noise`` (B, C, H, W) unit Gaussian, ``extra`` optional network channels.
    Loss: lambda(sigma) * mean ||D(x0 + sigma n, sigma) - x0||^2 (EDM Eq. 2); with the EDM2
    uncertainty u(sigma): lambda/exp(u) * mse + u (EDM2 Eq. 21).
    """
    s = sigma.reshape(-1, 1, 1, 1)
    noisy = x0 + s * noise
    weight = loss_weight(sigma, precond.sigma_data)
    if uncertainty:
        denoised, logvar = precond(noisy, sigma, extra, return_logvar=True)
    else:
        denoised, logvar = precond(noisy, sigma, extra), None
    mse = (denoised - x0).square().flatten(1).mean(dim=1)
    if logvar is None:
        return weight * mse
    return weight / logvar.exp() * mse + logvar


class EDMLoss(nn.Module):
    """The training objective as a module (so torch DDP can wrap it): forward -> loss ``(B,)``."""

    def __init__(self, precond: nn.Module, uncertainty: bool = False):
        super().__init__()
        self.precond = precond
        self.uncertainty = uncertainty

    def forward(self, x0: torch.Tensor, sigma: Union[float, torch.Tensor], noise: torch.Tensor,
                extra: Optional[torch.Tensor] = None) -> torch.Tensor:
        return edm_loss(self.precond, x0, sigma, noise, extra, self.uncertainty)
