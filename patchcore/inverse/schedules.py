"""Noise-level schedules, all on the ``[0, 1]`` image scale (sigma of ``x = x0 + sigma n``).

Every schedule is a decreasing 1-D float64 tensor that ends at its smallest level (no
trailing zero; solvers append the final step to sigma 0 themselves).
"""

from dataclasses import dataclass
from typing import Optional, Union

import torch


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: Union[float, torch.Tensor] = 7.0
    ) -> torch.Tensor:
    """EDM schedule (Karras et al. 2022, Eq. 5): ``n`` levels from ``sigma_max`` down to ``sigma_min``.

    ``sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"karras_sigmas: n must be >= 1, got {n}")
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"karras_sigmas: need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
    if n == 1:
        return torch.tensor([float(sigma_max)], dtype=torch.float64)
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def quad_sigmas(n: int, sigma_min: float, sigma_max: float, rho: Union[float, torch.Tensor] = 7.0,
                n_ref: int = 1000) -> torch.Tensor:
    """A quadratic skip on an EDM grid: ``n`` levels picked from a reference grid.

    The reference is the ``n_ref``-level Karras grid (index 0 = ``sigma_min``) and level ``i``
    takes index ``round((i/(n-1))^2 (n_ref - 1))`` (DDIM's "quad" skip), so the levels are dense
    at the lowest noise. This is NOT the official DiffPIR skip (Zhu et al. 2023, ``main_ddpir.py``
    ``skip_type='quad'``), which takes DDPM steps ``T sqrt(i/(n-1))`` counted from the noisy end
    of a linear-beta chain and puts most levels between sigma 0.1 and 5 (docs/solver_fidelity.md).
    """
    n, n_ref = int(n), int(n_ref)
    if not 1 <= n <= n_ref:
        raise ValueError(f"quad_sigmas: need 1 <= n <= n_ref, got n={n}, n_ref={n_ref}")
    ref = karras_sigmas(n_ref, sigma_min, sigma_max, rho).flip(0)  # increasing
    if n == 1:
        return ref[-1:].clone()
    idx = (torch.linspace(0, 1, n, dtype=torch.float64) ** 2 * (n_ref - 1)).round().long()
    # Quadratic spacing can repeat the first few indices; push duplicates up by one.
    for i in range(1, n):
        idx[i] = max(int(idx[i]), int(idx[i - 1]) + 1)
    return ref[idx.clamp_max(n_ref - 1)].flip(0)


SPACINGS = {"karras": karras_sigmas, "quad": quad_sigmas}

SCHEDULE_KEYS = ("nfe", "levels", "sigma_min", "sigma_max", "rho", "spacing")


@dataclass(frozen=True)
class Need:
    """The noise schedule a solver takes, as the solver declares it (``solver.schedule``).

    ``count``: the config key giving the number of levels (``nfe`` or ``levels``); ``spacing``:
    the default spacing (a key of :data:`SPACINGS`); ``per_level``: ``(key, default)`` of the
    network evaluations per level when there are several (PaDIS's ``inner``), else None.
    A solver that takes no schedule (a classical method) declares ``schedule = None``.
    """

    count: str = "nfe"
    spacing: str = "karras"
    per_level: Optional[tuple[str, int]] = None


def build(need: Optional[Need], options: dict, where: str = "solver"
          ) -> tuple[Optional[torch.Tensor], dict]:
    """Split a solver's config entry into ``(sigmas, params)`` as its :class:`Need` says.

    ``options`` holds ``sigma_min``, ``sigma_max``, ``rho``, the number of levels (key
    ``need.count``), an optional ``spacing`` (``karras``/``quad``; default ``need.spacing``) and
    the solver's own parameters, returned as ``params``. With ``need`` None (no schedule) the
    sigmas are None, every option is a parameter, and a schedule key is an error. ``where``
    names the entry in error messages (``solvers.<name>``).
    """
    if need is None:
        stray = [k for k in SCHEDULE_KEYS if k in options]
        if stray:
            raise KeyError(f"{where}: this solver takes no noise schedule; remove key(s) {stray}")
        return None, dict(options)
    missing = [k for k in ("sigma_min", "sigma_max", "rho", need.count) if k not in options]
    if missing:
        raise KeyError(f"{where}: missing key(s) {missing}")
    spacing = options.get("spacing", need.spacing)
    if spacing not in SPACINGS:
        raise ValueError(f"{where}.spacing: unknown {spacing!r}; known: {sorted(SPACINGS)}")
    sigmas = SPACINGS[spacing](options[need.count], float(options["sigma_min"]), float(options["sigma_max"]),
                               float(options["rho"]))
    params = {k: v for k, v in options.items() if k not in SCHEDULE_KEYS}
    return sigmas, params


def evaluations(need: Optional[Need], options: dict) -> int:
    """Network evaluations per reconstruction: 0 without a schedule, else the number of levels
    times the evaluations per level."""
    if need is None:
        return 0
    per_level = int(options.get(*need.per_level)) if need.per_level else 1
    return int(options[need.count]) * per_level
