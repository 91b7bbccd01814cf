"""Training of a prior: option resolution, schedule, one step, held-out evaluation, the loop.

Determinism: everything random in step ``t`` (crop positions, patch size, image indices, noise
levels, noise) comes from a generator seeded by ``(seed, t)``; the initial weights from
``(seed, 'init')``. So a run is a pure function of (options, data), a killed run resumed from
a checkpoint (weights, EMA, Adam moments, step) continues bitwise identically on CPU, and
distributed ranks draw the same global batch and each take their slice of it.

The loop itself does no file I/O: checkpoints go through the ``on_checkpoint`` callback
(see :mod:`patchcore.io.checkpoint`).
"""

import copy
import math
import sys
import time
from typing import Any, Callable, Optional, Sequence, Union

import torch
import torch.distributed as dist
from torch import nn

from patchcore.priors.coords import coord_grid
from patchcore.priors.ema import EMA
from patchcore.priors.loss import EDMLoss, sample_noise, sample_sigma
from patchcore.priors.network import count_parameters, resolve_network
from patchcore.priors.patch_sampler import resolve_sampler, sample_batch
from patchcore.priors.precond import edm_coefficients
from patchcore.priors.prior import Prior, to_model_scale
from patchcore.seeds import derived_seed

TRAINING_DEFAULTS = {
    "steps": 1000,            # optimiser steps
    "batch": 8,               # global batch in full images' worth of pixels
    "lr": 0.01,               # reference learning rate (EDM2 uses ~0.01 with forced weight norm)
    "lr_schedule": "invsqrt",  # 'invsqrt' (EDM2: lr / sqrt(max(t / ref_steps, 1))) or 'constant'
    "warmup_steps": 50,       # linear warm-up
    "ref_steps": 500,         # inverse-sqrt decay starts here
    "betas": [0.9, 0.99],
    "eps": 1.0e-8,
    "grad_clip": 1.0,         # max global gradient norm (null: none)
    "ema": {"kind": "power", "std": 0.1},
    "p_mean": -1.2,           # ln sigma ~ N(p_mean, p_std^2) on the model scale (EDM)
    "p_std": 1.2,
    "uncertainty": False,     # EDM2 learned uncertainty weighting
    "seed": 0,
    "log_every": 10,
    "eval_every": 100,
    "checkpoint_every": 100,
    "eval_sigmas": [0.01, 0.05, 0.2, 0.5],  # held-out noise levels, [0, 1] image scale
    "eval_images": 16,
    "eval_batch": 16,
}


def _merge(defaults, entry, where):
    unknown = set(entry) - set(defaults)
    if unknown:
        raise KeyError(f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(defaults)})")
    return {**copy.deepcopy(defaults), **copy.deepcopy(entry)}


def resolve_options(prior: dict, networks: dict, trainings: dict, image_size: int, channels: int) -> dict:
    """Resolved options of one prior preset (all names replaced by their dicts).

    ``prior``: ``{network: name-or-dict, training: name-or-dict, sampler: {...},
    train_images: int or null, uncertainty: bool}``; ``networks``/``trainings``: the named
    presets of config (networks may also name :data:`patchcore.priors.network.NETWORK_PRESETS`).
    Returns ``{"prior": Prior options, "sampler": ..., "training": ..., "train_images": ...,
    "image_size": N}``.
    """
    known = {"network", "training", "sampler", "train_images", "uncertainty", "description"}
    unknown = set(prior) - known
    if unknown:
        raise KeyError(f"priors: unknown key(s) {sorted(unknown)} (known: {sorted(known)})")
    net = prior.get("network", "demo-xxs")
    if isinstance(net, str) and net in networks:
        net = networks[net]
    training = prior.get("training", {})
    if isinstance(training, str):
        if training not in trainings:
            raise KeyError(f"priors: training preset '{training}' is not defined under 'training'")
        training = trainings[training]
    training = _merge(TRAINING_DEFAULTS, training, "training")
    training["uncertainty"] = bool(prior.get("uncertainty", training["uncertainty"]))
    sampler = resolve_sampler(prior.get("sampler"), image_size)
    prior_options = {"network": resolve_network(net), "channels": int(channels),
                     "coord_channels": 2 if sampler["coords"] else 0,
                     "coord_pad": sampler["coord_pad"], "sigma_data": 0.5,
                     "uncertainty": training["uncertainty"]}
    return {"prior": prior_options, "sampler": sampler, "training": training,
            "train_images": prior.get("train_images"), "image_size": int(image_size)}


def step_generator(seed: int, step: int) -> torch.Generator:
    """The CPU generator of training step ``step``: all of the step's randomness comes from it."""
    return torch.Generator().manual_seed(derived_seed(seed, "step", step))


def learning_rate(step: int, training: dict) -> float:
    """Learning rate of 1-based ``step``: linear warm-up, then constant or inverse square root."""
    lr = training["lr"]
    if training["warmup_steps"]:
        lr *= min(1.0, step / training["warmup_steps"])
    if training["lr_schedule"] == "invsqrt":
        lr /= math.sqrt(max(step / training["ref_steps"], 1.0))
    elif training["lr_schedule"] != "constant":
        raise ValueError(f"training.lr_schedule '{training['lr_schedule']}' unknown (invsqrt, constant)")
    return lr


def select_training_images(images: torch.Tensor, count: Optional[int], seed: Any) -> torch.Tensor:
    """``count`` training images chosen by a permutation seeded by ``seed`` (all if count is None)."""
    if count is None:
        return images
    if not 0 < count <= images.shape[0]:
        raise ValueError(f"train_images = {count} but only {images.shape[0]} training images exist")
    g = torch.Generator().manual_seed(derived_seed(seed, "subset"))
    return images[torch.randperm(images.shape[0], generator=g)[:count].sort().values]


def make_state(options: dict, device: Union[str, torch.device] = "cpu") -> dict:
    """Fresh training state: prior, EMA, Adam, step 0, empty history."""
    training = options["training"]
    g = torch.Generator().manual_seed(derived_seed(training["seed"], "init"))
    prior = Prior.from_options(options["prior"], generator=g).to(device).train()
    # foreach: one multi-tensor call per Adam operation instead of a Python loop over ~100
    # parameters (PyTorch's default on CUDA; on CPU the same arithmetic, bitwise).
    optimizer = torch.optim.Adam(prior.parameters(), lr=training["lr"], betas=tuple(training["betas"]),
                                 eps=training["eps"], foreach=True)
    return {"prior": prior, "ema": EMA(prior, training["ema"]), "optimizer": optimizer, "step": 0,
            "history": [], "accum": [0.0, 0], "options": options}


def _rank_world():
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train_step(objective: nn.Module, state: dict, images: torch.Tensor, rank: int = 0, world: int = 1
    ) -> float:
    """One optimiser step on the batch of step ``state['step'] + 1``; returns the global mean loss.

    ``objective`` is :class:`patchcore.priors.loss.EDMLoss` of ``state['prior']`` (possibly DDP-wrapped);
    ``images`` (n, C, N, N) in [0, 1] on CPU.
    """
    options, training = state["options"], state["options"]["training"]
    prior, optimizer = state["prior"], state["optimizer"]
    device = next(prior.parameters()).device
    step = state["step"] + 1
    # The global batch, identical on every rank: crops, noise levels, noise (EDM Eq. 2).
    g = step_generator(training["seed"], step)
    x, coords = sample_batch(images, options["sampler"], training["batch"], g, world)
    sigma = sample_sigma(x.shape[0], g, training["p_mean"], training["p_std"])
    noise = sample_noise(x.shape, g)
    # This rank's slice of it, moved to the model scale.
    part = slice(rank * x.shape[0] // world, (rank + 1) * x.shape[0] // world)
    x0 = to_model_scale(x[part]).to(device)
    extra = coords[part].to(device) if coords is not None else None
    loss = objective(x0, sigma[part].to(device), noise[part].to(device), extra).mean()
    # Gradient step: DDP averages gradients over ranks, then clip, set lr, Adam.
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if training["grad_clip"]:
        torch.nn.utils.clip_grad_norm_(prior.parameters(), training["grad_clip"], foreach=True)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(step, training)
    optimizer.step()
    state["ema"].update(prior, step)
    state["step"] = step
    loss = loss.detach()
    if world > 1:
        dist.all_reduce(loss)
        loss /= world
    return float(loss)


@torch.no_grad()
def heldout_mse(prior: Prior, images: torch.Tensor, sigmas: Sequence[float], seed: Any, batch: int = 16
    ) -> dict:
    """Held-out denoising error of ``prior`` on whole images for each noise level.

    ``images`` (n, C, N, N) in [0, 1]; ``sigmas`` on the [0, 1] scale. The noise is fixed by
    ``seed``. Returns ``{sigma: (mse, nmse)}``: ``mse`` on the [0, 1] scale, ``nmse`` the
    model-scale MSE divided by c_out^2 (the EDM-weighted loss; ~1 for the trivial denoiser
    c_skip * x on unit-variance data, 0 for a perfect one).
    """
    device = next(prior.parameters()).device
    n, _, size, _ = images.shape
    coords = None
    if prior.coord_channels:
        coords = coord_grid(0, 0, size, size, size, prior.coord_pad, device=device)
    out = {}
    for k, sigma in enumerate(sigmas):
        g = torch.Generator().manual_seed(derived_seed(seed, "eval", k))
        total = 0.0
        for start in range(0, n, batch):
            x = images[start:start + batch]
            noisy = x + sigma * torch.randn(x.shape, generator=g)
            d = prior(noisy.to(device), sigma, coords).cpu()
            total += float((d - x).square().sum())
        mse = total / images.numel()
        c_out = float(edm_coefficients(2 * sigma)[1])
        out[float(sigma)] = (mse, 4 * mse / c_out ** 2)
    return out


def evaluation_row(prior: Prior, val_images: torch.Tensor, training: dict) -> dict:
    """History columns of a held-out evaluation: ``val_mse@s``, ``val_nmse@s`` and mean ``val_nmse``."""
    images = val_images[: training["eval_images"]]
    result = heldout_mse(prior, images, training["eval_sigmas"], training["seed"], training["eval_batch"])
    row = {}
    for sigma, (mse, nmse) in result.items():
        row[f"val_mse@{sigma:g}"] = mse
        row[f"val_nmse@{sigma:g}"] = nmse
    row["val_nmse"] = sum(v[1] for v in result.values()) / len(result)
    return row


def progress_line(row: dict, steps: int, rate: float) -> str:
    """One log line of a history row: step, mean loss, learning rate, speed, held-out error if any."""
    line = f"step {row['step']}/{steps}: loss {row['loss']:.4f}, lr {row['lr']:.3g}, {rate:.2f} steps/s"
    if "val_nmse" in row:
        line += f", held-out nmse {row['val_nmse']:.4f}"
    return line


def _objective(prior, training, world):
    """The EDM loss of ``prior`` (DDP-wrapped when distributed)."""
    objective = EDMLoss(prior.precond, training["uncertainty"])
    if world > 1:
        objective = torch.nn.parallel.DistributedDataParallel(objective)
    return objective


def _progress_bar(state, training, progress, rank):
    """A tqdm bar, drawn only with ``progress`` on rank 0 when standard error is a terminal (a
    log file never collects the bar's carriage-return refreshes)."""
    from tqdm.auto import tqdm

    terminal = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    return tqdm(total=training["steps"], initial=state["step"], disable=not (progress and terminal) or rank != 0,
                mininterval=2.0, unit="step", dynamic_ncols=True)


def _history_row(state, val_images, training, rank):
    """After a step: every ``log_every`` steps (and at the last) the history row of the mean loss
    since the last row, with a held-out evaluation every ``eval_every`` steps on rank 0; the
    row is appended to ``state['history']`` and returned. None between rows."""
    step = state["step"]
    if not (step % training["log_every"] == 0 or step == training["steps"]):
        return None
    row = {"step": step, "loss": state["accum"][0] / state["accum"][1], "lr": learning_rate(step, training)}
    state["accum"] = [0.0, 0]
    if rank == 0 and (step % training["eval_every"] == 0 or step == training["steps"]):
        row.update(evaluation_row(state["ema"].module, val_images, training))
    state["history"].append(row)
    return row


def _stop_requested(should_stop, world, device):
    """``should_stop()`` (False without one), true on every rank if true on any."""
    stop = bool(should_stop and should_stop())
    if world > 1:
        flag = torch.tensor(float(stop), device=device)
        dist.all_reduce(flag)
        stop = bool(flag > 0)
    return stop


def _checkpoint_due(step, training, stop):
    """A checkpoint every ``checkpoint_every`` steps, at the last step and when stopping."""
    return step % training["checkpoint_every"] == 0 or stop or step == training["steps"]


def train(state: dict, train_images: torch.Tensor, val_images: torch.Tensor, *,
          on_checkpoint: Optional[Callable[[dict], None]] = None,
          should_stop: Optional[Callable[[], bool]] = None, progress: bool = True,
          log: Optional[Callable[[str], None]] = None) -> dict:
    """Run (or continue) training until ``options.training.steps``; returns the state.

    ``train_images``/``val_images`` (n, C, N, N) in [0, 1] on CPU. Distributed when
    torch.distributed is initialised (each rank gets an equal slice of the global batch).
    ``on_checkpoint(state)`` is called on rank 0 every ``checkpoint_every`` steps, at the end, and
    when ``should_stop()`` turns true (then ``state['stopped']`` is True and training returns).
    ``log(line)`` (rank 0) gets one line every ``log_every`` steps (:func:`progress_line`); a
    tqdm bar is drawn only with ``progress`` and when standard error is a terminal.
    """
    training = state["options"]["training"]
    rank, world = _rank_world()
    prior = state["prior"].train()
    objective = _objective(prior, training, world)
    if state["step"] == 0 and rank == 0 and not state["history"]:
        state["history"].append({"step": 0, **evaluation_row(state["ema"].module, val_images, training)})
    bar = _progress_bar(state, training, progress, rank)
    start, start_step = time.perf_counter(), state["step"]
    state["stopped"] = False
    while state["step"] < training["steps"]:
        loss = train_step(objective, state, train_images, rank, world)
        state["accum"] = [state["accum"][0] + loss, state["accum"][1] + 1]
        bar.update(1)
        row = _history_row(state, val_images, training, rank)
        if row is not None:
            rate = (state["step"] - start_step) / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{row['loss']:.4f}", steps_per_s=f"{rate:.2f}")
            if log is not None and rank == 0:
                log(progress_line(row, training["steps"], rate))
        stop = _stop_requested(should_stop, world, next(prior.parameters()).device)
        if rank == 0 and on_checkpoint and _checkpoint_due(state["step"], training, stop):
            on_checkpoint(state)
        if stop:
            state["stopped"] = True
            break
    bar.close()
    return state


def describe(state: dict) -> str:
    """One line: parameter count and sampler of a training state (for logs)."""
    options = state["options"]
    return (f"{count_parameters(state['prior'])} parameters, sampler {options['sampler']}, "
            f"{options['training']['steps']} steps of batch {options['training']['batch']}")
