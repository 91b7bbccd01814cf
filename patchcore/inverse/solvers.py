"""Diffusion inverse solvers with one signature (k-diffusion style):

    SOLVERS[name](denoiser, y, op, sigmas, *, generator, sigma_y, callback=None, **params) -> x

``denoiser(x, sigma)`` is the MMSE denoiser on the ``[0, 1]`` scale (whole image or patches),
``op`` an operator from :mod:`patchcore.inverse.operators`, ``sigmas`` a decreasing 1-D tensor of noise
levels on the ``[0, 1]`` scale (see :mod:`patchcore.inverse.schedules`), ``sigma_y`` the measurement
noise std on the same scale. Returns the reconstruction ``(B, C, N, N)`` (not clipped).
``callback``, if given, is called after every step with a dict ``{i, x, denoised, sigma}``.

All solvers start from ``init='noise'`` (``x = c + sigma_0 n``, ``c = 0.5`` for magnitude
images, 0 for complex ones), ``init='baseline'`` (``x = op.baseline(y) + sigma_0 n``; the
PaDIS "no position + init" ablation; pair it with a smaller ``sigma_max``) or
``init='baseline_clipped'`` (the baseline clipped to the image range, no noise: the official
PaDIS start, the PaDIS sampler's default).
"""

import math
from typing import Any, Callable, Optional, Union

import torch

from patchcore.batching import per_image, randn_like
from patchcore.inverse import schedules
from patchcore.inverse.classical import admm_tv
from patchcore.inverse.operators import Operator
from patchcore.inverse.patches import CanvasDenoiser, ShiftedGridDenoiser, denoise_vjp
from patchcore.inverse.schedules import Need


def _initial(y, op, sigma0, generator, init):
    """Starting image: ``c + sigma0 n`` (``init='noise'``), ``baseline(y) + sigma0 n``
    (``'baseline'``) or the baseline clipped to the image range, no noise (``'baseline_clipped'``)."""
    base = op.baseline(y).detach()
    if init == "baseline_clipped":  # the official PaDIS start: clip(FBP, 0, 1), no noise
        return base.clamp(0, 1) if base.shape[1] == 1 else base
    if init == "noise":
        centre = torch.full_like(base, 0.5 if base.shape[1] == 1 else 0.0)
    elif init == "baseline":
        centre = base
    else:
        raise ValueError(f"init must be 'noise', 'baseline' or 'baseline_clipped', got {init!r}")
    return centre + float(sigma0) * randn_like(base, generator)


def _residual_norms(op, x0, y):
    """Per-image ``||y - A x0||_2`` as a ``(B,)`` tensor."""
    return (y - op.A(x0)).flatten(1).norm(dim=1)


def _levels(sigmas):
    s = [float(v) for v in torch.as_tensor(sigmas).flatten()]
    if not s or any(b > a for a, b in zip(s, s[1:])) or s[-1] <= 0:
        raise ValueError(f"sigmas must be a non-empty decreasing sequence of positive levels, got {s[:5]}...")
    return s


def dps(denoiser: Optional[Callable], y: torch.Tensor, op: Operator, sigmas: torch.Tensor, *,
        generator: Optional[torch.Generator], sigma_y: float,
        callback: Optional[Callable[[dict], None]] = None, zeta: float = 0.5, step: str = "ancestral",
        init: str = "noise") -> torch.Tensor:
    """Diffusion posterior sampling (Chung et al. 2023, Algorithm 1) on an EDM sigma grid.

    Each level: Tweedie ``x0hat = D(x, sigma_i)``; an unconditional step to ``sigma_{i+1}``
    (``ancestral``: the EDM/DDPM-like stochastic step, ``euler``: the deterministic DDIM-like
    step; the last goes to sigma 0); then ``x -= zeta * grad_x ||y - A x0hat||`` (the norm, not
    squared, per image, as in the official code). The gradient goes through the denoiser tile
    by tile when it is a shifted-grid denoiser (:func:`patchcore.inverse.patches.denoise_vjp`).

    ``zeta`` acts on our ``[0, 1]`` state at noise level sigma. The official step acts on the
    DDPM (variance-preserving) state of ``[-1, 1]`` images, which equals ours with ``zeta =
    zeta_official / 2 * sqrt((1 + 4 sigma_i^2) (1 + 4 sigma_{i+1}^2))``: half the official value
    only where sigma << 0.5 (docs/solver_fidelity.md).
    ``sigma_y`` is unused (DPS's step size absorbs it), kept for the common signature. The last
    Tweedie estimate is taken at ``sigmas[-1]``: with few NFE, a grid ending far below the
    measurement noise lets the data steps re-fit that noise, so ``sigma_min`` is worth tuning.
    """
    if step not in ("ancestral", "euler"):
        raise ValueError(f"dps: step must be 'ancestral' or 'euler', got {step!r}")
    levels = _levels(sigmas)
    x = _initial(y, op, levels[0], generator, init)
    for i, s in enumerate(levels):
        s_next = levels[i + 1] if i + 1 < len(levels) else 0.0
        # Alg. 1 line 4: x0hat by Tweedie, and line 7's gradient of ||y - A x0hat|| w.r.t. x_i.
        x0, _, grad = denoise_vjp(denoiser, x, s, lambda d: _residual_norms(op, d, y).sum())
        # Alg. 1 lines 5-6: unconditional step from x_i towards x0hat at sigma_{i+1}.
        if step == "ancestral" and s_next > 0:
            s_up = math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2)
            s_down = math.sqrt(s_next**2 - s_up**2)
            x_next = x0 + (s_down / s) * (x - x0) + s_up * randn_like(x, generator)
        else:
            x_next = x0 + (s_next / s) * (x - x0)
        # Alg. 1 line 7: data-consistency gradient step of size zeta.
        x = (x_next - float(zeta) * grad).detach()
        if callback is not None:
            callback({"i": i, "x": x, "denoised": x0, "sigma": s})
    return x


@torch.no_grad()
def diffpir(denoiser: Optional[Callable], y: torch.Tensor, op: Operator, sigmas: torch.Tensor, *,
            generator: Optional[torch.Generator], sigma_y: float,
            callback: Optional[Callable[[dict], None]] = None, lam: float = 7.0, zeta: float = 0.3,
            init: str = "noise", **params: Any) -> torch.Tensor:
    """DiffPIR (Zhu et al. 2023, Algorithm 1) on an EDM sigma grid (use quad spacing).

    Each level: ``x0 = D(x_t, sigma_t)``; data step ``x0hat = prox(x0)`` with ``rho_t = lambda *
    sigma_y^2 / sigma_t^2``; effective noise ``eps = (x_t - x0hat) / sigma_t``; re-noise
    ``x_{t+1} = x0hat + sigma_{t+1} (sqrt(1 - zeta) eps + sqrt(zeta) n)``; the last level
    returns ``x0hat``. ``lambda`` may be given as ``lam`` or ``lambda`` (config key).
    ``sigma_y`` is floored at 1e-3 so that noiseless tasks keep a well-posed prox.
    """
    lam = float(params.pop("lambda", lam))
    if params:
        raise TypeError(f"diffpir: unknown parameter(s) {sorted(params)}")
    levels = _levels(sigmas)
    sy = max(float(sigma_y), 1e-3)
    x = _initial(y, op, levels[0], generator, init)
    for i, s in enumerate(levels):
        # Alg. 1 line 3: x0 from the denoiser at sigma_t.
        x0 = denoiser(x, s)
        # Alg. 1 line 4: data sub-problem, argmin ||y - A x||^2 + rho_t ||x - x0||^2.
        x0 = op.prox(x0, y, lam * sy**2 / s**2)
        if i + 1 == len(levels):
            x = x0
        else:
            # Alg. 1 lines 5-6: effective noise, then mix with fresh noise by zeta.
            eps = (x - x0) / s
            noise = randn_like(x, generator)
            x = x0 + levels[i + 1] * (math.sqrt(1 - zeta) * eps + math.sqrt(zeta) * noise)
        if callback is not None:
            callback({"i": i, "x": x, "denoised": x0, "sigma": s})
    return x


def _canvas(denoiser, image_size, carry):
    """``(denoiser, pad, crop)`` of the state a PaDIS sampler carries: with ``carry`` and a
    shifted-grid denoiser, its padded canvas (:class:`patchcore.inverse.patches.CanvasDenoiser`,
    the official code); otherwise the image itself (identity pad and crop)."""
    if carry and isinstance(denoiser, ShiftedGridDenoiser):
        canvas = CanvasDenoiser(denoiser, image_size)
        return canvas, canvas.pad, canvas.crop
    return denoiser, (lambda x: x), (lambda x: x)


def _padis_data_gradient(denoiser, x, s, op, y, crop, data_step):
    """``(d, g)``: the denoised state ``d = D(x, s)`` (one grid shift) and the data term's
    gradient ``g`` w.r.t. ``x``, on the image region of ``d``.

    ``'norm'`` (official code): ``g = grad_x ||A d(x) - y||`` per image;
    ``'squared'`` (the slide): ``g = grad_x ||A d(x) - y||^2 / ||A d(x) - y||``, i.e. twice the former.
    """
    if data_step == "norm":
        d, _, grad = denoise_vjp(denoiser, x, s, lambda v: _residual_norms(op, crop(v), y).sum())
        return d, grad
    d, _, grad = denoise_vjp(denoiser, x, s, lambda v: ((op.A(crop(v)) - y) ** 2).flatten(1).sum(1).sum())
    residual = _residual_norms(op, crop(d), y).clamp_min(1e-12)
    return d, per_image(1.0 / residual, x, view=True) * grad


# The PaDIS sampler's named deviations from the official code (docs/solver_fidelity.md), the
# first value of each the official one: noise='slide' draws z ~ N(0, sigma_t^2 I) with sigma_t on
# the network's [-1, 1] scale (the talk's slide; injected std 2 sqrt(eps) sigma_t^2 on our scale,
# which under-disperses) instead of unit z (std sqrt(eps) sigma_t: annealed Langevin, whose
# stationary law is the prior); data_step='squared' is the slide's zeta / ||r|| grad ||r||^2.
PADIS_OPTIONS = {"noise": ("unit", "slide"), "data_step": ("norm", "squared")}


def _check_padis_options(noise, data_step):
    for key, value in (("noise", noise), ("data_step", data_step)):
        if value not in PADIS_OPTIONS[key]:
            raise ValueError(f"padis: {key} must be one of {PADIS_OPTIONS[key]}, got {value!r}")


def _langevin_step(x, d, grad, s, zeta, eps, z_std, generator):
    """One PaDIS iteration after denoising: score ``(d - x) / s^2``, data step ``x -= zeta g``,
    Langevin step ``x += alpha/2 score + sqrt(alpha) z_std n`` with ``alpha = eps s^2``."""
    score = (d - x) / s**2
    x = x - per_image(zeta, x, view=True) * grad
    alpha = float(eps) * s**2
    return (x + 0.5 * alpha * score + math.sqrt(alpha) * z_std * randn_like(x, generator)).detach()


def padis(denoiser: Optional[Callable], y: torch.Tensor, op: Operator, sigmas: torch.Tensor, *,
          generator: Optional[torch.Generator], sigma_y: float,
          callback: Optional[Callable[[dict], None]] = None, inner: int = 10,
          zeta: Union[float, torch.Tensor] = 0.3, eps: float = 0.5, init: str = "baseline_clipped",
          noise: str = "unit", data_step: str = "norm", canvas: bool = True, final_noise: bool = False
          ) -> torch.Tensor:
    """PaDIS sampler (Hu et al. 2024) as the official code runs it (``inverse_nodist.py``, ``dps``):
    annealed Langevin dynamics with a DPS data step; the defaults are the official ones.

    State: the image padded by the shifted grid's ``M`` pixels (``canvas=True``: the padding is
    part of the state and carries noise, :class:`patchcore.inverse.patches.CanvasDenoiser`),
    started at ``init``. Per level ``sigma_t``, ``inner`` times (one NFE each): a new grid shift
    and ``d = D(x, sigma_t)``, then :func:`_langevin_step` with the data gradient of
    :func:`_padis_data_gradient` on the image region; no Langevin noise at the last level unless
    ``final_noise``. Returns the image region. ``zeta`` may be a ``(B,)`` tensor (one step size per
    image: a validation search in one batch). Deviations by name: :data:`PADIS_OPTIONS`,
    ``canvas=False`` (noise-free padding filled at every call), ``final_noise=True``.
    ``sigma_y`` is unused (kept for the common signature).
    """
    _check_padis_options(noise, data_step)
    levels = _levels(sigmas)
    base = _initial(y, op, levels[0], generator, init)
    den, pad, crop = _canvas(denoiser, base.shape[-1], canvas)
    x, k = pad(base), 0
    for i, s in enumerate(levels):
        z_std = (2 * s if noise == "slide" else 1.0) if (i + 1 < len(levels) or final_noise) else 0.0
        for _ in range(int(inner)):
            d, grad = _padis_data_gradient(den, x, s, op, y, crop, data_step)
            x = _langevin_step(x, d, grad, s, zeta, eps, z_std, generator)
            if callback is not None:
                callback({"i": k, "x": crop(x), "denoised": crop(d), "sigma": s})
            k += 1
    return crop(x)


# What schedule each solver takes (patchcore.inverse.schedules.Need; None: no schedule).
dps.schedule = Need(count="nfe", spacing="karras")
diffpir.schedule = Need(count="nfe", spacing="quad")  # DiffPIR's quad skip
padis.schedule = Need(count="levels", spacing="karras", per_level=("inner", 10))
# admm_tv declares None (patchcore.inverse.classical): no network, no noise levels.

SOLVERS = {"dps": dps, "diffpir": diffpir, "padis": padis, "admm_tv": admm_tv}


def _algorithm(solver: str, options: dict) -> str:
    """The solver function's name of config entry ``solver`` (its ``algorithm`` key, if any)."""
    algorithm = options.get("algorithm", solver)
    if algorithm not in SOLVERS:
        raise KeyError(f"solvers.{solver}: unknown algorithm {algorithm!r} (known: {sorted(SOLVERS)})")
    return algorithm


def solver_schedule(solver: str, options: dict) -> tuple[str, Optional[torch.Tensor], dict]:
    """``(algorithm, sigmas, params)`` of config entry ``solvers.<solver>``: the function to
    call (``SOLVERS[algorithm]``), its noise levels (None for a solver without a schedule) and
    its own parameters (:func:`patchcore.inverse.schedules.build`)."""
    algorithm = _algorithm(solver, options)
    rest = {k: v for k, v in options.items() if k != "algorithm"}
    sigmas, params = schedules.build(SOLVERS[algorithm].schedule, rest, f"solvers.{solver}")
    return algorithm, sigmas, params


def solver_nfe(solver: str, options: dict) -> int:
    """Network evaluations per reconstruction of config entry ``solvers.<solver>`` (0 for a
    solver without a schedule, e.g. ADMM-TV)."""
    return schedules.evaluations(SOLVERS[_algorithm(solver, options)].schedule, options)
