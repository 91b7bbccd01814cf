"""External solvers (patchcore.inverse.external): a function named 'package.module:function' in
a solver entry is imported, checked against the one solver signature at start-up, and runs
like a built-in; misspellings and wrong signatures stop with the config key named."""

import sys

import pytest
import torch

from patchcore.inverse import external, schedules
from patchcore.inverse.operators import make_operator
from patchcore.inverse.solvers import SOLVERS, solver_schedule

SOLVER_MODULE = '''
from patchcore.inverse.schedules import Need
from patchcore.inverse.solvers import SOLVERS


def dps_again(denoiser, y, op, sigmas, *, generator, sigma_y, callback=None, **params):
    """The built-in DPS, called through the external path."""
    return SOLVERS["dps"](denoiser, y, op, sigmas, generator=generator, sigma_y=sigma_y,
                          callback=callback, **params)


dps_again.schedule = SOLVERS["dps"].schedule


def prox_steps(denoiser, y, op, sigmas, *, generator, sigma_y, callback=None, rho=1.0):
    """Denoise, then the data prox, once per level (declares no schedule: the default)."""
    x = op.baseline(y)
    for i, s in enumerate(sigmas):
        x = op.prox(denoiser(x, float(s)), y, rho)
        if callback is not None:
            callback({"i": i, "x": x, "denoised": x, "sigma": float(s)})
    return x


def no_sigma_y(denoiser, y, op, sigmas, *, generator, callback=None):
    return y


def three_positional(denoiser, y, op, *, generator, sigma_y, callback=None):
    return y


def classical(denoiser, y, op, sigmas, *, generator, sigma_y, callback=None, iters=3):
    return op.baseline(y)


classical.schedule = None


def bad_schedule(denoiser, y, op, sigmas, *, generator, sigma_y, callback=None):
    return y


bad_schedule.schedule = "karras"

NOT_CALLABLE = 3
'''

SCHEDULE = {"nfe": 4, "sigma_min": 0.01, "sigma_max": 1.0, "rho": 7}


@pytest.fixture
def solver_module(tmp_path, monkeypatch, request):
    name = f"extsolver_{request.node.name.replace('[', '_').replace(']', '_').replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(SOLVER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def gaussian_denoiser(x, sigma):
    s = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, 1, 1, 1)
    return 0.5 + 0.01 / (0.01 + s ** 2) * (x - 0.5)


def test_external_solver_equals_the_builtin_it_wraps(solver_module):
    entry = {"algorithm": f"{solver_module}:dps_again", **SCHEDULE, "zeta": 0.3}
    fn = external.solver_function("mine", entry)
    op = make_operator("denoise", 8)
    y = op.measure(torch.full((1, 1, 8, 8), 0.5), 0.1, torch.Generator().manual_seed(0))
    sigmas, params = schedules.build(external.solver_need(fn, "solvers.mine"), {k: v for k, v in entry.items()
                                                                                   if k != "algorithm"})
    _, ref_sigmas, ref_params = solver_schedule("dps", {k: v for k, v in entry.items() if k != "algorithm"})
    assert torch.equal(sigmas, ref_sigmas) and params == ref_params
    run = lambda f: f(gaussian_denoiser, y, op, sigmas, generator=torch.Generator().manual_seed(1),  # noqa: E731
                      sigma_y=0.1, **params)
    assert torch.equal(run(fn), run(SOLVERS["dps"]))


def test_external_solver_with_the_default_schedule_runs(solver_module):
    fn = external.solver_function("mine", {"algorithm": f"{solver_module}:prox_steps", **SCHEDULE, "rho": 7})
    need = external.solver_need(fn, "solvers.mine")
    assert need == external.DEFAULT_SCHEDULE
    sigmas, params = schedules.build(need, {**SCHEDULE, "rho": 7})
    op = make_operator("denoise", 8)
    y = op.measure(torch.full((1, 1, 8, 8), 0.5), 0.1, torch.Generator().manual_seed(0))
    seen = []
    x = fn(gaussian_denoiser, y, op, sigmas, generator=None, sigma_y=0.1, callback=seen.append, **params)
    assert x.shape == y.shape and len(seen) == SCHEDULE["nfe"]
    assert (x - 0.5).abs().mean() < (y - 0.5).abs().mean()  # denoised towards the prior mean


def test_builtin_names_and_unknown_names():
    assert external.solver_function("dps", {"nfe": 4}) is SOLVERS["dps"]
    assert external.solver_function("padis-init", {"algorithm": "padis"}) is SOLVERS["padis"]
    with pytest.raises(KeyError, match=r"solvers\.x: unknown algorithm 'dsp' .*'package\.module:function'"):
        external.solver_function("x", {"algorithm": "dsp"})


def test_external_solver_errors_name_the_key(solver_module):
    m = solver_module
    key = r"solvers\.mine\.algorithm"
    cases = [
        (f"{m}_typo:prox_steps", SCHEDULE, ImportError, rf"{key}: .*no module named '{m}_typo'"),
        (f"{m}:prox_step", SCHEDULE, AttributeError, rf"{key}: .*has no attribute 'prox_step'"),
        (f"{m}:NOT_CALLABLE", SCHEDULE, TypeError, rf"{key}: .* is a int, not a function"),
        (f"{m}:no_sigma_y", SCHEDULE, TypeError, rf"{key}: no_sigma_y\(.*\) cannot be called as fn\(denoiser, y, op, sigmas"),
        (f"{m}:three_positional", SCHEDULE, TypeError, rf"{key}: three_positional.*too many positional"),
        (f"{m}:prox_steps", {**SCHEDULE, "rh0": 2.0}, TypeError, rf"{key}: .*parameters \['rh0'\].*unexpected keyword"),
        (f"{m}:bad_schedule", SCHEDULE, TypeError, rf"{key}: bad_schedule\.schedule is a str"),
        (f"{m}:classical", SCHEDULE, KeyError, r"solvers\.mine: this solver takes no noise schedule"),
        (f"{m}:prox_steps", {"nfe": 4}, KeyError, r"solvers\.mine: .*sigma_min"),
    ]
    for spec, options, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            external.solver_function("mine", {"algorithm": spec, **options})
    assert external.solver_function("mine", {"algorithm": f"{m}:classical", "iters": 5}) is not None


def test_tuned_entries_are_not_parameters(solver_module):
    entry = {"algorithm": f"{solver_module}:prox_steps", **SCHEDULE, "tuned": {"denoise": {"rho": 2.0}}}
    assert external.solver_function("mine", entry).__name__ == "prox_steps"
