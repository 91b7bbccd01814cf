"""External priors: a VP (DDPM-type) diffusion network as our denoiser ``D(x, sigma)``.

A network trained elsewhere (a diffusers ``UNet2DModel``, or any module called as
``net(z, t)``) predicts, at integer timestep ``t`` of a variance-preserving process, the
noise (``epsilon``), the velocity (``v_prediction``) or the clean image (``sample``).
:class:`VPDenoiser` turns it into the denoiser contract of :class:`patchcore.priors.prior.Prior`
on the ``[0, 1]`` image scale. The conversion is exact; in step order (``k = hi - lo``):

1. Image range. The model was trained on images in ``[lo, hi]`` (``image_range``; diffusers'
   pipelines use ``[-1, 1]``): ``x_m = lo + k x`` and ``y_m = lo + k y = x_m + sigma_m n`` with
   ``sigma_m = k sigma``.
2. VP forward process (Ho et al. 2020, Eq. 4): ``z_t = sqrt(abar_t) x_m + sqrt(1 - abar_t) eps``,
   ``abar_t = prod_{i <= t} (1 - beta_i)``. Divided by ``sqrt(abar_t)`` it is ``x_m + sigma_t eps``
   with ``sigma_t = sqrt((1 - abar_t) / abar_t)`` (Karras et al. 2022, Table 1, VP column).
3. So ``y_m`` is ``z_t / sqrt(abar)`` at ``abar = 1 / (1 + sigma_m^2)``; the network's input is
   ``z = sqrt(abar) y_m``.
4. Clean image from the output ``f`` (each the MMSE estimate when ``f`` is):
   epsilon ``x0_m = (z - sqrt(1 - abar) f) / sqrt(abar) = y_m - sigma_m f``;
   v (Salimans & Ho 2022, ``v = sqrt(abar) eps - sqrt(1 - abar) x0``)
   ``x0_m = sqrt(abar) z - sqrt(1 - abar) f = abar y_m - sigma_m sqrt(abar) f``; sample ``x0_m = f``.
5. Back to our scale: ``D(x, sigma) = (x0_m - lo) / k``.

Sigmas between timesteps (``timestep``): steps 3-5 always use the true ``sigma_m``, only the
network's conditioning ``t`` is approximate. ``'continuous'`` (default where the network's time
embedding is sinusoidal, so defined for real ``t``): ``t`` interpolated linearly in
``log sigma`` between the two neighbouring timesteps, exact on the grid and second order
between (the error measured on the Gaussian stand-in is in docs/external_priors.md).
``'nearest'``: the timestep nearest in ``log sigma`` (for learned, table-lookup embeddings),
first order between grid points.

Valid range: ``[sigma_min, sigma_max] = [sigma_{t_min}, sigma_{t_max}] / k`` on our scale.
Outside it (``out_of_range``): ``'clamp'`` (default) uses the end timestep and the true sigma in
steps 3-5 (for epsilon prediction ``D -> identity`` as ``sigma -> 0``, the right limit) and
warns once per side; ``'error'`` raises.
"""

import inspect
import math
import warnings
from typing import Optional, Sequence, Union

import torch
from torch import nn

from patchcore.batching import per_image

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
TIMESTEP_MODES = ("continuous", "nearest")
OUT_OF_RANGE = ("clamp", "error")
# diffusers' DDPMScheduler defaults, used for keys a scheduler config leaves out.
SCHEDULE_DEFAULTS = {"num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02}


def _choice(value, allowed, what, where):
    if value not in allowed:
        raise ValueError(f"{where}: {what} {value!r} is not supported (one of {list(allowed)})")
    return value


def cosine_abar(u: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    """Cosine schedule ``abar(u) = cos^2(pi/2 (u + s) / (1 + s))`` at ``u = t / T`` (Nichol & Dhariwal 2021, Eq. 17)."""
    return torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2


def vp_betas(beta_schedule: str, num_train_timesteps: int, beta_start: float = 1e-4,
             beta_end: float = 0.02, where: str = "schedule") -> torch.Tensor:
    """Betas ``(T,)`` (float64) of a named VP schedule, as diffusers' schedulers define them.

    ``linear``: evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020);
    ``scaled_linear``: the square of evenly spaced ``sqrt(beta)``; ``squaredcos_cap_v2``:
    ``beta_t = min(1 - abar((t + 1)/T) / abar(t/T), 0.999)`` of :func:`cosine_abar`.
    """
    _choice(beta_schedule, BETA_SCHEDULES, "beta_schedule", where)
    n = int(num_train_timesteps)
    if n < 2:
        raise ValueError(f"{where}: num_train_timesteps must be at least 2, got {n}")
    if beta_schedule == "linear":
        return torch.linspace(beta_start, beta_end, n, dtype=torch.float64)
    if beta_schedule == "scaled_linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, n, dtype=torch.float64) ** 2
    u = torch.arange(n + 1, dtype=torch.float64) / n
    abar = cosine_abar(u)
    return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)


def schedule_from_config(config: dict, where: str = "schedule") -> tuple[torch.Tensor, dict]:
    """``(betas, record)`` of a diffusers scheduler config (or our ``schedule:`` entry).

    Reads ``num_train_timesteps``, ``beta_schedule``, ``beta_start``, ``beta_end`` (diffusers'
    defaults where absent) or ``trained_betas`` (a list, which wins); ``record`` is the resolved
    schedule for provenance. Inference-only keys (``clip_sample``, ``steps_offset``, ...) are
    ignored; ``rescale_betas_zero_snr: true`` is refused (give the rescaled ``trained_betas``).
    """
    if config.get("rescale_betas_zero_snr"):
        raise ValueError(f"{where}: rescale_betas_zero_snr is not supported; give the schedule's "
                         f"betas as trained_betas instead")
    if config.get("trained_betas") is not None:
        betas = torch.tensor([float(b) for b in config["trained_betas"]], dtype=torch.float64)
        record = {"trained_betas": betas.tolist(), "num_train_timesteps": len(betas)}
    else:
        record = {k: config.get(k, v) for k, v in SCHEDULE_DEFAULTS.items()}
        betas = vp_betas(where=where, **record)
    if not bool(((betas > 0) & (betas < 1)).all()):
        raise ValueError(f"{where}: every beta must lie in (0, 1)")
    return betas, record


def vp_sigmas(betas: torch.Tensor) -> torch.Tensor:
    """``sigma_t = sqrt((1 - abar_t) / abar_t)`` ``(T,)`` of ``betas`` ``(T,)`` (step 2 above)."""
    abar = torch.cumprod(1 - betas.to(torch.float64), dim=0)
    return ((1 - abar) / abar).sqrt()


def timestep_for(log_sigma: torch.Tensor, log_sigmas: torch.Tensor, mode: str) -> torch.Tensor:
    """Network timestep ``(B,)`` for noise levels ``log sigma_m`` ``(B,)`` (model scale).

    ``log_sigmas`` ``(T,)`` increasing, the level of timestep ``t = 0 .. T-1``. ``'nearest'``:
    the nearest timestep in log sigma (long); ``'continuous'``: ``t`` interpolated linearly in
    log sigma (float). Levels outside the table are clamped to its ends.
    """
    ls = log_sigma.to(log_sigmas.dtype).clamp(log_sigmas[0], log_sigmas[-1])
    if mode == "nearest":
        return (ls[:, None] - log_sigmas[None, :]).abs().argmin(dim=1)
    upper = torch.searchsorted(log_sigmas, ls.contiguous()).clamp(1, log_sigmas.numel() - 1)
    lower = upper - 1
    weight = (ls - log_sigmas[lower]) / (log_sigmas[upper] - log_sigmas[lower])
    return (lower + weight).to(torch.float32)


def x0_from_output(prediction_type: str, f: torch.Tensor, y_m: torch.Tensor,
                   sigma_m: torch.Tensor) -> torch.Tensor:
    """Clean image on the model scale from the network output ``f`` (step 4 above).

    ``f`` and ``y_m`` ``(B, C, H, W)`` (``y_m`` the noisy image before the VP scaling),
    ``sigma_m`` ``(B,)`` model-scale noise levels.
    """
    s = sigma_m.reshape(-1, 1, 1, 1).to(y_m.dtype)
    if prediction_type == "epsilon":
        return y_m - s * f
    if prediction_type == "v_prediction":
        abar = 1 / (1 + s ** 2)
        return abar * y_m - s * abar.sqrt() * f
    return f


def network_output(out) -> torch.Tensor:
    """The tensor of a network's output: a tensor, an object with ``.sample`` (diffusers) or a tuple."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(getattr(out, "sample", None), torch.Tensor):
        return out.sample
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"the network returned {type(out).__name__}; expected a tensor, a tuple or an "
                    f"object with a .sample tensor")


class VPDenoiser(nn.Module):
    """Denoiser ``prior(x, sigma, coords=None)`` on the ``[0, 1]`` scale from a VP network.

    ``net(z, t)`` (B, C, H, W) and ``t`` (B,) -> output (B, C, H, W) (or diffusers' output object);
    ``betas`` (T,) its training schedule; ``image_range`` ``(lo, hi)`` its training image range.
    ``x`` (B, C, H, W) noisy image on our scale, ``sigma`` float or (B,); returns the clean-image
    estimate (B, C, H, W) by steps 1-5 of the module docstring. Attributes as
    :class:`patchcore.priors.prior.Prior`: ``channels``, ``coord_channels`` (0), ``coord_pad`` (0),
    ``options``; and ``sigma_min``/``sigma_max`` (valid range, our scale), ``size_multiple``
    (tile sides must be divisible by it; None if unknown), ``name`` (for messages).
    """

    def __init__(self, net: nn.Module, betas: torch.Tensor, prediction_type: str = "epsilon",
                 image_range: Sequence[float] = (-1.0, 1.0), channels: int = 1,
                 timestep: str = "continuous", out_of_range: str = "clamp", name: str = "prior",
                 size_multiple: Optional[int] = None):
        super().__init__()
        where = f"priors.{name}"
        self.prediction_type = _choice(prediction_type, PREDICTION_TYPES, "prediction_type", where)
        self.timestep = _choice(timestep, TIMESTEP_MODES, "timestep", where)
        self.out_of_range = _choice(out_of_range, OUT_OF_RANGE, "out_of_range", where)
        self.lo, self.hi = (float(v) for v in image_range)
        if not self.hi > self.lo:
            raise ValueError(f"{where}: image_range must be [lo, hi] with hi > lo, got {list(image_range)}")
        log_sigmas = vp_sigmas(betas).log()
        if not bool((log_sigmas.diff() > 0).all()) or not bool(log_sigmas.isfinite().all()):
            raise ValueError(f"{where}: the schedule's noise levels must be finite and increase with t")
        self.net, self.name, self.channels = net, name, int(channels)
        self.coord_channels, self.coord_pad, self.size_multiple = 0, 0, size_multiple
        self.register_buffer("log_sigmas", log_sigmas.to(torch.float32), persistent=False)
        scale = self.hi - self.lo
        self.sigma_min = math.exp(float(log_sigmas[0])) / scale
        self.sigma_max = math.exp(float(log_sigmas[-1])) / scale
        self.num_train_timesteps = int(betas.numel())
        self.options = {"kind": "vp", "prediction_type": prediction_type, "image_range": [self.lo, self.hi],
                        "timestep": timestep, "out_of_range": out_of_range, "channels": self.channels}
        self._warned = set()

    def _check_range(self, sigma: torch.Tensor) -> None:
        """Warn once per side (``'clamp'``) or raise (``'error'``) for ``sigma`` (B,) outside the valid range."""
        for side, outside in (("below", sigma < self.sigma_min * (1 - 1e-5)),
                              ("above", sigma > self.sigma_max * (1 + 1e-5))):
            if not bool(outside.any()):
                continue
            text = (f"prior {self.name!r}: noise level(s) {sorted(set(sigma[outside].tolist()))[:3]} {side} "
                    f"its trained range [{self.sigma_min:.4g}, {self.sigma_max:.4g}] ([0, 1] scale)")
            if self.out_of_range == "error":
                raise ValueError(f"{text}; choose sigma_min/sigma_max inside it, or set out_of_range: clamp")
            if side not in self._warned:
                self._warned.add(side)
                warnings.warn(f"{text}: the timestep is clamped to the end of the schedule, the "
                              f"conversion uses the true sigma", RuntimeWarning, stacklevel=3)

    def forward(self, x: torch.Tensor, sigma: Union[float, torch.Tensor],
                coords: Optional[torch.Tensor] = None) -> torch.Tensor:
        if coords is not None:
            raise ValueError(f"prior {self.name!r} takes no coordinate channels; pass coords=None")
        scale = self.hi - self.lo
        sigma = per_image(sigma, x, dtype=torch.float32)
        self._check_range(sigma)
        sigma_m = scale * sigma  # step 1
        y_m = self.lo + scale * x.to(torch.float32)  # step 1
        t = timestep_for(sigma_m.log(), self.log_sigmas, self.timestep)
        z = y_m / (1 + sigma_m ** 2).sqrt().reshape(-1, 1, 1, 1)  # step 3: sqrt(abar) y_m
        f = network_output(self.net(z.to(x.dtype), t)).to(torch.float32)
        x0_m = x0_from_output(self.prediction_type, f, y_m, sigma_m)  # step 4
        return ((x0_m - self.lo) / scale).to(x.dtype)  # step 5


def sigma_coverage(prior, sigmas: torch.Tensor) -> Optional[dict]:
    """How a solver's noise levels ``sigmas`` (1-D, [0, 1] scale) sit in ``prior``'s valid range:
    ``{sigma_range, levels, below, above}`` (counts of levels outside it, which the prior
    clamps or refuses), or None for a prior without a stated range (ours: EDM, any sigma)."""
    if not hasattr(prior, "sigma_min") or sigmas is None:
        return None
    s = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    return {"sigma_range": [prior.sigma_min, prior.sigma_max], "levels": int(s.numel()),
            "below": int((s < prior.sigma_min * (1 - 1e-5)).sum()),
            "above": int((s > prior.sigma_max * (1 + 1e-5)).sum())}


def unet_size_multiple(net: nn.Module) -> Optional[int]:
    """``2 ** (number of downsampling stages)`` of a diffusers-style UNet (blocks in
    ``net.down_blocks`` whose ``downsamplers`` is set each halve the side); None if unknown."""
    blocks = getattr(net, "down_blocks", None)
    if blocks is None:
        return None
    return 2 ** sum(getattr(b, "downsamplers", None) is not None for b in blocks)


def config_size_multiple(config: dict) -> int:
    """``size_multiple`` of a ``UNet2DModel`` from its config alone: every down block but the
    last has a downsampler, so ``2 ** (len(down_block_types) - 1)``."""
    blocks = config.get("down_block_types", ("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"))
    return 2 ** (len(blocks) - 1)


def check_unet_config(config: dict, where: str) -> int:
    """Refuse diffusers network configs the VP adapter cannot serve; returns the channel count."""
    kind = config.get("_class_name", "UNet2DModel")
    if kind != "UNet2DModel":
        raise ValueError(f"{where}: network class {kind!r}: only diffusers' UNet2DModel (unconditional, "
                         f"pixel space) is read directly; wrap other networks in a factory prior "
                         f"(docs/external_priors.md)")
    if config.get("time_embedding_type", "positional") == "fourier":
        raise ValueError(f"{where}: time_embedding_type 'fourier' is a score-SDE (VE) network conditioned "
                         f"on sigma, not a VP timestep; wrap it in a factory prior")
    if config.get("num_class_embeds") is not None or config.get("class_embed_type") is not None:
        raise ValueError(f"{where}: class-conditional networks are not supported (the grid has no labels)")
    channels = config.get("in_channels", 3)
    if config.get("out_channels", 3) != channels:
        raise ValueError(f"{where}: in_channels {channels} != out_channels {config.get('out_channels', 3)}; "
                         f"a denoiser must output the image it takes")
    return int(channels)


def default_timestep(config: dict) -> str:
    """``'nearest'`` for a learned (table) time embedding, else ``'continuous'``."""
    return "nearest" if config.get("time_embedding_type", "positional") == "learned" else "continuous"


def check_prior(prior, where: str) -> nn.Module:
    """``prior`` if it is an ``nn.Module`` with the prior contract, else TypeError naming ``where``.

    Contract: attributes ``channels`` (int > 0), ``coord_channels`` (0 or 2), ``coord_pad`` (int
    >= 0) and a forward callable as ``prior(x, sigma, coords=None)``.
    """
    what = "a module prior(x, sigma, coords=None) with attributes channels, coord_channels (0 or 2), coord_pad"
    if not isinstance(prior, nn.Module):
        raise TypeError(f"{where}: got a {type(prior).__name__}, not a torch.nn.Module; expected {what}")
    missing = [a for a in ("channels", "coord_channels", "coord_pad") if not hasattr(prior, a)]
    if missing:
        raise TypeError(f"{where}: the module {type(prior).__name__} lacks attribute(s) {missing}; expected {what}")
    if prior.coord_channels not in (0, 2) or int(prior.channels) < 1 or int(prior.coord_pad) < 0:
        raise TypeError(f"{where}: channels={prior.channels}, coord_channels={prior.coord_channels}, "
                        f"coord_pad={prior.coord_pad}; expected {what}")
    try:
        inspect.signature(prior.forward).bind(object(), object(), coords=None)
    except TypeError as err:
        raise TypeError(f"{where}: {type(prior).__name__}.forward{inspect.signature(prior.forward)} cannot "
                        f"be called as prior(x, sigma, coords=None) ({err})") from None
    return prior


def _probe(prior, tile: int) -> None:
    """One call of ``prior`` on a ``tile x tile`` mid-grey image (sigma 0.5), without a graph."""
    param = next(iter(prior.parameters()), None) if isinstance(prior, nn.Module) else None
    device = param.device if param is not None else "cpu"
    x = torch.full((1, int(getattr(prior, "channels", 1)), tile, tile), 0.5, device=device)
    coords = torch.zeros(1, 2, tile, tile, device=device) if getattr(prior, "coord_channels", 0) == 2 else None
    with torch.no_grad():
        prior(x, 0.5, coords=coords)


def check_tile_size(prior, tile: int, name: str, multiple: Optional[int] = None) -> None:
    """Raise ValueError naming prior ``name``, the tile size and the network's constraint if
    ``prior`` cannot take ``tile x tile`` inputs (``tile``: the side the network sees, i.e.
    the patch size, or the image size for whole-image inference).

    Uses ``multiple`` if given (then ``prior`` may be None: a start-up check from
    :func:`config_size_multiple`), else ``prior.size_multiple`` where the prior states it, else
    one trial call.
    """
    tile = int(tile)
    multiple = multiple if multiple is not None else getattr(prior, "size_multiple", None)
    if multiple is not None:
        if tile < 1 or tile % int(multiple):
            stages = int(multiple).bit_length() - 1
            raise ValueError(f"prior {name!r}: {tile}x{tile} tiles do not fit its network: its {stages} "
                             f"downsampling stage(s) need a side divisible by {multiple}; use a patch "
                             f"(or image) size that is a multiple of {multiple}")
        return
    try:
        _probe(prior, tile)
    except Exception as err:  # the network's own error is the only statement of its constraint
        raise ValueError(f"prior {name!r}: a {tile}x{tile} tile fails in its network ({type(err).__name__}: "
                         f"{err}); its size constraint is not stated (a size_multiple attribute on the "
                         f"module would let this check name it)") from err
