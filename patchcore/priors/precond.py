"""EDM preconditioning (Karras et al. 2022, Table 1) and the EDM2 learned uncertainty.

Everything here is on the model scale (images in [-1, 1], sigma_data 0.5); the conversion
from the [0, 1] image scale happens only in :class:`patchcore.priors.prior.Prior`.
"""

from typing import Optional, Union
import torch
from torch import nn

from patchcore.batching import per_image
from patchcore.priors.network import FourierFeatures, UnitConv

SIGMA_DATA = 0.5


def edm_coefficients(sigma: Union[float, torch.Tensor], sigma_data: float = SIGMA_DATA
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """EDM preconditioning coefficients for noise levels ``sigma`` (any shape, model scale).

    Returns ``(c_skip, c_out, c_in, c_noise)`` of the same shape as ``sigma``:
    c_skip = sd^2/(s^2+sd^2), c_out = s*sd/sqrt(s^2+sd^2), c_in = 1/sqrt(s^2+sd^2),
    c_noise = ln(s)/4 (EDM Table 1).
    """
    sigma = torch.as_tensor(sigma, dtype=torch.float32)
    total = sigma ** 2 + sigma_data ** 2
    c_skip = sigma_data ** 2 / total
    c_out = sigma * sigma_data / total.sqrt()
    c_in = 1 / total.sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


class LogVarHead(nn.Module):
    """EDM2 learned uncertainty: ``u(sigma)`` = linear(Fourier(c_noise)), shape ``(B,)`` (EDM2 Sec. 5)."""

    def __init__(self, channels: int = 128):
        super().__init__()
        self.fourier = FourierFeatures(channels)
        self.linear = UnitConv(channels, 1, 0)

    def reset(self, generator: torch.Generator) -> None:
        self.fourier.reset(generator)
        self.linear.reset(generator)
        return self

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        return self.linear(self.fourier(c_noise)).reshape(-1)


class EDMPrecond(nn.Module):
    """``D(x, sigma) = c_skip x + c_out F(c_in x, extra, c_noise)`` on the model scale.

    ``net`` takes ``(B, C + extra_channels, H, W)`` and ``c_noise`` ``(B,)`` and returns
    ``(B, C, H, W)``; ``extra`` (e.g. coordinates) is concatenated after c_in scaling (PaDIS).
    """

    def __init__(self, net: nn.Module, sigma_data: float = SIGMA_DATA, uncertainty: bool = False,
                 logvar_channels: int = 128, generator: Optional[torch.Generator] = None):
        super().__init__()
        self.net = net
        self.sigma_data = sigma_data
        self.logvar = LogVarHead(logvar_channels) if uncertainty else None
        if self.logvar is not None:
            self.logvar.reset(generator if generator is not None else torch.Generator().manual_seed(1))

    def forward(self, x: torch.Tensor, sigma: Union[float, torch.Tensor],
                extra: Optional[torch.Tensor] = None, return_logvar: bool = False
        ) -> Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x`` (B, C, H, W) noisy image on [-1, 1] plus noise; ``sigma`` float or (B,).

        Returns the denoised ``(B, C, H, W)`` and, with ``return_logvar``, ``u(sigma)`` (B,).
        """
        sigma = per_image(sigma, x, dtype=torch.float32)
        c_skip, c_out, c_in, c_noise = (c.reshape(-1, 1, 1, 1) for c in edm_coefficients(sigma, self.sigma_data))
        # Network input: c_in-scaled image, then the extra channels (EDM Eq. 7; PaDIS position encoding).
        x_in = (c_in * x).to(x.dtype)
        if extra is not None:
            x_in = torch.cat([x_in, extra.to(x_in.dtype)], dim=1)
        f = self.net(x_in, c_noise.reshape(-1))
        d = c_skip * x + c_out * f.to(torch.float32)
        if not return_logvar:
            return d
        if self.logvar is None:
            raise ValueError("return_logvar=True needs a preconditioner built with uncertainty=True")
        return d, self.logvar(c_noise.reshape(-1))

