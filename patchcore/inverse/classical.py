"""Classical (untrained) reconstruction methods with the common solver signature.

``admm_tv`` is the ADMM-TV row of the PaDIS table (Hu et al. 2024): it ignores the denoiser
and the noise levels, and is registered in :data:`patchcore.inverse.solvers.SOLVERS` so the grid runs
it like any other solver (with the prior ``none``).
"""

import torch
from deepinv.optim import TVPrior


def tv_objective(x, y, op, lam):
    """``0.5 ||A x - y||^2 + lam ||D x||_{1,2}`` per image, a ``(B,)`` tensor.

    ``D`` is deepinv's forward-difference gradient, ``||.||_{1,2}`` the isotropic TV.
    """
    data = 0.5 * ((op.A(x) - y) ** 2).flatten(1).sum(1)
    return data + float(lam) * TVPrior().fn(x)


@torch.no_grad()
def admm_tv(denoiser, y, op, sigmas, *, generator, sigma_y, callback=None, lam=1e-3, penalty=None,
            iters=50, tv_iters=200, init="baseline"):
    """ADMM for ``min_x 0.5 ||A x - y||^2 + lam TV(x)`` with the splitting ``x = z``.

    Scaled-form ADMM (Boyd et al. 2011, Sec. 3.1.1), starting from ``z = baseline(y)``
    (``init='baseline'``) or ``z = 0.5`` (``init='noise'``: no noise is drawn, the method is
    deterministic) and ``u = 0``:

    - data step ``x = argmin 0.5||A x - y||^2 + penalty/2 ||x - (z - u)||^2`` (``op.prox``);
    - TV step ``z = argmin lam TV(z) + penalty/2 ||z - (x + u)||^2`` (deepinv's TV prox,
      a Chambolle-Pock solver, with ``gamma = lam / penalty``);
    - dual step ``u += x - z``.

    Args:
        denoiser, sigmas, generator: unused (common solver signature); the method is deterministic.
        y: measurements as produced by ``op.A``.
        op: an operator of :mod:`patchcore.inverse.operators`.
        sigma_y: unused (``lam`` is stated for the unweighted data term).
        callback: called after every iteration with ``{i, x, z, u, v, denoised, sigma}``
            (``v = z - u`` before the data step, i.e. the prox centre of ``x``; ``denoised`` is
            ``z``, ``sigma`` the TV prox weight ``lam / penalty``).
        lam: TV weight (the ADMM penalty is named ``penalty`` because the solver config's ``rho``
            is the noise-schedule exponent). ``penalty`` defaults to ``10 * lam``.
        iters: ADMM iterations; ``tv_iters``: inner iterations of each TV prox.

    Returns:
        ``z`` (the TV-regularised variable), shape ``(B, C, N, N)``, not clipped.
    """
    lam = float(lam)
    penalty = float(penalty) if penalty is not None else 10.0 * lam
    if lam <= 0 or penalty <= 0 or int(iters) < 1:
        raise ValueError(f"admm_tv: need lam > 0, penalty > 0, iters >= 1; got {lam}, {penalty}, {iters}")
    if init not in ("baseline", "noise"):
        raise ValueError(f"admm_tv: init must be 'baseline' or 'noise', got {init!r}")
    tv = TVPrior(def_crit=1e-6, n_it_max=int(tv_iters))  # fresh warm-start state per call
    z = op.baseline(y)
    if init == "noise":
        z = torch.full_like(z, 0.5)
    u = torch.zeros_like(z)
    for i in range(int(iters)):
        v = z - u
        # Data step: prox of the least-squares term around z - u.
        x = op.prox(v, y, penalty)
        # TV step: prox of (lam / penalty) TV around x + u.
        z = tv.prox(x + u, gamma=lam / penalty)
        # Dual ascent on the constraint x = z.
        u = u + x - z
        if callback is not None:
            callback({"i": i, "x": x, "z": z, "u": u, "v": v, "denoised": z, "sigma": lam / penalty})
    return z
