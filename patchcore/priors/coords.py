"""Position channels for position-aware patch priors (PaDIS, Patch Diffusion).

One function serves training and inference, so the two are normalised identically.
"""

from typing import Optional, Union
import torch


def coord_grid(top: int, left: int, h: int, w: int, image_size: int, pad: int,
               device: Union[str, torch.device, None] = None, dtype: Optional[torch.dtype] = torch.float32
    ) -> torch.Tensor:
    """Two coordinate channels of an ``h x w`` tile whose top-left pixel is ``(top, left)``.

    ``top``/``left`` are in image pixels and may be negative or exceed the image (the tile
    then lies partly in the padding). Channel 0 is x (column), channel 1 is y (row); the value
    of pixel ``i`` is ``(i + 0.5 - N/2) / (N/2 + pad)``, so a canvas padded by ``pad`` pixels on
    each side spans ``[-1, 1]``.

    Returns a tensor of shape ``(2, h, w)``.
    """
    half = image_size / 2.0
    scale = half + pad
    rows = (torch.arange(h, device=device, dtype=dtype) + top + 0.5 - half) / scale
    cols = (torch.arange(w, device=device, dtype=dtype) + left + 0.5 - half) / scale
    yy, xx = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack([xx, yy])
