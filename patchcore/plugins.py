"""Objects named by the user as ``package.module:function`` (external priors and solvers).

The one reader of that grammar: :func:`import_object` imports the module and returns the
attribute, or raises an error that names the config key, the text and what to do.
"""

import importlib
import re
from typing import Any

# package.module:function (the module a dotted path; the object an attribute path of it).
SPEC_PATTERN = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_SPEC = re.compile(rf"^{SPEC_PATTERN}$")


def is_spec(text: Any) -> bool:
    """True if ``text`` reads as ``package.module:function``."""
    return isinstance(text, str) and bool(_SPEC.match(text))


def _import_module(module: str, key: str, spec: str):
    """The module ``module`` of ``spec``; ImportError naming ``key`` if it cannot be imported."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if module == missing or module.startswith(missing + "."):
            raise ImportError(f"{key}: {spec!r}: no module named {missing!r}; check the spelling, and "
                              f"that the package is installed or its folder is on PYTHONPATH") from None
        raise ImportError(f"{key}: {spec!r}: module {module!r} was found but failed to import: {err}") from err
    except Exception as err:  # any error raised while executing the user's module
        raise ImportError(f"{key}: {spec!r}: importing module {module!r} failed: "
                          f"{type(err).__name__}: {err}") from err


def import_object(spec: str, key: str) -> Any:
    """The object named by ``spec`` (``'package.module:function'``) for config key ``key``.

    Raises ValueError if ``spec`` does not follow the grammar, ImportError if the module cannot
    be imported, AttributeError if it has no such attribute; each message names ``key``.
    """
    if not is_spec(spec):
        raise ValueError(f"{key}: {spec!r} is not of the form 'package.module:function' "
                         f"(a dotted module path, a colon, then the function's name)")
    module_name, attribute = spec.split(":")
    obj = _import_module(module_name, key, spec)
    for part in attribute.split("."):
        if not hasattr(obj, part):
            known = sorted(n for n in dir(obj) if not n.startswith("_"))[:20]
            raise AttributeError(f"{key}: {spec!r}: module {module_name!r} has no attribute {part!r} "
                                 f"(public names there: {known})")
        obj = getattr(obj, part)
    return obj
