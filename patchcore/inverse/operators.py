"""Forward operators of the inverse problems (denoise, sr2, deblur, ct20, ct8, mri4x).

Every operator acts on images ``x`` of shape ``(B, C, N, N)`` on the ``[0, 1]`` scale
(``C = 1`` magnitude or ``C = 2`` real/imaginary) and exposes

- ``A(x)`` the noiseless forward model, ``A_adjoint(y)`` its adjoint (real inner product);
- ``prox(z, y, rho)`` = argmin_x 0.5||A x - y||^2 + rho/2 ||x - z||^2 (closed form where one
  exists, conjugate gradients otherwise), ``rho`` a float or a ``(B,)`` tensor;
- ``baseline(y)`` the task's trivial reconstruction (image-sized);
- ``measure(x, sigma_y, generator)`` = ``A(x)`` plus white Gaussian noise of std ``sigma_y``.

Use :func:`make_operator` with a name from :data:`OPERATORS`.
"""

from typing import Any, Callable, Optional, Union
import math

import torch
import torch.nn.functional as F

from patchcore.batching import per_image, randn_like

# ---------------------------------------------------------------------------------------------
# Shared helpers.


def conjugate_gradient(apply: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, x0: torch.Tensor,
                       iters: int = 50, tol: float = 1e-6) -> torch.Tensor:
    """Solve ``apply(x) = b`` for a symmetric positive-definite ``apply``, batch-wise.

    ``b`` and ``x0`` have shape ``(B, ...)``; each batch element is solved independently and
    stops improving once its residual norm falls below ``tol`` times ``||b||``.
    """
    dims = tuple(range(1, b.dim()))

    def dot(u, v):
        return (u * v).sum(dims, keepdim=True)

    x = x0.clone()
    r = b - apply(x)
    p = r.clone()
    rr = dot(r, r)
    stop = (tol * b.flatten(1).norm(dim=1)).reshape(rr.shape) ** 2
    for _ in range(iters):
        if bool((rr <= stop).all()):
            break
        ap = apply(p)
        alpha = rr / dot(p, ap).clamp_min(1e-30)
        alpha = torch.where(rr <= stop, torch.zeros_like(alpha), alpha)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = dot(r, r)
        p = r + (rr_new / rr.clamp_min(1e-30)) * p
        rr = rr_new
    return x


def _physics_on(physics, probe, x):
    """A deepinv physics object on ``x``'s device (moved once, when ``probe`` lives elsewhere)."""
    return physics if probe.device == x.device else physics.to(x.device)


class Operator:
    """Base class: checks shapes, adds noise, solves the prox by conjugate gradients."""

    name = "operator"
    cg_iters = 50

    def __init__(self, image_size: int):
        if int(image_size) <= 0:
            raise ValueError(f"operator {self.name!r}: image_size must be positive, got {image_size}")
        self.image_size = int(image_size)

    def _check(self, x):
        n = self.image_size
        if x.dim() != 4 or x.shape[-2:] != (n, n):
            raise ValueError(
                f"operator {self.name!r}: expected images of shape (B, C, {n}, {n}), got {tuple(x.shape)}"
            )

    def A(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def measure(self, x: torch.Tensor, sigma_y: float, generator: Optional[torch.Generator] = None
        ) -> torch.Tensor:
        """``A(x) + sigma_y * n`` with ``n`` standard normal drawn from ``generator`` (on the
        generator's device, so a CPU generator gives the same noise for images on any device)."""
        y = self.A(x)
        return y + float(sigma_y) * randn_like(y, generator)

    def prox(self, z: torch.Tensor, y: torch.Tensor, rho: Union[float, torch.Tensor]) -> torch.Tensor:
        """argmin_x 0.5||A x - y||^2 + rho/2 ||x - z||^2 via conjugate gradients (warm start z)."""
        rho_b = per_image(rho, z, view=True)
        rhs = self.A_adjoint(y) + rho_b * z
        return conjugate_gradient(lambda v: self.A_adjoint(self.A(v)) + rho_b * v, rhs, z, self.cg_iters)

    def baseline(self, y: torch.Tensor) -> torch.Tensor:
        return self.A_adjoint(y)


# ---------------------------------------------------------------------------------------------
# Denoising: A = I.


class Denoise(Operator):
    """Gaussian denoising, ``A = I``; prox ``(y + rho z)/(1 + rho)``; baseline the noisy image."""

    name = "denoise"

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return x

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        return y

    def prox(self, z: torch.Tensor, y: torch.Tensor, rho: Union[float, torch.Tensor]) -> torch.Tensor:
        rho_b = per_image(rho, z, view=True)
        return (y + rho_b * z) / (1.0 + rho_b)

    def baseline(self, y: torch.Tensor) -> torch.Tensor:
        return self.A_adjoint(y).clone()


# ---------------------------------------------------------------------------------------------
# 2x super-resolution with a 2x2 box average.


class SuperResolution(Operator):
    """2x downsampling by 2x2 box averaging (``A = avg_pool2d(x, 2)``; y is ``(B, C, N/2, N/2)``).

    This equals deepinv's ``Downsampling(filter=ones(2,2)/4, factor=2)``; it is written here
    because ``A A^T = I/4`` gives an exact prox: x = z + A^T (y - A z) / (1/4 + rho).
    Baseline: bicubic upsampling.
    """

    name = "sr2"

    def __init__(self, image_size: int, factor: int = 2):
        super().__init__(image_size)
        if int(factor) != 2 or self.image_size % 2:
            raise ValueError(f"operator 'sr2': needs factor 2 and an even image_size, got {factor}, {image_size}")
        self.factor = 2

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return F.avg_pool2d(x, 2)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return F.interpolate(y, scale_factor=2, mode="nearest") / 4.0

    def prox(self, z: torch.Tensor, y: torch.Tensor, rho: Union[float, torch.Tensor]) -> torch.Tensor:
        rho_b = per_image(rho, z, view=True)
        return z + self.A_adjoint((y - self.A(z)) / (0.25 + rho_b))

    def baseline(self, y: torch.Tensor) -> torch.Tensor:
        return F.interpolate(y, scale_factor=2, mode="bicubic", align_corners=False)


# ---------------------------------------------------------------------------------------------
# Gaussian deblurring (circular convolution), wrapping deepinv.physics.BlurFFT.


class Deblur(Operator):
    """Gaussian blur of standard deviation ``std`` pixels, circular boundary (deepinv ``BlurFFT``).

    The prox is deepinv's FFT closed form (``prox_l2`` with ``gamma = 1/rho``). Baseline: ``y``.
    """

    name = "deblur"

    def __init__(self, image_size: int, std: float = 2.0):
        super().__init__(image_size)
        import deepinv as dinv
        from deepinv.physics.functional.blur import gaussian_blur

        if float(std) <= 0:
            raise ValueError(f"operator 'deblur': std must be positive, got {std}")
        self.std = float(std)
        kernel = gaussian_blur(sigma=(self.std, self.std))
        self._physics = dinv.physics.BlurFFT(img_size=(1, self.image_size, self.image_size), filter=kernel)

    def _phys(self, x):
        self._physics = _physics_on(self._physics, self._physics.filter, x)
        return self._physics

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self._phys(x).A(x)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        return self._phys(y).A_adjoint(y)

    def prox(self, z: torch.Tensor, y: torch.Tensor, rho: Union[float, torch.Tensor]) -> torch.Tensor:
        rho_b = per_image(rho, z, view=True)
        return self._phys(z).prox_l2(z, y, gamma=1.0 / rho_b)

    def baseline(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        return y.clone()


# ---------------------------------------------------------------------------------------------
# Parallel-beam CT.


def scaled_views(n_angles: int, image_size: int, views_at: Optional[int] = None) -> int:
    """Views of a sparse-view task stated as ``n_angles`` at ``views_at`` pixels, on
    ``image_size`` pixels: ``max(1, round(n_angles * image_size / views_at))`` (``n_angles``
    itself when ``views_at`` is None)."""
    if int(n_angles) <= 0:
        raise ValueError(f"operator 'ct': n_angles must be positive, got {n_angles}")
    if views_at is None:
        return int(n_angles)
    if int(views_at) <= 0:
        raise ValueError(f"operator 'ct': views_at must be a positive image size, got {views_at}")
    return max(1, round(int(n_angles) * int(image_size) / int(views_at)))


class ParallelBeamCT(Operator):
    """Parallel-beam Radon transform with ``n_angles`` views in ``[0, pi)``.

    Geometry: the image covers the unit square ``[-1/2, 1/2]^2`` (pixel size ``1/N``, so line
    integrals of a ``[0, 1]`` image are at most ``sqrt(2)``); ``detector_bins`` bins (default
    ``2 N``, i.e. 512 at 256 px as in PaDIS) span the diagonal ``sqrt(2)``; each ray is sampled
    every half pixel with bilinear interpolation (``grid_sample``) and summed times the step.
    deepinv's ``Tomography`` fixes the detector to the image diagonal in pixels, which is why
    the ray sampling is written here. ``A_adjoint`` is the exact transpose (autograd of the
    linear ``A``). Sinogram shape ``(B, C, n_angles, detector_bins)``.

    Baseline: filtered back-projection with a Hann-windowed ramp filter.

    ``views_at``: ``n_angles`` is stated for images of ``views_at`` pixels and scaled to this
    image size, ``round(n_angles * image_size / views_at)`` views (at least 1): the same
    undersampling relative to the ``pi N / 2`` views full sampling needs, so "20 views at 256
    px" is 5 views at 64 px and 10 at 128 px. None: ``n_angles`` views at every size.
    """

    name = "ct"
    cg_iters = 30

    def __init__(self, image_size: int, n_angles: int = 20, detector_bins: Optional[int] = None,
                 oversample: float = 2.0, angle_chunk: int = 8, views_at: Optional[int] = None):
        super().__init__(image_size)
        n_angles = scaled_views(n_angles, self.image_size, views_at)
        n = self.image_size
        self.n_angles = int(n_angles)
        self.detector_bins = int(detector_bins or 2 * n)
        self.angles = torch.arange(self.n_angles, dtype=torch.float64) * math.pi / self.n_angles
        self.det_spacing = math.sqrt(2.0) / self.detector_bins
        self.ray_step = 1.0 / (oversample * n)
        n_t = int(math.ceil(math.sqrt(2.0) / self.ray_step))
        self.ray_step = math.sqrt(2.0) / n_t
        self.s = (torch.arange(self.detector_bins, dtype=torch.float64) + 0.5) * self.det_spacing - math.sqrt(2) / 2
        self.t = (torch.arange(n_t, dtype=torch.float64) + 0.5) * self.ray_step - math.sqrt(2) / 2
        self.angle_chunk = int(angle_chunk)
        self._grids = {}

    def _grid(self, device, dtype):
        """Sampling points ``(n_angles, bins, n_t, 2)`` in grid_sample's normalised (x, y)."""
        key = (str(device), dtype)
        if key not in self._grids:
            c, s_ = torch.cos(self.angles), torch.sin(self.angles)
            s = self.s[None, :, None]
            t = self.t[None, None, :]
            # Point s*(cos, sin) + t*(-sin, cos) on the unit square; grid_sample spans [-1, 1].
            px = s * c[:, None, None] - t * s_[:, None, None]
            py = s * s_[:, None, None] + t * c[:, None, None]
            self._grids[key] = (2.0 * torch.stack([px, py], dim=-1)).to(device=device, dtype=dtype)
        return self._grids[key]

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        b, c, n, _ = x.shape
        grid = self._grid(x.device, x.dtype)
        flat = x.reshape(b * c, 1, n, n)
        out = []
        for start in range(0, self.n_angles, self.angle_chunk):
            g = grid[start : start + self.angle_chunk]
            a, nb, nt, _ = g.shape
            g = g.reshape(1, a * nb, nt, 2).expand(b * c, -1, -1, -1)
            vals = F.grid_sample(flat, g, mode="bilinear", padding_mode="zeros", align_corners=False)
            # Line integral: sum of samples times the step along the ray.
            out.append(vals.sum(-1).reshape(b * c, a, nb) * self.ray_step)
        return torch.cat(out, dim=1).reshape(b, c, self.n_angles, self.detector_bins)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        b, c = y.shape[:2]
        n = self.image_size
        with torch.enable_grad():
            x0 = torch.zeros(b, c, n, n, device=y.device, dtype=y.dtype, requires_grad=True)
            (grad,) = torch.autograd.grad(self.A(x0), x0, grad_outputs=y.detach())
        return grad

    def ramp_filter(self, y: torch.Tensor) -> torch.Tensor:
        """Ramp-filter each projection (spatial-domain Ram-Lak, Kak & Slaney Eq. 61) times a Hann window."""
        nb = self.detector_bins
        size = 1 << int(math.ceil(math.log2(2 * nb)))
        k = torch.arange(size, device=y.device, dtype=torch.float64)
        k = torch.minimum(k, size - k)
        ds = self.det_spacing
        h = torch.where(k % 2 == 1, -1.0 / (math.pi * k.clamp_min(1)) ** 2, torch.zeros_like(k)) / ds**2
        h[0] = 1.0 / (4 * ds**2)
        freq = torch.fft.rfftfreq(size, device=y.device, dtype=torch.float64)
        hann = 0.5 * (1.0 + torch.cos(2 * math.pi * freq))
        response = (torch.fft.rfft(h).real * ds * hann).to(y.dtype)
        filtered = torch.fft.irfft(torch.fft.rfft(y, n=size, dim=-1) * response, n=size, dim=-1)
        return filtered[..., :nb]

    def fbp(self, y: torch.Tensor) -> torch.Tensor:
        """Filtered back-projection; image-sized, on the ``[0, 1]`` scale of ``x``."""
        pixel_area = 1.0 / self.image_size**2
        scale = (math.pi / self.n_angles) * self.det_spacing / pixel_area
        return self.A_adjoint(self.ramp_filter(y)) * scale

    def baseline(self, y: torch.Tensor) -> torch.Tensor:
        return self.fbp(y)


# ---------------------------------------------------------------------------------------------
# Cartesian undersampled single-coil MRI, wrapping deepinv.physics.MRI.


def cartesian_mask(image_size: int, acceleration: int = 4, center_fraction: float = 0.08, seed: int = 0
    ) -> torch.Tensor:
    """Column mask ``(N, N)`` in {0, 1}: a fully sampled centre of ``round(center_fraction N)``
    columns plus random columns, ``N / acceleration`` columns in total (fastMRI-style)."""
    n = int(image_size)
    n_center = max(1, int(round(center_fraction * n)))
    n_total = max(n_center, int(round(n / acceleration)))
    cols = torch.zeros(n, dtype=torch.bool)
    start = (n - n_center) // 2
    cols[start : start + n_center] = True
    rest = torch.nonzero(~cols).flatten()
    gen = torch.Generator().manual_seed(int(seed))
    pick = rest[torch.randperm(rest.numel(), generator=gen)[: n_total - n_center]]
    cols[pick] = True
    return cols[None, :].expand(n, n).float()


class CartesianMRI(Operator):
    """Single-coil Cartesian MRI: masked orthonormal 2-D FFT (deepinv ``MRI``).

    ``channels = 2`` images are complex (real, imaginary); ``channels = 1`` images are real,
    so ``A_adjoint`` keeps the real part (the adjoint for the real inner product). k-space
    ``y`` has shape ``(B, 2, N, N)``, zero outside the mask. Baseline: zero-filled
    reconstruction (its magnitude for ``channels = 1``). The prox is closed form for
    ``channels = 2`` and CG for ``channels = 1``.
    """

    name = "mri"

    def __init__(self, image_size: int, acceleration: int = 4, center_fraction: float = 0.08, seed: int = 0,
                 channels: int = 1):
        super().__init__(image_size)
        import deepinv as dinv

        if int(channels) not in (1, 2):
            raise ValueError(f"operator 'mri': channels must be 1 or 2, got {channels}")
        self.channels = int(channels)
        self.mask = cartesian_mask(self.image_size, acceleration, center_fraction, seed)
        self._physics = dinv.physics.MRI(mask=self.mask, img_size=(self.image_size, self.image_size))

    def _phys(self, t):
        self._physics = _physics_on(self._physics, self._physics.mask, t)
        return self._physics

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        if x.shape[1] != self.channels:
            raise ValueError(f"operator {self.name!r}: built for C = {self.channels}, got {tuple(x.shape)}")
        if self.channels == 1:
            x = torch.cat([x, torch.zeros_like(x)], dim=1)
        return self._phys(x).A(x)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        x = self._phys(y).A_adjoint(y)
        return x[:, :1] if self.channels == 1 else x

    def prox(self, z: torch.Tensor, y: torch.Tensor, rho: Union[float, torch.Tensor]) -> torch.Tensor:
        if self.channels == 1:
            return super().prox(z, y, rho)
        # Closed form on k-space: x = F^H[(M y + rho F z) / (M + rho)].
        rho_b = per_image(rho, z, view=True)
        phys = self._phys(z)
        k = (phys.mask * y + rho_b * phys.V_adjoint(z)) / (phys.mask + rho_b)
        return phys.V(k)

    def baseline(self, y: torch.Tensor) -> torch.Tensor:
        x = self._phys(y).A_adjoint(y)
        return x.norm(dim=1, keepdim=True) if self.channels == 1 else x


# ---------------------------------------------------------------------------------------------
# Registry.


def _preset(cls, key, default, label):
    """A registry entry: ``cls`` with option ``key`` defaulting to ``default``, named ``label``."""

    def build(image_size, **params):
        value = params.pop(key, default)
        op = cls(image_size, **{key: value}, **params)
        op.name = label.format(value)
        return op

    return build


OPERATORS = {
    "denoise": Denoise,
    "sr2": SuperResolution,
    "deblur": Deblur,
    "ct20": _preset(ParallelBeamCT, "n_angles", 20, "ct{}"),
    "ct8": _preset(ParallelBeamCT, "n_angles", 8, "ct{}"),
    "mri4x": _preset(CartesianMRI, "acceleration", 4, "mri{}x"),
}


def make_operator(name: str, image_size: int, **params: Any) -> Operator:
    """Build operator ``name`` (a key of :data:`OPERATORS`) for ``image_size`` x ``image_size`` images.

    ``params`` are the operator's options (``std`` for deblur, ``n_angles``/``detector_bins``
    for CT, ``acceleration``/``center_fraction``/``seed`` for MRI); unknown ones raise.
    """
    if name not in OPERATORS:
        raise KeyError(f"unknown operator {name!r}; known: {sorted(OPERATORS)}")
    try:
        op = OPERATORS[name](image_size, **params)
    except TypeError as err:
        raise TypeError(f"operator {name!r}: bad parameters {params}: {err}") from None
    op.name = name
    return op
