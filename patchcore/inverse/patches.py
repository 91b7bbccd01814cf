"""Patch-based denoisers built from a prior: shifted grid (PaDIS / Roy et al.), stitching,
patch averaging, and the memory-bounded gradient through them.

A prior is any callable ``prior(x, sigma, coords=None)`` with ``x`` of shape
``(n, C, P, P)`` on the ``[0, 1]`` scale, ``sigma`` a ``(n,)`` tensor, ``coords`` a
``(n, 2, P, P)`` tensor or None; optional attributes ``coord_channels`` (0 or 2) and
``coord_pad`` say whether it wants position channels and the canvas padding they were
normalised with. Every wrapper here is itself a denoiser ``D(x, sigma)`` with ``x`` of shape
``(B, C, N, N)`` and ``sigma`` a float or a ``(B,)`` tensor.
"""

from typing import Callable, Optional, Union
import torch

from patchcore.batching import micro_batches, per_image
from patchcore.priors.coords import coord_grid


def _wants_coords(prior, use_coords):
    """Whether to pass position channels: ``use_coords`` if given, else ``prior.coord_channels == 2``."""
    if use_coords is None:
        return getattr(prior, "coord_channels", 0) == 2
    return bool(use_coords)


def _run_prior(prior, tiles, sigmas, coords, micro_batch):
    """``prior(tiles) - tiles`` in micro-batches of at most ``micro_batch`` tiles.

    ``tiles`` ``(n, C, P, P)``, ``sigmas`` ``(n,)``, ``coords`` ``(n, 2, P, P)`` or None.
    """
    out = []
    for start, stop in micro_batches(tiles.shape[0], micro_batch):
        t = tiles[start:stop]
        c = None if coords is None else coords[start:stop]
        out.append(prior(t, sigmas[start:stop], coords=c) - t)
    return torch.cat(out) if len(out) > 1 else out[0]


class ShiftedGridDenoiser:
    """Shifted-grid patch denoiser (PaDIS Algorithm, slide "Randomly select grid integer m").

    Image ``N``, patch ``P``: ``K = N // P + 1`` tiles per side, pad ``M = K P - N`` pixels on
    every side (``'reflect'`` as in Roy et al. Sec. 2.3 or ``'zero'`` as in PaDIS); each call
    draws a shift ``(sy, sx)`` uniformly in ``[0, M-1]^2`` from ``generator`` and denoises the
    ``K*K`` non-overlapping tiles of the window ``[s, s + K P)`` of the padded image, at most
    ``micro_batch`` tiles per prior call. Output ``x + sum_tiles (D(tile) - tile)`` cropped to
    the image: every image pixel lies in exactly one tile. Tiles are streamed: each micro-batch
    is gathered straight from the unpadded image by index arithmetic and its result added into
    the output, so apart from the output the memory is that of one micro-batch (the tests
    hold the equivalent all-at-once tiling of a padded copy as the reference).

    ``patch='full'`` (or ``P >= N``) is the whole-image denoiser (``micro_batch`` then counts
    images). Coordinates come from :func:`patchcore.priors.coords.coord_grid` with ``pad =
    prior.coord_pad`` when the prior has ``coord_channels == 2`` (or ``use_coords=True``).
    """

    def __init__(self, prior: Callable, patch: Union[int, str], pad_mode: str = "reflect",
                 generator: Optional[torch.Generator] = None, micro_batch: Optional[int] = None,
                 use_coords: Optional[bool] = None):
        if pad_mode not in ("reflect", "zero"):
            raise ValueError(f"pad_mode must be 'reflect' or 'zero', got {pad_mode!r}")
        if patch != "full" and (not isinstance(patch, int) or patch <= 0):
            raise ValueError(f"patch must be 'full' or a positive int, got {patch!r}")
        if micro_batch is not None and int(micro_batch) <= 0:
            raise ValueError(f"micro_batch must be a positive int or None, got {micro_batch!r}")
        self.prior = prior
        self.patch = patch
        self.pad_mode = pad_mode
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.micro_batch = micro_batch
        self.use_coords = _wants_coords(prior, use_coords)
        self.coord_pad = getattr(prior, "coord_pad", 0)

    # -- geometry ---------------------------------------------------------------------------
    def geometry(self, n: int) -> tuple[int, int, int]:
        """``(P, K, M)`` for an ``n x n`` image; ``(n, 1, 0)`` for the whole-image denoiser."""
        if self.patch == "full" or self.patch >= n:
            return n, 1, 0
        p = int(self.patch)
        k = n // p + 1
        return p, k, k * p - n

    def draw_shift(self, n: int) -> tuple[int, int]:
        """A new grid shift ``(sy, sx)``, each uniform in ``[0, M-1]``."""
        _, _, m = self.geometry(n)
        if m == 0:
            return (0, 0)
        s = torch.randint(0, m, (2,), generator=self.generator)
        return int(s[0]), int(s[1])

    def tile_origins(self, n: int, shift: tuple[int, int]) -> list[tuple[int, int]]:
        """Top-left image coordinates ``[(top, left), ...]`` of the ``K*K`` tiles, row-major."""
        p, k, m = self.geometry(n)
        return [(shift[0] - m + i * p, shift[1] - m + j * p) for i in range(k) for j in range(k)]

    # -- tiles --------------------------------------------------------------------------------
    def tile_coords(self, n: int, shift: tuple[int, int], batch: int,
                    device: Union[str, torch.device, None], dtype: Optional[torch.dtype], start: int = 0,
                    stop: Optional[int] = None) -> Optional[torch.Tensor]:
        """Position channels ``(stop - start, 2, P, P)`` of tiles ``start:stop`` of the
        ``B*K*K`` tiles (image-major, then row-major; all of them by default), or None if unused.
        """
        if not self.use_coords:
            return None
        p, k, _ = self.geometry(n)
        stop = batch * k * k if stop is None else stop
        origins = self.tile_origins(n, shift)
        grids = [coord_grid(*origins[t % (k * k)], p, p, n, self.coord_pad, device=device, dtype=dtype)
                 for t in range(start, stop)]
        return torch.stack(grids)

    def _check(self, x):
        if x.dim() != 4 or x.shape[-1] != x.shape[-2]:
            raise ValueError(f"ShiftedGridDenoiser: expected (B, C, N, N) images, got {tuple(x.shape)}")

    def _check_shift(self, n, shift):
        m = self.geometry(n)[2]
        if not all(0 <= s <= max(m, 0) for s in shift):
            raise ValueError(f"grid shift {shift} outside [0, {m}] for image {n} and patch {self.patch}")

    # -- streamed tiles (no padded copy of the image) -------------------------------------------
    def _tile_index(self, n, shift, start, stop, device, offset=0):
        """Where tiles ``start:stop`` of the ``B*K*K`` tiles read their pixels.

        Returns ``(b, rows, cols, inside)``: image index ``(t, 1, 1)``, row ``(t, P, 1)`` and
        column ``(t, 1, P)`` indices, and ``inside`` ``(t, P, P)`` (True where the tile pixel
        lies in the ``n x n`` image). With ``offset`` 0 the indices point into the unpadded
        image: outside it, ``'reflect'`` mirrors about the border pixel without repeating it
        (as ``F.pad(mode='reflect')``; valid since ``M < N``), ``'zero'`` clamps (the pixel is
        then masked out). With ``offset`` M they point into a canvas padded by M pixels, which
        holds every tile pixel (:class:`CanvasDenoiser`).
        """
        p, k, m = self.geometry(n)
        t = torch.arange(start, stop, device=device)
        b, loc = t // (k * k), t % (k * k)
        offsets = torch.arange(p, device=device)
        rows = (shift[0] - m + (loc // k) * p)[:, None] + offsets  # (t, P) image rows, may be outside
        cols = (shift[1] - m + (loc % k) * p)[:, None] + offsets
        inside = ((rows >= 0) & (rows < n))[:, :, None] & ((cols >= 0) & (cols < n))[:, None, :]
        if offset:
            rows, cols = rows + offset, cols + offset
        elif self.pad_mode == "reflect":
            rows = torch.where(rows < 0, -rows, torch.where(rows >= n, 2 * (n - 1) - rows, rows))
            cols = torch.where(cols < 0, -cols, torch.where(cols >= n, 2 * (n - 1) - cols, cols))
        else:
            rows, cols = rows.clamp(0, n - 1), cols.clamp(0, n - 1)
        return b[:, None, None], rows[:, :, None], cols[:, None, :], inside

    @staticmethod
    def _gather(img, index, masked):
        """Tiles ``(t, C, P, P)`` of ``img`` ``(B, C, N, N)`` at ``index`` (from :meth:`_tile_index`);
        ``masked`` zeroes the pixels outside the image (zero padding)."""
        b, rows, cols, inside = index
        tiles = img.permute(0, 2, 3, 1)[b, rows, cols].permute(0, 3, 1, 2).contiguous()
        if masked:
            tiles = torch.where(inside[:, None], tiles, torch.zeros((), dtype=tiles.dtype, device=tiles.device))
        return tiles

    @staticmethod
    def _scatter_add(img, index, tiles, inside_only):
        """``img += `` adjoint of the gather: each tile pixel ``(t, C, P, P)`` is added, in place,
        to the image pixel it was read from (only pixels inside the image if ``inside_only``)."""
        b, rows, cols, inside = index
        shape = inside.shape
        b, rows, cols = b.expand(shape), rows.expand(shape), cols.expand(shape)
        values = tiles.permute(0, 2, 3, 1)  # (t, P, P, C)
        if inside_only:
            b, rows, cols, values = b[inside], rows[inside], cols[inside], values[inside]
        img.permute(0, 2, 3, 1).index_put_((b, rows, cols), values, accumulate=True)

    @staticmethod
    def _slice_sigmas(sigmas, per_image, start, stop):
        """Noise levels ``(stop - start,)`` of tiles ``start:stop`` from the per-image ``(B,)``."""
        return sigmas[torch.arange(start, stop, device=sigmas.device) // per_image]

    # -- denoising ----------------------------------------------------------------------------
    def denoise(self, x: torch.Tensor, sigma: Union[float, torch.Tensor], shift: tuple[int, int]
        ) -> torch.Tensor:
        """Denoise with a given shift: ``x + sum_tiles (D(tile) - tile)`` (PaDIS slide, combine).

        Streams micro-batches: each one's tiles are gathered straight from ``x`` (padding by
        index arithmetic), denoised, and the in-image part of ``D(tile) - tile`` is added into
        the output; apart from the output, memory is that of one micro-batch.
        """
        self._check(x)
        self._check_shift(x.shape[-1], shift)
        return self._add_tiles(x, x.clone(), x.shape[-1], sigma, shift, offset=0)

    def _add_tiles(self, src, out, n, sigma, shift, offset):
        """``out += D(tile) - tile`` on the image pixels of every tile read from ``src``: the
        ``n x n`` image itself (``offset`` 0) or a canvas padded by ``offset`` pixels."""
        batch = src.shape[0]
        p, k, m = self.geometry(n)
        sigmas = per_image(sigma, src)  # per image: a (B*K*K,) tile list would grow with N
        for start, stop in micro_batches(batch * k * k, self.micro_batch):
            coords = self.tile_coords(n, shift, batch, src.device, src.dtype, start, stop)
            s = self._slice_sigmas(sigmas, k * k, start, stop)  # (t,) noise level of each tile
            if m == 0:  # whole image: the tiles are the images themselves
                t = src[start:stop]
                out[start:stop] += self.prior(t, s, coords=coords) - t
                continue
            index = self._tile_index(n, shift, start, stop, src.device, offset)
            t = self._gather(src, index, masked=self.pad_mode == "zero" and not offset)
            self._scatter_add(out, index, self.prior(t, s, coords=coords) - t, inside_only=True)
        return out

    def __call__(self, x: torch.Tensor, sigma: Union[float, torch.Tensor]) -> torch.Tensor:
        return self.denoise(x, sigma, self.draw_shift(x.shape[-1]))

    def vjp(self, x: torch.Tensor, sigma: Union[float, torch.Tensor], shift: tuple[int, int],
            grad_out: torch.Tensor) -> torch.Tensor:
        """``(d D/d x)^T grad_out`` for the given shift, one micro-batch of tiles at a time.

        Per micro-batch: the tiles' cotangent is ``grad_out`` gathered with zero padding (the
        adjoint of cropping the tiled window to the image), the tiles are recomputed with a
        graph, back-propagated alone, and their gradient is scattered back onto the image pixels
        they were read from (the adjoint of the padded gather). Apart from the result, memory
        is that of one micro-batch whatever the image size.
        """
        self._check(x)
        self._check_shift(x.shape[-1], shift)
        # The identity of the skip "x +", then the tiles' part.
        return self._add_tile_vjp(x.detach(), grad_out, grad_out.detach().clone(), x.shape[-1], sigma, shift, 0)

    def _add_tile_vjp(self, src, grad_out, g_src, n, sigma, shift, offset):
        """``g_src += `` the tiles' part of ``(dD/d src)^T grad_out`` (``src`` the image, or a
        canvas padded by ``offset`` pixels: :meth:`_add_tiles`)."""
        batch = src.shape[0]
        p, k, m = self.geometry(n)
        sigmas = per_image(sigma, src)
        masked = self.pad_mode == "zero" and not offset
        for start, stop in micro_batches(batch * k * k, self.micro_batch):
            coords = self.tile_coords(n, shift, batch, src.device, src.dtype, start, stop)
            s = self._slice_sigmas(sigmas, k * k, start, stop)  # (t,) noise level of each tile
            if m == 0:
                t, g_delta, index = src[start:stop], grad_out[start:stop], None
            else:
                index = self._tile_index(n, shift, start, stop, src.device, offset)
                t = self._gather(src, index, masked=masked)
                g_delta = self._gather(grad_out, index, masked=True)
            t = t.detach().requires_grad_(True)
            with torch.enable_grad():
                out = self.prior(t, s, coords=coords) - t
                (g_t,) = torch.autograd.grad(out, t, g_delta)
            if m == 0:
                g_src[start:stop] += g_t
            else:
                self._scatter_add(g_src, index, g_t, inside_only=masked)
        return g_src


class CanvasDenoiser:
    """A shifted-grid denoiser on the padded canvas a sampler carries (the official PaDIS code).

    The sampler's state is the image padded by ``M = K P - N`` pixels on every side, shape
    ``(B, C, N + 2M, N + 2M)``, so the padding is part of the Langevin state and carries noise
    of about ``sigma_t``, as the zero-padded training crops did (zeros plus noise). Each call
    draws a shift ``s`` in ``[0, M-1]^2`` and denoises the ``K*K`` tiles of the canvas window
    ``[s, s + K P)``; the result is ``canvas + sum_tiles (D(tile) - tile)`` on the image region
    and exactly 0 on the padding (the official sampler's fill, so the score there pulls the
    padding towards the zero it was trained with). ``patch='full'`` (``M = 0``): the canvas is
    the image and this is the whole-image denoiser.
    """

    def __init__(self, grid: ShiftedGridDenoiser, image_size: int):
        self.grid = grid
        self.image_size = int(image_size)
        self.margin = grid.geometry(self.image_size)[2]

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """The canvas ``(B, C, N + 2M, N + 2M)`` of image ``x``, zero padding."""
        m = self.margin
        return torch.nn.functional.pad(x, (m, m, m, m)) if m else x

    def crop(self, canvas: torch.Tensor) -> torch.Tensor:
        """The image region ``(B, C, N, N)`` of a canvas."""
        m, n = self.margin, self.image_size
        return canvas[..., m : m + n, m : m + n]

    def _check(self, canvas):
        size = self.image_size + 2 * self.margin
        if canvas.dim() != 4 or tuple(canvas.shape[-2:]) != (size, size):
            raise ValueError(f"CanvasDenoiser: expected (B, C, {size}, {size}) canvases, got {tuple(canvas.shape)}")

    def draw_shift(self, size: Optional[int] = None) -> tuple[int, int]:
        """A new grid shift (``size`` is ignored: the image size is fixed)."""
        return self.grid.draw_shift(self.image_size)

    def denoise(self, canvas: torch.Tensor, sigma: Union[float, torch.Tensor], shift: tuple[int, int]
        ) -> torch.Tensor:
        """``D`` of the canvas for a given shift: denoised image region, zero padding."""
        self._check(canvas)
        self.grid._check_shift(self.image_size, shift)
        out = torch.zeros_like(canvas)
        self.crop(out).copy_(self.crop(canvas))
        return self.grid._add_tiles(canvas, out, self.image_size, sigma, shift, offset=self.margin)

    def __call__(self, canvas: torch.Tensor, sigma: Union[float, torch.Tensor]) -> torch.Tensor:
        return self.denoise(canvas, sigma, self.draw_shift())

    def vjp(self, canvas: torch.Tensor, sigma: Union[float, torch.Tensor], shift: tuple[int, int],
            grad_out: torch.Tensor) -> torch.Tensor:
        """``(dD/d canvas)^T grad_out``: the skip's identity on the image region (the padding of
        ``D`` is constant), plus every tile's gradient scattered onto the canvas pixels it read."""
        self._check(canvas)
        self.grid._check_shift(self.image_size, shift)
        g = torch.zeros_like(canvas)
        self.crop(g).copy_(self.crop(grad_out))
        return self.grid._add_tile_vjp(canvas.detach(), grad_out, g, self.image_size, sigma, shift, self.margin)


class StitchingDenoiser(ShiftedGridDenoiser):
    """Fixed non-overlapping grid aligned with the image's top-left corner (no shift).

    The "Patch Stitching" baseline of the PaDIS table: same tiling as the shifted grid with the
    shift fixed to ``M`` (tiles start at image pixel 0; the last row/column of tiles overhangs
    into the padding).
    """

    def draw_shift(self, n: int) -> tuple[int, int]:
        _, _, m = self.geometry(n)
        return (m, m)


class PatchAveragingDenoiser:
    """Overlapping patches at a stride, averaged (the "Patch Averaging" baseline, Ozdenizci &
    Legenstein 2023): tiles at ``0, stride, 2 stride, ...`` plus one flush with the far edge,
    all inside the image; each pixel is the mean of ``D(tile)`` over the tiles covering it.
    """

    def __init__(self, prior: Callable, patch: Union[int, str], stride: Optional[int] = None,
                 micro_batch: Optional[int] = None, use_coords: Optional[bool] = None):
        if not isinstance(patch, int) or patch <= 0:
            raise ValueError(f"patch must be a positive int, got {patch!r}")
        self.prior = prior
        self.patch = patch
        self.stride = int(stride or max(1, patch // 2))
        self.micro_batch = micro_batch
        self.use_coords = _wants_coords(prior, use_coords)
        self.coord_pad = getattr(prior, "coord_pad", 0)

    def origins(self, n: int) -> list[tuple[int, int]]:
        p = min(self.patch, n)
        starts = list(range(0, n - p + 1, self.stride))
        if starts[-1] != n - p:
            starts.append(n - p)
        return [(t, l) for t in starts for l in starts]

    def __call__(self, x: torch.Tensor, sigma: Union[float, torch.Tensor]) -> torch.Tensor:
        b, c, n, _ = x.shape
        p = min(self.patch, n)
        origins = self.origins(n)
        tiles = torch.stack([x[:, :, t : t + p, l : l + p] for t, l in origins], dim=1).reshape(-1, c, p, p)
        coords = None
        if self.use_coords:
            grid = torch.stack([coord_grid(t, l, p, p, n, self.coord_pad, device=x.device, dtype=x.dtype)
                                for t, l in origins])
            coords = grid.repeat(b, 1, 1, 1)
        sigmas = per_image(sigma, x).repeat_interleave(len(origins))
        delta = _run_prior(self.prior, tiles, sigmas, coords, self.micro_batch).reshape(b, len(origins), c, p, p)
        total = torch.zeros_like(x)
        count = torch.zeros(1, 1, n, n, device=x.device, dtype=x.dtype)
        for i, (t, l) in enumerate(origins):
            total[:, :, t : t + p, l : l + p] += delta[:, i]
            count[:, :, t : t + p, l : l + p] += 1
        return x + total / count


def denoise_vjp(denoiser: Callable, x: torch.Tensor, sigma: Union[float, torch.Tensor],
                loss_fn: Callable[[torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Denoise and differentiate a scalar loss of the result, with memory bounded by tiles.

    Returns ``(x0hat, loss, grad)`` with ``x0hat = D(x, sigma)`` (one grid shift drawn),
    ``loss = loss_fn(x0hat)`` (a scalar tensor) and ``grad = d loss / d x`` (shape of ``x``).
    For a :class:`ShiftedGridDenoiser` (or a :class:`CanvasDenoiser` around one) the denoiser
    runs once without a graph, ``dL/dD`` is taken on the detached output, then each
    micro-batch of tiles is recomputed with a graph and back-propagated alone
    (:meth:`ShiftedGridDenoiser.vjp`). Any other denoiser is differentiated all at once by
    autograd.
    """
    if isinstance(denoiser, (ShiftedGridDenoiser, CanvasDenoiser)):
        shift = denoiser.draw_shift(x.shape[-1])
        with torch.no_grad():
            x0 = denoiser.denoise(x.detach(), sigma, shift)
        x0_req = x0.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn(x0_req)
            (g_x0,) = torch.autograd.grad(loss, x0_req)
        return x0, loss.detach(), denoiser.vjp(x, sigma, shift, g_x0)
    x_req = x.detach().requires_grad_(True)
    with torch.enable_grad():
        x0 = denoiser(x_req, sigma)
        loss = loss_fn(x0)
        (grad,) = torch.autograd.grad(loss, x_req)
    return x0.detach(), loss.detach(), grad
