"""Measures used by the figures: the edge artifact of Roy et al. Fig. 1, and the tile
diagnosis of a whole-trained prior (results/figures/diagnosis_tiles.png)."""

import contextlib
from typing import Callable, Iterator, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from patchcore.inverse import schemes



def border_mask(h: int, w: int, band: int, device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """Boolean ``(h, w)`` mask of the pixels within ``band`` pixels of the image border."""
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    near_r = (rows < band) | (rows >= h - band)
    near_c = (cols < band) | (cols >= w - band)
    return near_r[:, None] | near_c[None, :]


def edge_artifact(x: torch.Tensor, gt: torch.Tensor, band: int = 4) -> dict:
    """Error in a band along the image border against the interior.

    Zero padding of the shifted grid creates foreground/background transitions that show as
    lines along the image edges (Roy et al., Fig. 1); this measures them.

    Args:
        x, gt: ``(..., H, W)`` reconstruction and ground truth on the same scale.
        band: width of the border band in pixels.

    Returns:
        dict with ``border_rmse``, ``interior_rmse`` and their ``ratio`` (border / interior;
        about 1 when errors are spread evenly, larger with edge artifacts).
    """
    mask = border_mask(x.shape[-2], x.shape[-1], band, device=x.device)
    sq = (x - gt).pow(2).reshape(-1, x.shape[-2], x.shape[-1])
    border = sq[:, mask].mean().sqrt()
    interior = sq[:, ~mask].mean().sqrt()
    return {"border_rmse": float(border), "interior_rmse": float(interior),
            "ratio": float(border / interior.clamp_min(1e-12))}


# ---- Tile diagnosis: why a whole-trained prior fails on small tiles ----------------------
# Each function takes a prior (``prior(x, sigma, coords=None)`` on the [0, 1] scale, see
# patchcore.priors.prior) and images ``(n, C, N, N)`` in [0, 1]; the noise is fixed by a seed, so every
# inference scheme sees the same noisy images.


def add_noise(images: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """``images + sigma * n`` with ``n ~ N(0, I)`` drawn from ``seed`` (same shape and dtype)."""
    g = torch.Generator().manual_seed(int(seed))
    return images + sigma * torch.randn(images.shape, generator=g, dtype=images.dtype)


def tile_edge_distance(n: int, patch: int, shift: tuple[int, int]) -> torch.Tensor:
    """Distance in pixels of every image pixel to the nearest edge of its tile, ``(n, n)`` int.

    The shifted grid of :class:`patchcore.inverse.patches.ShiftedGridDenoiser` (image ``n``, ``K = n // P
    + 1`` tiles, pad ``M = K P - n``) with grid shift ``(sy, sx)``: tile rows start at image row
    ``sy - M + i P``. 0 on a tile's outermost pixels, ``P // 2 - 1`` at its centre.
    """
    k = n // patch + 1
    m = k * patch - n

    def along(s):
        local = (torch.arange(n) - (s - m)) % patch  # position inside the tile, 0..P-1
        return torch.minimum(local, patch - 1 - local)

    return torch.minimum(along(shift[0])[:, None], along(shift[1])[None, :])


def denoising_stats(denoised: torch.Tensor, clean: torch.Tensor, noisy: torch.Tensor) -> dict:
    """Scores of one denoising run; every input ``(n, C, H, W)`` on the [0, 1] scale.

    Returns ``psnr`` and ``input_psnr`` (means over images of the per-image PSNR, data range 1),
    ``rmse``, and ``bias``: the mean of ``denoised - clean`` over all pixels (negative: darker).
    """
    def per_image_psnr(x):
        mse = (x - clean).square().flatten(1).mean(1).clamp_min(1e-12)
        return float((-10 * torch.log10(mse)).mean())

    return {"psnr": per_image_psnr(denoised), "input_psnr": per_image_psnr(noisy),
            "rmse": float((denoised - clean).square().mean().sqrt()),
            "bias": float((denoised - clean).mean())}


@torch.no_grad()
def tile_denoising(prior: Callable, images: torch.Tensor, sigma: float, infer: Union[str, int], pad: str,
                   seed: int, seam_band: int = 2) -> dict:
    """Held-out denoising by one inference scheme: one call of the shifted-grid denoiser per image.

    Args:
        prior: the prior; images: clean ``(n, C, N, N)`` in [0, 1]; sigma: noise std ([0, 1]).
        infer: ``'full'`` (whole image) or a tile size P; pad: ``'reflect'`` or ``'zero'``.
        seed: fixes the noise and the grid shifts.
        seam_band: pixels within this distance of a tile edge count as the seams.

    Returns:
        dict of :func:`denoising_stats` plus ``seam_rmse`` and ``interior_rmse`` (the error on
        the tile seams and inside the tiles; equal to ``rmse`` for ``'full'``) and the
        denoised images ``(n, C, N, N)`` under ``'denoised'``.
    """
    scheme = schemes.parse(infer)
    if scheme.kind not in ("full", "grid"):
        raise ValueError(f"tile_denoising: infer must be 'full' or a tile size, got {infer!r}")
    noisy = add_noise(images, sigma, seed)
    den = schemes.make_denoiser(prior, scheme, pad, torch.Generator().manual_seed(int(seed) + 1), None)
    n = images.shape[-1]
    out, seams, distances = [], [], []
    for i in range(images.shape[0]):
        shift = den.draw_shift(n)
        out.append(den.denoise(noisy[i : i + 1], sigma, shift))
        if scheme.covers(n):
            distances.append(torch.full((n, n), n // 2))
        else:
            distances.append(tile_edge_distance(n, scheme.patch, shift))
        seams.append(distances[-1] < seam_band)
    denoised = torch.cat(out)
    sq = (denoised - images).square().mean(1)  # (n, N, N)
    seam = torch.stack(seams)
    stats = denoising_stats(denoised, images, noisy)
    stats["seam_rmse"] = float(sq[seam].mean().sqrt()) if seam.any() else stats["rmse"]
    stats["interior_rmse"] = float(sq[~seam].mean().sqrt())
    stats["denoised"] = denoised
    stats["edge_distance"] = torch.stack(distances)
    return stats


def error_by_edge_distance(denoised: torch.Tensor, clean: torch.Tensor, distance: torch.Tensor) -> dict:
    """RMSE and mean bias of ``denoised`` against ``clean`` ``(n, C, N, N)`` per distance to
    the tile edge. ``distance`` ``(n, N, N)`` from :func:`tile_edge_distance`; returns
    ``{d: (rmse, bias)}``.
    """
    err = (denoised - clean).mean(1)
    return {int(d): (float(err[distance == d].square().mean().sqrt()), float(err[distance == d].mean()))
            for d in torch.unique(distance)}


def _reflect_pad(x, c):
    """Mirror ``x`` ``(..., P, P)`` onto itself by ``c`` pixels per side, any ``c`` (repeated
    reflection without repeating the edge pixel, as ``F.pad(mode='reflect')`` for ``c < P``)."""
    while c > 0:
        step = min(c, x.shape[-1] - 1)
        x = F.pad(x, (step,) * 4, mode="reflect")
        c -= step
    return x


@torch.no_grad()
def windowed_tiles(prior: Callable, noisy: torch.Tensor, sigma: float, patch: int, context: int, fill: str
    ) -> torch.Tensor:
    """Denoise each tile of the aligned ``P``-pixel grid inside a larger network input.

    Every tile (origin at multiples of ``patch``; ``N`` divisible by ``patch``) goes through the
    prior inside a window of ``P + 2 context`` pixels and only its centre ``P x P`` is kept.
    ``fill`` says what surrounds the tile in that window:

    - ``'image'``: the noisy image around the tile (reflected beyond the image edge): more
      input information *and* a larger input;
    - ``'reflect'``: the tile mirrored onto itself: a larger input (bottleneck, fewer zero-padded
      borders inside the tile's view) but no pixel from outside the tile;
    - ``'zero'``: zeros (0 on the [0, 1] scale), a larger input of empty surroundings.

    ``context = 0`` is plain non-overlapping tiling. ``noisy`` ``(n, C, N, N)``; returns the
    denoised image ``(n, C, N, N)``.
    """
    b, c, n, _ = noisy.shape
    if n % patch:
        raise ValueError(f"windowed_tiles: image size {n} is not a multiple of the tile size {patch}")
    k = n // patch
    if fill == "image":
        padded = _reflect_pad(noisy, context)
        windows = [padded[:, :, i * patch : i * patch + patch + 2 * context,
                          j * patch : j * patch + patch + 2 * context]
                   for i in range(k) for j in range(k)]
        windows = torch.stack(windows, 1)
    else:
        tiles = noisy.reshape(b, c, k, patch, k, patch).permute(0, 2, 4, 1, 3, 5).reshape(-1, c, patch, patch)
        if fill == "reflect":
            windows = _reflect_pad(tiles, context)
        elif fill == "zero":
            windows = F.pad(tiles, (context,) * 4)
        else:
            raise ValueError(f"fill must be 'image', 'reflect' or 'zero', got {fill!r}")
    windows = windows.reshape(b * k * k, c, patch + 2 * context, patch + 2 * context)
    sig = torch.full((windows.shape[0],), float(sigma), dtype=noisy.dtype)
    out = prior(windows, sig)[:, :, context : context + patch, context : context + patch]
    return out.reshape(b, k, k, c, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(b, c, n, n)


@contextlib.contextmanager
def windowed_attention(network: nn.Module, tile: int, image_size: int) -> Iterator[None]:
    """Inside the ``with`` block, every self-attention layer of ``network`` (a
    :class:`patchcore.priors.network.UNet`) attends only inside the aligned windows that a ``tile``-pixel
    tile of an ``image_size`` input covers at the layer's resolution (at least one token).

    Applied to a whole image, this gives each position the global context a tile would lose
    through attention alone, while the convolutions still see across tile borders.
    """
    from patchcore.priors.network import CosineAttention

    def window_mask(h, w):
        win = max(1, tile * h // image_size)
        rows = torch.arange(h * w) // w // win
        cols = torch.arange(h * w) % w // win
        group = rows * ((w + win - 1) // win) + cols
        return group[:, None] == group[None, :]

    layers = [m for m in network.modules() if isinstance(m, CosineAttention)]
    for layer in layers:
        layer.mask_fn = window_mask
    try:
        yield len(layers)
    finally:
        for layer in layers:
            layer.mask_fn = None


def tile_means_and_bias(denoised: torch.Tensor, clean: torch.Tensor, patch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per tile of the aligned ``patch`` grid: clean mean intensity and mean output bias.

    ``denoised``, ``clean`` ``(n, C, N, N)``; returns two 1-D tensors of length ``n (N/P)^2``.
    """
    b, c, n, _ = clean.shape
    k = n // patch

    def per_tile(x):
        return x[..., : k * patch, : k * patch].reshape(b, c, k, patch, k, patch).mean((1, 3, 5)).flatten()

    return per_tile(clean), per_tile(denoised - clean)


def _intensity_bins(clean_means, biases, edges):
    """Mean output bias and count of tiles per bin of clean tile mean (bins ``edges``)."""
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (clean_means >= lo) & (clean_means < hi)
        if sel.any():
            rows.append({"bin_low": lo, "bin_high": hi, "tiles": int(sel.sum()),
                         "bias": float(biases[sel].mean())})
    return rows


def _sweep_rows(name, prior, images, sigmas, tiles, pads, task_sigma, seed, examples):
    """Sweep rows of one prior (noise level x tile size x padding; one grid shift per image
    and call), with the ``edge`` rows of the smallest tile at the task sigma; fills ``examples``."""
    rows = []
    for sigma in sigmas:
        for infer in ["full"] + tiles:
            for pad in (pads if infer != "full" else pads[:1]):
                st = tile_denoising(prior, images, sigma, infer, pad, seed)
                rows.append({"experiment": "sweep", "prior": name, "sigma": sigma,
                             "infer": str(infer), "pad": pad if infer != "full" else "none",
                             **{k: v for k, v in st.items() if not torch.is_tensor(v)}})
                if sigma == task_sigma and pad == pads[0]:
                    examples[f"{name} {infer}"] = st["denoised"][0]
                    if infer == tiles[0]:
                        rows += _edge_rows(name, st, images, sigma, infer, pad)
    return rows


def _edge_rows(name, st, images, sigma, infer, pad):
    """RMSE and bias against the distance to the tile edge of one :func:`tile_denoising` result."""
    return [{"experiment": "edge", "prior": name, "sigma": sigma, "infer": str(infer), "pad": pad,
             "distance": d, "rmse": r, "bias": b}
            for d, (r, b) in error_by_edge_distance(st["denoised"], images, st["edge_distance"]).items()]


def _window_rows(name, prior, images, noisy, task_sigma, smallest):
    """What a larger input (image, reflection or zeros) around the smallest tile gives back."""
    return [{"experiment": "window", "prior": name, "sigma": task_sigma, "infer": str(smallest),
             "fill": fill, "context": context, "window": smallest + 2 * context,
             **denoising_stats(windowed_tiles(prior, noisy, task_sigma, smallest, context, fill), images, noisy)}
            for fill in ("image", "reflect", "zero")
            for context in (0, smallest // 4, smallest // 2, smallest, 3 * smallest // 2)]


def _attention_rows(name, prior, images, noisy, task_sigma, tiles):
    """The whole image with each attention layer restricted to tile-sized windows."""
    rows = []
    for tile in tiles:
        with windowed_attention(prior.precond.net, tile, images.shape[-1]), torch.no_grad():
            out = prior(noisy, torch.full((noisy.shape[0],), float(task_sigma)))
        rows.append({"experiment": "attention", "prior": name, "sigma": task_sigma,
                     "infer": "full", "window": tile, **denoising_stats(out, images, noisy)})
    return rows


def _intensity_rows(name, prior, images, noisy, task_sigma, smallest, intensity_edges):
    """Output bias per tile against the tile's clean mean intensity, whole image and tiles."""
    with torch.no_grad():
        whole = prior(noisy, torch.full((noisy.shape[0],), float(task_sigma)))
    tiled = windowed_tiles(prior, noisy, task_sigma, smallest, 0, "image")
    rows = []
    for infer, out in (("full", whole), (str(smallest), tiled)):
        means, bias = tile_means_and_bias(out, images, smallest)
        rows += [{"experiment": "intensity", "prior": name, "sigma": task_sigma, "infer": infer, **r}
                 for r in _intensity_bins(means, bias, list(intensity_edges))]
    return rows


def diagnose_tiles(priors: dict, images: torch.Tensor, sigmas: Sequence[float], tiles: Sequence,
                   pads: Sequence[str], task_sigma: float, seed: int = 0,
                   intensity_edges: Sequence[float] = (0.0, 0.05, 0.2, 0.4, 0.6, 1.01)
                   ) -> tuple[list[dict], dict]:
    """Every measurement of the tile diagnosis, as rows of one table, plus example outputs.

    ``priors``: ``{name: prior}``; ``images``: clean held-out ``(n, C, N, N)`` in [0, 1], ``N``
    a multiple of every tile; ``sigmas``: the sweep's noise levels; ``tiles``: tile sizes
    (``'full'`` is always added); ``pads``: shifted-grid paddings; ``task_sigma``: the noise
    level of the detailed experiments. Column ``experiment``: ``sweep`` (held-out denoising per
    prior, sigma, tile and padding, :func:`tile_denoising`), ``edge`` (RMSE against the
    distance to the tile edge, smallest tile), ``window`` (:func:`windowed_tiles`),
    ``attention`` (:func:`windowed_attention`), ``intensity`` (mean bias per bin of clean tile
    mean, smallest tiles and whole image). Returns ``(rows, examples)``: ``examples`` maps
    ``'clean'``, ``'noisy'`` and ``'<prior> <infer>'`` to the first image ``(C, N, N)`` at the
    task sigma.
    """
    tiles = sorted({schemes.parse(t).patch for t in tiles if not schemes.parse(t).whole})
    rows, examples = [], {}
    noisy = add_noise(images, task_sigma, seed)
    examples["clean"], examples["noisy"] = images[0], noisy[0]
    for name, prior in priors.items():
        rows += _sweep_rows(name, prior, images, sigmas, tiles, pads, task_sigma, seed, examples)
        rows += _window_rows(name, prior, images, noisy, task_sigma, tiles[0])
        rows += _attention_rows(name, prior, images, noisy, task_sigma, tiles)
        rows += _intensity_rows(name, prior, images, noisy, task_sigma, tiles[0], intensity_edges)
    return rows, examples
