"""Training checkpoints and the exported prior.

Checkpoint folder (``results/priors/{group}/{prior}/checkpoints/``), one set per saved step:
``step-XXXXXXXX.safetensors`` (model and EMA weights), ``step-XXXXXXXX.pt`` (Adam state and
RNG states; torch.save, read back with ``weights_only=True``), ``step-XXXXXXXX.json`` (step,
history, options) and ``latest.json`` naming the newest complete set. Every file is written
atomically and ``latest.json`` last, so a job killed at any moment leaves the previous
checkpoint usable.

Export: ``model.safetensors`` (EMA weights of :class:`patchcore.priors.prior.Prior`) and
``options.json`` (resolved options, step count, data hash, code version); :func:`load_prior`
reads them back.
"""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import patchcore
from patchcore.io.atomic import atomic_path, write_text
from patchcore.priors.prior import Prior

# 2: the network of patchcore.priors.network as rewritten from the EDM2 paper (issue 15); files of
# format 1 hold the previous network layout, whose parameter names differ: retrain.
FORMAT = 2
OLD_LAYOUT_FORMATS = {1}


def _check_format(path, found):
    """Raise ValueError naming ``path`` unless ``found`` (the file's format) is :data:`FORMAT`."""
    found = None if found is None else int(found)
    if found in OLD_LAYOUT_FORMATS:
        raise ValueError(f"{path}: written by the old network layout (format {found}, before "
                         f"patchcore.priors.network was rewritten); its weights cannot be loaded into "
                         f"the current network: retrain the prior")
    if found != FORMAT:
        raise ValueError(f"{path}: checkpoint format {found}, this code reads format {FORMAT}")


def _canonical(obj):
    return json.loads(json.dumps(obj))


def _tensors(module, prefix):
    return {prefix + k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _strip(tensors, prefix, device):
    return {k[len(prefix):]: v.to(device) for k, v in tensors.items() if k.startswith(prefix)}


def save_checkpoint(directory: Union[str, Path], state: dict, keep: int = 2) -> None:
    """Write ``state`` (see :func:`patchcore.priors.training.make_state`) as a checkpoint; keep the newest ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"step-{state['step']:08d}"
    with atomic_path(directory / f"{stem}.safetensors") as tmp:
        save_file({**_tensors(state["prior"], "model."), **_tensors(state["ema"].module, "ema.")}, str(tmp))
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    with atomic_path(directory / f"{stem}.pt") as tmp:
        torch.save({"optimizer": state["optimizer"].state_dict(), "rng": rng}, tmp)
    meta = {"format": FORMAT, "step": state["step"], "history": state["history"],
            "accum": state["accum"], "options": state["options"]}
    write_text(directory / f"{stem}.json", json.dumps(meta, indent=1))
    write_text(directory / "latest.json", json.dumps({"step": state["step"], "stem": stem}))
    for old in sorted(directory.glob("step-*.json"))[:-keep]:
        for suffix in (".json", ".safetensors", ".pt"):
            old.with_suffix(suffix).unlink(missing_ok=True)


def load_checkpoint(directory: Union[str, Path], state: dict) -> bool:
    """Restore the newest checkpoint of ``directory`` into ``state`` (in place); returns True if one
    was found, False if there is none. Raises ValueError if it was written with other options."""
    directory = Path(directory)
    pointer = directory / "latest.json"
    if not pointer.exists():
        return False
    stem = json.loads(pointer.read_text())["stem"]
    meta_path = directory / f"{stem}.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{meta_path}: unreadable checkpoint metadata ({err})") from err
    try:
        _check_format(meta_path, meta.get("format"))
    except ValueError as err:
        raise ValueError(f"{err}; delete {directory} to start afresh") from None
    if _canonical(meta["options"]) != _canonical(state["options"]):
        raise ValueError(f"{meta_path}: checkpoint was written with different options; delete "
                         f"{directory} to start afresh")
    device = next(state["prior"].parameters()).device
    tensors = load_file(str(directory / f"{stem}.safetensors"))
    state["prior"].load_state_dict(_strip(tensors, "model.", device))
    state["ema"].module.load_state_dict(_strip(tensors, "ema.", device))
    extra = torch.load(directory / f"{stem}.pt", map_location="cpu", weights_only=True)
    state["optimizer"].load_state_dict(extra["optimizer"])
    torch.set_rng_state(extra["rng"]["torch"])
    if "cuda" in extra["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(extra["rng"]["cuda"])
    state["step"], state["history"], state["accum"] = meta["step"], meta["history"], meta["accum"]
    return True


def resume(directory: Union[str, Path], state: dict) -> tuple[bool, Optional[ValueError]]:
    """:func:`load_checkpoint`, except that a checkpoint written with other options (or an old
    format) is not an error: returns ``(resumed, stale)`` with ``stale`` the reason it was not
    used (then ``state`` is untouched), else None."""
    try:
        return load_checkpoint(directory, state), None
    except ValueError as err:
        return False, err


def set_aside(directory: Union[str, Path]) -> Path:
    """Move a stale checkpoint folder to ``<name>-stale`` beside it (replacing an older one);
    returns the new path."""
    directory = Path(directory)
    target = directory.with_name(f"{directory.name}-stale")
    shutil.rmtree(target, ignore_errors=True)
    directory.rename(target)
    return target


def code_version() -> str:
    """``patchcore.__version__`` plus ``git describe`` of the source tree when available."""
    version = patchcore.__version__
    try:
        described = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"],
                                   cwd=Path(patchcore.__file__).parent, capture_output=True,
                                   text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    return f"{version}+{described}" if described else version


def files_sha256(paths: Sequence[Union[str, Path]]) -> str:
    """SHA-256 over the contents of ``paths`` (in the given order), hex."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def export_prior(directory: Union[str, Path], prior: Prior, options: dict, step: int, data_hash: str,
                 extra: Optional[dict] = None) -> None:
    """Write ``model.safetensors`` (the weights of ``prior``) and ``options.json`` into ``directory``.

    ``options`` are the resolved training options (:func:`patchcore.priors.training.resolve_options`).
    """
    directory = Path(directory)
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(_tensors(prior, ""), str(tmp), metadata={"format": str(FORMAT)})
    record = {"prior": prior.options, "options": options, "step": step, "data_sha256": data_hash,
              "code_version": code_version(), **(extra or {})}
    write_text(directory / "options.json", json.dumps(_canonical(record), indent=1))


def load_prior(directory: Union[str, Path], device: Union[str, torch.device] = "cpu") -> Prior:
    """The exported :class:`patchcore.priors.prior.Prior` of ``directory`` (eval mode, on ``device``)."""
    directory = Path(directory)
    options_path, weights_path = directory / "options.json", directory / "model.safetensors"
    for path in (options_path, weights_path):
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing (train the prior first)")
    try:
        record = json.loads(options_path.read_text())
        prior = Prior.from_options(record["prior"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{options_path}: not a prior's options ({err})") from err
    with safe_open(str(weights_path), "pt") as handle:
        _check_format(weights_path, (handle.metadata() or {}).get("format"))
    try:
        prior.load_state_dict(load_file(str(weights_path)))
    except RuntimeError as err:
        raise ValueError(f"{weights_path}: weights do not match {options_path} ({err})") from err
    return prior.to(device).eval()
