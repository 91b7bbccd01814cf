"""Exponential moving average of the weights: fixed decay or the EDM2 power function.

EDM2 (Karras et al. 2024, Sec. 3.1): the power-function EMA has decay
beta_t = (1 - 1/t)^(gamma + 1) after t steps, whose profile has relative standard deviation
sigma_rel = sqrt((gamma + 1) / ((gamma + 2)^2 (gamma + 3))); it adapts to the length of
training, so short demo runs and long paper runs use the same setting.
"""

from typing import Optional
import copy
import functools
import math

import torch
from torch import nn


@functools.lru_cache(maxsize=64)  # a 200-step bisection; ema_beta asks for it at every training step
def sigma_rel_to_gamma(sigma_rel: float) -> float:
    """The power-function exponent gamma > -1 whose EMA profile has relative std ``sigma_rel``."""
    if not 0 < sigma_rel < 0.2887:
        raise ValueError(f"ema std (sigma_rel) must be in (0, 0.2887), got {sigma_rel}")
    def rel(gamma):
        return ((gamma + 1) / ((gamma + 2) ** 2 * (gamma + 3))) ** 0.5
    lo, hi = -30.0, 30.0  # bisection on log(gamma + 1); rel decreases monotonically in gamma
    for _ in range(200):
        mid = (lo + hi) / 2
        if rel(math.exp(mid) - 1) > sigma_rel:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2) - 1


def ema_beta(step: int, options: dict) -> float:
    """EMA decay after ``step`` (1-based) optimiser steps for ``options`` {kind, std | beta}."""
    kind = options.get("kind", "power")
    if kind == "power":
        gamma = sigma_rel_to_gamma(float(options.get("std", 0.1)))
        return (1 - 1 / step) ** (gamma + 1)
    if kind == "fixed":
        return float(options["beta"])
    if kind == "none":
        return 0.0
    raise ValueError(f"ema kind '{kind}' unknown (known: power, fixed, none)")


class EMA(nn.Module):
    """Holds ``module``'s averaged copy in ``self.module`` (eval mode, no gradients)."""

    def __init__(self, module: nn.Module, options: Optional[dict] = None):
        super().__init__()
        self.options = dict(options or {"kind": "power", "std": 0.1})
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        """Average ``module``'s parameters in after optimiser step ``step`` (1-based); copy buffers."""
        beta = ema_beta(step, self.options)
        # One multi-tensor call each (the same per-tensor arithmetic as a loop of lerp_ / copy_).
        averaged, current = list(self.module.parameters()), [p.detach() for p in module.parameters()]
        if all(a.dtype == c.dtype and a.device == c.device for a, c in zip(averaged, current)):
            torch._foreach_lerp_(averaged, current, 1 - beta)
        else:
            for a, c in zip(averaged, current):
                a.lerp_(c.to(a.dtype), 1 - beta)
        buffers = list(self.module.buffers())
        if buffers:
            torch._foreach_copy_(buffers, list(module.buffers()))
        return beta
