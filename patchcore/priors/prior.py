"""The trained prior: network + EDM preconditioning + the [0, 1] <-> [-1, 1] conversion.

This module is the ONLY place where the image scale changes: callers pass images and noise
levels on the [0, 1] scale (docs/ARCHITECTURE.md); the network works on [-1, 1] with
sigma_data 0.5, where x' = 2x - 1 and sigma' = 2 sigma. Complex images (C = 2, real and
imaginary in [-1, 1], centred at 0) are only scaled: x' = 2x.
"""

from typing import Optional, Union
import torch
from torch import nn

from patchcore.priors.network import build_network, resolve_network
from patchcore.priors.precond import EDMPrecond, SIGMA_DATA


def _offset(x):
    """1 for magnitude images ``(B, 1, H, W)`` (shifted to be centred), 0 for complex ones."""
    return 1 if x.shape[1] == 1 else 0


def to_model_scale(x: torch.Tensor, sigma: Optional[Union[float, torch.Tensor]] = None
    ) -> Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Image ``x`` in [0, 1] -> [-1, 1] (complex: x2 only); ``sigma`` -> model scale (x2)."""
    x = 2 * x - _offset(x)
    return x if sigma is None else (x, 2 * torch.as_tensor(sigma))


def from_model_scale(x: torch.Tensor) -> torch.Tensor:
    """Image on the model scale -> the [0, 1] scale (complex: /2 only)."""
    return (x + _offset(x)) / 2


class Prior(nn.Module):
    """Denoiser ``prior(x, sigma, coords=None)`` on the [0, 1] image scale.

    ``x`` (B, C, H, W) noisy image (clean part in [0, 1]), ``sigma`` float or (B,) on the
    [0, 1] scale, ``coords`` (B, 2, H, W) or (2, H, W) from :func:`patchcore.priors.coords.coord_grid`
    (required iff ``coord_channels == 2``). Returns the MMSE estimate (B, C, H, W), [0, 1] scale.
    H and W must be divisible by ``2 ** (levels - 1)`` of the network.

    Attributes: ``channels`` (C), ``coord_channels`` (0 or 2), ``coord_pad`` (padding of the
    canvas the coordinates were normalised over), ``options`` (dict rebuilding this prior).
    """

    def __init__(self, network: Union[str, dict], channels: int = 1, coord_channels: int = 0,
                 coord_pad: int = 0, sigma_data: float = SIGMA_DATA, uncertainty: bool = False,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        if coord_channels not in (0, 2):
            raise ValueError(f"coord_channels must be 0 or 2, got {coord_channels}")
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 (magnitude) or 2 (real, imaginary), got {channels}")
        network = resolve_network(network)
        self.channels = channels
        self.coord_channels = coord_channels
        self.coord_pad = int(coord_pad)
        self.options = {"network": network, "channels": channels, "coord_channels": coord_channels,
                        "coord_pad": self.coord_pad, "sigma_data": sigma_data, "uncertainty": uncertainty}
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        net = build_network(network, channels, coord_channels, generator=generator)
        self.precond = EDMPrecond(net, sigma_data, uncertainty, network["model_channels"], generator)

    @property
    def size_multiple(self) -> int:
        """Input sides must be divisible by this: ``2 ** (levels - 1)`` of the network."""
        return 2 ** (len(self.options["network"]["channel_mult"]) - 1)

    @classmethod
    def from_options(cls, options: dict, generator: Optional[torch.Generator] = None) -> "Prior":
        """A prior from the dict in ``prior.options`` (as stored in options.json)."""
        return cls(**options, generator=generator)

    def check_coords(self, coords: Optional[torch.Tensor], x: torch.Tensor) -> Optional[torch.Tensor]:
        """``coords`` as (B, 2, H, W) matching ``x``, or None; errors if the prior's need differs."""
        if self.coord_channels == 0:
            if coords is not None:
                raise ValueError("this prior was trained without coordinate channels; pass coords=None")
            return None
        if coords is None:
            raise ValueError("this prior needs coordinate channels: pass coords (B, 2, H, W)")
        if coords.ndim == 3:
            coords = coords.unsqueeze(0)
        coords = coords.to(device=x.device, dtype=x.dtype).expand(x.shape[0], -1, -1, -1)
        if coords.shape[1:] != (2,) + tuple(x.shape[-2:]):
            raise ValueError(f"coords shape {tuple(coords.shape)} does not match image {tuple(x.shape)}")
        return coords

    def forward(self, x: torch.Tensor, sigma: Union[float, torch.Tensor],
                coords: Optional[torch.Tensor] = None) -> torch.Tensor:
        coords = self.check_coords(coords, x)
        x_m, sigma_m = to_model_scale(x, sigma)
        return from_model_scale(self.precond(x_m, sigma_m.to(x.device), coords))
