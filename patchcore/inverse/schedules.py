"""Noise-level schedules, all on the ``[0, 1]`` image scale (sigma of ``x = x0 + sigma n``).

Every schedule is a decreasing 1-D float64 tensor that ends at its smallest level (no
trailing zero; solvers append the final step to sigma 0 themselves).
"""

import torch


def karras_sigmas(n, sigma_min, sigma_max, rho=7.0):
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


def quad_sigmas(n, sigma_min, sigma_max, rho=7.0, n_ref=1000):
    """DiffPIR's "quad" skip on an EDM grid: ``n`` levels picked from a reference grid.

    DiffPIR (Zhu et al. 2023) picks timesteps ``t_i = (i/(n-1))^2 T`` of a T = 1000-step
    diffusion, so steps are dense at low noise. Here the reference is the ``n_ref``-level
    Karras grid (index 0 = ``sigma_min``) and the same quadratic index spacing is applied.
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

# Default spacing of each solver: DiffPIR uses its quad skip, the others the EDM grid.
SOLVER_SPACING = {"dps": "karras", "diffpir": "quad", "padis": "karras"}

SCHEDULE_KEYS = ("nfe", "levels", "sigma_min", "sigma_max", "rho", "spacing")


def solver_schedule(solver, options):
    """Split a solver's config entry into ``(sigmas, params)``.

    ``options`` holds ``sigma_min``, ``sigma_max``, ``rho``, the number of levels (``nfe`` for
    dps/diffpir, ``levels`` for padis, whose NFE is ``levels * inner``), an optional
    ``spacing`` (``karras``/``quad``; default per solver) and the solver's own parameters,
    returned as ``params`` for ``SOLVERS[solver](..., **params)``.
    """
    missing = [k for k in ("sigma_min", "sigma_max", "rho") if k not in options]
    count_key = "levels" if solver == "padis" else "nfe"
    if count_key not in options:
        missing.append(count_key)
    if missing:
        raise KeyError(f"solvers.{solver}: missing key(s) {missing}")
    spacing = options.get("spacing", SOLVER_SPACING.get(solver, "karras"))
    if spacing not in SPACINGS:
        raise ValueError(f"solvers.{solver}.spacing: unknown {spacing!r}; known: {sorted(SPACINGS)}")
    sigmas = SPACINGS[spacing](options[count_key], float(options["sigma_min"]), float(options["sigma_max"]),
                               float(options["rho"]))
    params = {k: v for k, v in options.items() if k not in SCHEDULE_KEYS}
    return sigmas, params


def solver_nfe(solver, options):
    """Network evaluations per reconstruction of solver preset ``solver`` with config entry
    ``options`` (0 for the classical ``admm_tv``; ``levels * inner`` for padis; else ``nfe``)."""
    algorithm = options.get("algorithm", solver)
    if algorithm == "admm_tv":
        return 0
    if algorithm == "padis":
        return int(options["levels"]) * int(options.get("inner", 10))
    return int(options["nfe"])
