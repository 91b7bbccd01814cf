"""Small helpers on batches shared by the sub-packages: per-image values and micro-batches."""

from typing import Optional, Union

import torch

Scalar = Union[float, int, torch.Tensor]


def per_image(value: Scalar, x: torch.Tensor, *, dtype: Optional[torch.dtype] = None,
              view: bool = False) -> torch.Tensor:
    """``value`` (a float, a 0-d or a ``(B,)`` tensor) as one value per image of ``x`` ``(B, ...)``.

    Returns a ``(B,)`` tensor on ``x``'s device in ``dtype`` (default ``x.dtype``), or with
    ``view`` a ``(B, 1, ..., 1)`` tensor that broadcasts against ``x``. Raises ValueError for
    any other shape.
    """
    v = torch.as_tensor(value, dtype=dtype or x.dtype, device=x.device)
    batch = x.shape[0]
    if v.dim() == 0:
        v = v.expand(batch).clone()
    elif v.shape != (batch,):
        raise ValueError(f"expected a scalar or a ({batch},) tensor, got shape {tuple(v.shape)}")
    return v.reshape(-1, *([1] * (x.dim() - 1))) if view else v


def micro_batches(total: int, size: Optional[int]) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive micro-batches of at most ``size`` of ``total`` items
    (one batch of everything when ``size`` is None or 0)."""
    step = total if not size else int(size)
    return [(i, min(i + step, total)) for i in range(0, total, max(step, 1))]


def randn_like(like: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Standard normal noise shaped like ``like``, drawn from ``generator`` on the generator's
    own device (so a CPU generator gives the same numbers whatever the device), then moved to
    ``like``'s device."""
    device = generator.device if generator is not None else like.device
    return torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype).to(like.device)
