"""External solvers (``solvers.<name>: {algorithm: "package.module:function"}``) and the tile-size
check of a prior under an inference scheme.

An external solver is a function with the one solver signature of
:mod:`patchcore.inverse.solvers`::

    fn(denoiser, y, op, sigmas, *, generator, sigma_y, callback=None, **params) -> x

``params`` are the other keys of its config entry. Its noise schedule is what it declares as
``fn.schedule`` (a :class:`patchcore.inverse.schedules.Need`, or None for a method without
one); a function that declares nothing gets :data:`DEFAULT_SCHEDULE` (``nfe`` Karras levels
between ``sigma_min`` and ``sigma_max``, as DPS).
"""

import inspect
from typing import Callable, Optional

from patchcore.inverse import schedules, schemes
from patchcore.inverse.solvers import SOLVERS
from patchcore.plugins import import_object, is_spec
from patchcore.priors.external import check_tile_size

SOLVER_SIGNATURE = "fn(denoiser, y, op, sigmas, *, generator, sigma_y, callback=None, **params)"
DEFAULT_SCHEDULE = schedules.Need(count="nfe", spacing="karras")
# Keys of a solver entry that are not the function's parameters.
ENTRY_KEYS = ("algorithm", "tuned")


def solver_need(fn: Callable, key: str) -> Optional[schedules.Need]:
    """The schedule ``fn`` declares (``fn.schedule``), :data:`DEFAULT_SCHEDULE` if none."""
    need = getattr(fn, "schedule", DEFAULT_SCHEDULE)
    if need is not None and not isinstance(need, schedules.Need):
        raise TypeError(f"{key}: {fn.__name__}.schedule is a {type(need).__name__}; it must be a "
                        f"patchcore.inverse.schedules.Need or None (no noise schedule)")
    return need


def check_solver_signature(fn: Callable, key: str, params: dict) -> None:
    """TypeError naming ``key`` unless ``fn`` takes the solver call of :data:`SOLVER_SIGNATURE`
    with the keyword parameters ``params`` (the config entry's own keys)."""
    name = getattr(fn, "__name__", type(fn).__name__)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{key}: cannot read the signature of {name} ({err})") from None
    arg = object()
    try:
        signature.bind(arg, arg, arg, arg, generator=arg, sigma_y=arg, callback=None,
                       **{k: arg for k in params})
    except TypeError as err:
        raise TypeError(f"{key}: {name}{signature} cannot be called as {SOLVER_SIGNATURE} with the "
                        f"entry's parameters {sorted(params)} ({err}); a solver must accept those "
                        f"arguments, and every other key of the entry as a keyword") from None


def load_solver(spec: str, key: str, options: Optional[dict] = None, entry: Optional[str] = None) -> Callable:
    """The solver function ``spec`` (``'package.module:function'``) named by config key ``key``.

    Checks, at start-up, that it imports, is callable, declares a valid schedule and accepts the
    solver signature with the parameters of ``options`` (its config entry, if given: schedule
    keys are split off as :func:`patchcore.inverse.schedules.build` does). Errors name ``key``,
    those of the schedule keys the entry ``entry`` (default ``key``).
    """
    fn = import_object(spec, key)
    if not callable(fn):
        raise TypeError(f"{key}: {spec!r} is a {type(fn).__name__}, not a function {SOLVER_SIGNATURE}")
    need = solver_need(fn, key)
    params = {}
    if options is not None:
        rest = {k: v for k, v in options.items() if k not in ENTRY_KEYS}
        _, params = schedules.build(need, rest, entry or key)
    check_solver_signature(fn, key, params)
    return fn


def solver_function(name: str, options: dict) -> Callable:
    """The function of config entry ``solvers.<name>``: a built-in of
    :data:`patchcore.inverse.solvers.SOLVERS` by name, or an external ``package.module:function``."""
    algorithm = options.get("algorithm", name)
    if algorithm in SOLVERS:
        return SOLVERS[algorithm]
    if is_spec(algorithm):
        return load_solver(algorithm, f"solvers.{name}.algorithm", options, f"solvers.{name}")
    raise KeyError(f"solvers.{name}: unknown algorithm {algorithm!r} (built-in: {sorted(SOLVERS)}, or "
                   f"'package.module:function' for a function {SOLVER_SIGNATURE})")


def check_scheme(prior: Optional[Callable], infer, image_size: int, name: str,
                 multiple: Optional[int] = None) -> None:
    """Raise ValueError naming prior ``name`` if its network cannot take the tiles of inference
    scheme ``infer`` (:mod:`patchcore.inverse.schemes`) on ``image_size`` images: the tile side is
    ``min(P, N)`` (the whole image when ``full`` or ``P >= N``). ``multiple``: the network's
    size multiple when known without the prior (:func:`patchcore.priors.external.check_tile_size`)."""
    tile = min(schemes.parse(infer).size(image_size), int(image_size))
    check_tile_size(prior, tile, name, multiple)
