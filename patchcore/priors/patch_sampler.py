"""Training crops: whole images, random patches (Roy et al.), or PaDIS mixed-size patches.

A sampler spec is a plain dict (``priors.<name>.sampler`` in config):

- ``{"mode": "whole"}``: full images, no coordinates.
- ``{"mode": "random", "sizes": [P]}``: random P x P crops inside the image (Roy et al.:
  128 from 256, as in Patch Diffusion), no coordinates.
- ``{"mode": "padis", "sizes": [...], "probs": [...], "coord_pad": M, "coords": true}``:
  one patch size per step drawn with ``probs`` (PaDIS: 16/32/64 with 0.2/0.3/0.5 at 256),
  crops anywhere in the image zero-padded by ``coord_pad`` pixels (0 on the [0, 1] scale),
  with the two coordinate channels of :func:`patchcore.priors.coords.coord_grid` when ``coords``.

Every step processes the same number of pixels: a step of patch size P takes
``round(batch * (N / P)^2)`` crops where ``batch`` counts full N x N images (PaDIS multiplies the
batch for small patches).
"""

from typing import Optional, Sequence
import torch

from patchcore.priors.coords import coord_grid

MODES = ("whole", "random", "padis")


def resolve_sampler(spec: Optional[dict], image_size: int) -> dict:
    """A sampler spec completed with defaults and checked against ``image_size``; returns a dict."""
    spec = dict(spec or {"mode": "whole"})
    mode = spec.get("mode", "whole")
    if mode not in MODES:
        raise ValueError(f"sampler mode '{mode}' unknown (known: {', '.join(MODES)})")
    sizes = [int(s) for s in spec.get("sizes", [image_size])] if mode != "whole" else [image_size]
    probs = [float(p) for p in spec.get("probs", [1.0 / len(sizes)] * len(sizes))]
    if len(probs) != len(sizes) or abs(sum(probs) - 1) > 1e-6 or min(probs) < 0:
        raise ValueError(f"sampler probs {probs} must be non-negative, sum to 1 and match sizes {sizes}")
    pad = int(spec.get("coord_pad", 0)) if mode == "padis" else 0
    coords = bool(spec.get("coords", mode == "padis"))
    if coords and mode != "padis":
        raise ValueError("sampler: coordinate channels need mode 'padis'")
    for size in sizes:
        limit = image_size + 2 * pad
        if size > limit or size < 1:
            raise ValueError(f"sampler patch size {size} must be in [1, {limit}] (image {image_size}, pad {pad})")
    return {"mode": mode, "sizes": sizes, "probs": probs, "coord_pad": pad, "coords": coords}


def crops_per_step(batch: int, image_size: int, patch: int, world: int = 1) -> int:
    """Number of crops of size ``patch`` holding the pixels of ``batch`` full images, rounded up
    to a multiple of ``world`` (distributed ranks) and at least ``world``."""
    n = max(1, round(batch * (image_size / patch) ** 2))
    return -(-n // world) * world


def choose_size(sizes: Sequence[int], probs: Sequence[float], generator: torch.Generator) -> int:
    """One patch size drawn from ``sizes`` with probabilities ``probs``."""
    if len(sizes) == 1:
        return sizes[0]
    index = torch.multinomial(torch.tensor(probs, dtype=torch.float64), 1, generator=generator)
    return sizes[int(index)]


def crop(images: torch.Tensor, index: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int
    ) -> torch.Tensor:
    """Crops ``(n, C, size, size)`` of ``images[index]`` (n,) with top-left corners ``top``,
    ``left`` (n,) in image pixels; pixels outside the image are 0 (zero padding).

    Vectorised gather: no padded copy of the images is made.
    """
    _, _, height, width = images.shape
    offsets = torch.arange(size)
    rows = (top[:, None] + offsets)[:, :, None]  # (n, size, 1)
    cols = (left[:, None] + offsets)[:, None, :]  # (n, 1, size)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    picked = images[index[:, None, None], :, rows.clamp(0, height - 1), cols.clamp(0, width - 1)]
    return (picked * inside[..., None].to(images.dtype)).permute(0, 3, 1, 2).contiguous()


def crop_coords(top: torch.Tensor, left: torch.Tensor, size: int, image_size: int, pad: int) -> torch.Tensor:
    """Coordinate channels ``(n, 2, size, size)`` of crops at ``top``, ``left`` (n,).

    Read from :func:`patchcore.priors.coords.coord_grid` of the whole padded canvas, which gives values
    identical to ``coord_grid(top, left, size, size, image_size, pad)`` of each crop.
    """
    canvas = coord_grid(-pad, -pad, image_size + 2 * pad, image_size + 2 * pad, image_size, pad)
    offsets = torch.arange(size)
    rows = (top[:, None] + offsets + pad)[:, :, None]
    cols = (left[:, None] + offsets + pad)[:, None, :]
    return canvas[:, rows, cols].permute(1, 0, 2, 3).contiguous()


def sample_batch(images: torch.Tensor, spec: dict, batch: int, generator: torch.Generator, world: int = 1
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """One training batch of crops drawn from ``generator``.

    ``images`` (n, C, N, N) in [0, 1]; ``spec`` a resolved sampler (:func:`resolve_sampler`);
    ``batch`` the number of full images' worth of pixels. Returns ``(x, coords)`` with ``x``
    (b, C, P, P) and ``coords`` (b, 2, P, P) or None; the same for every rank when the
    generator is seeded alike (ranks then take their slice).
    """
    n, _, height, width = images.shape
    if height != width:
        raise ValueError(f"training images must be square, got {height}x{width}")
    size = choose_size(spec["sizes"], spec["probs"], generator)
    count = crops_per_step(batch, height, size, world)
    index = torch.randint(n, (count,), generator=generator)
    if spec["mode"] == "whole":
        return images[index], None
    pad = spec["coord_pad"]
    # Top-left corners uniform over all positions inside the (padded) image.
    top = torch.randint(-pad, height + pad - size + 1, (count,), generator=generator)
    left = torch.randint(-pad, height + pad - size + 1, (count,), generator=generator)
    x = crop(images, index, top, left, size)
    coords = crop_coords(top, left, size, height, pad) if spec["coords"] else None
    return x, coords
