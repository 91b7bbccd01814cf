"""Reading external priors: a diffusers model folder, or a factory plus a safetensors file.

Only safetensors weights are read; pickle files (``.bin``, ``.pt``, ``.pth``, ``.ckpt``,
``.pkl``) are refused with the command that converts them. Every file read is hashed
(SHA-256) as it is read, and :func:`provenance` returns what a cell records about its prior:
paths, hashes, schedule, prediction type, image range, timesteps, valid sigma range.

A diffusers folder is either a ``UNet2DModel`` folder written by ``save_pretrained``
(``config.json``, ``diffusion_pytorch_model.safetensors`` or its sharded ``.index.json``) or
a pipeline folder holding one in ``unet/`` (or in ``subfolder``). The noise schedule and
prediction type come from ``scheduler/scheduler_config.json`` (or a ``scheduler_config.json``
in the model folder or the given folder) unless the config states them.
"""

import hashlib
import json
import sys
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from patchcore.plugins import import_object
from patchcore.priors.external import (VPDenoiser, check_prior, check_unet_config, config_size_multiple,
                                       default_timestep, schedule_from_config, unet_size_multiple)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
WEIGHTS = "diffusion_pytorch_model.safetensors"
INDEX = WEIGHTS + ".index.json"
PathLike = Union[str, Path]


def file_sha256(path: PathLike) -> str:
    """SHA-256 (hex) of the contents of ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pickle_message(path: PathLike, diffusers_folder: bool = True) -> str:
    """Why ``path`` (a pickle file) is refused and the command converting it to safetensors."""
    path = Path(path)
    if diffusers_folder:
        how = (f"python -c \"from diffusers import UNet2DModel; UNet2DModel.from_pretrained('{path.parent}', "
               f"use_safetensors=False).save_pretrained('{path.parent}', safe_serialization=True)\" "
               f"(writes {WEIGHTS} beside it)")
    else:
        how = (f"python -c \"import torch; from safetensors.torch import save_file; save_file(torch.load("
               f"'{path}', map_location='cpu', weights_only=True), '{path.with_suffix('.safetensors')}')\" "
               f"(for a file holding a plain state dict of tensors)")
    return (f"{path}: pickle weights ({path.suffix}) are refused, since loading a pickle can run arbitrary "
            f"code. Convert them once to safetensors, in an environment you trust: {how}")


def _read_json(path: Path, files: dict, where: str) -> dict:
    """Parse the JSON file ``path`` and record its SHA-256 in ``files``."""
    data = path.read_bytes()
    files[str(path.resolve())] = hashlib.sha256(data).hexdigest()
    try:
        return json.loads(data)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: {path}: not valid JSON ({err})") from None


def _load_state(module: nn.Module, paths: Sequence[Path], files: dict, where: str) -> None:
    """Load the safetensors files ``paths`` into ``module`` strictly; record their SHA-256."""
    state = {}
    for path in paths:
        files[str(path.resolve())] = file_sha256(path)
        try:
            state.update(load_file(str(path)))
        except (SafetensorError, OSError) as err:
            raise ValueError(f"{where}: {path}: not a readable safetensors file ({err})") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:600]
        raise ValueError(f"{where}: the weights in {[str(p) for p in paths]} do not match the network "
                         f"({detail})") from None


def _unet_folder(root: Path, subfolder: Optional[str], where: str) -> Path:
    """The folder holding the network's ``config.json`` (``root``, ``root/subfolder`` or ``root/unet``)."""
    if root.is_file():
        if root.suffix in PICKLE_SUFFIXES:
            raise ValueError(f"{where}.path: " + pickle_message(root))
        raise ValueError(f"{where}.path: {root} is a file; give the model folder (config.json and {WEIGHTS})")
    if not root.is_dir():
        raise FileNotFoundError(f"{where}.path: {root} does not exist")
    folder = root / subfolder if subfolder else root
    if not subfolder and not (root / "config.json").exists() and (root / "unet" / "config.json").exists():
        folder = root / "unet"
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{where}.path: no config.json in {folder}; expected a UNet2DModel folder "
                                f"written by save_pretrained, or a pipeline folder with unet/")
    return folder


def _weight_files(folder: Path, files: dict, where: str) -> list[Path]:
    """The safetensors file(s) of the network in ``folder``; pickles refused with the way out."""
    if (folder / WEIGHTS).exists():
        return [folder / WEIGHTS]
    if (folder / INDEX).exists():
        index = _read_json(folder / INDEX, files, where)
        return sorted({folder / shard for shard in index["weight_map"].values()})
    pickles = sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ValueError(f"{where}: " + pickle_message(pickles[0]))
    others = sorted(p.name for p in folder.glob("*.safetensors"))
    hint = f" (found {others}: name the one to use {WEIGHTS})" if others else ""
    raise FileNotFoundError(f"{where}: no {WEIGHTS} in {folder}{hint}")


def _scheduler_config(root: Path, folder: Path, files: dict, where: str) -> Optional[dict]:
    """The first scheduler config of ``root/scheduler/``, ``folder``, ``root``; None if there is none."""
    for path in (root / "scheduler" / "scheduler_config.json", folder / "scheduler_config.json",
                 root / "scheduler_config.json"):
        if path.exists():
            return _read_json(path, files, where)
    return None


def diffusers_inputs(path: PathLike, *, subfolder: Optional[str] = None, schedule: Optional[dict] = None,
                     prediction_type: Optional[str] = None, name: str = "prior") -> dict:
    """What :func:`load_diffusers_prior` with these arguments will read, without building the
    network (a start-up check; Snakemake inputs): ``{"files": [paths], "channels": C,
    "size_multiple": m}``. Raises the loader's errors for the layout, pickles and the network config."""
    where = f"priors.{name}"
    root = Path(path).expanduser()
    folder = _unet_folder(root, subfolder, where)
    files: dict = {}
    config = _read_json(folder / "config.json", files, where)
    channels = check_unet_config(config, where)
    weights = _weight_files(folder, files, where)
    if schedule is None or prediction_type is None:
        _scheduler_config(root, folder, files, where)
    return {"files": sorted(set(files) | {str(w.resolve()) for w in weights}), "channels": channels,
            "size_multiple": config_size_multiple(config)}


def build_unet(config: dict, where: str) -> nn.Module:
    """A diffusers ``UNet2DModel`` from its ``config.json`` contents (random weights)."""
    try:
        from diffusers import UNet2DModel
    except ImportError as err:
        raise ImportError(f"{where}: reading a diffusers model needs the diffusers package "
                          f"(pinned in requirements.lock; run make env)") from err
    return UNet2DModel.from_config(dict(config))


def _diffusers_record(root: Path, files: dict, config: dict, prior: VPDenoiser, schedule: dict) -> dict:
    """Provenance of a diffusers prior (see :func:`provenance`)."""
    import diffusers

    return {"kind": "diffusers", "path": str(root.resolve()), "files": dict(files),
            "network": {"class": "UNet2DModel", "sample_size": config.get("sample_size"),
                        "channels": prior.channels, "size_multiple": prior.size_multiple,
                        "parameters": sum(p.numel() for p in prior.net.parameters())},
            "schedule": schedule, "prediction_type": prior.prediction_type,
            "image_range": [prior.lo, prior.hi],
            "timesteps": {"num_train_timesteps": prior.num_train_timesteps,
                          "valid": [0, prior.num_train_timesteps - 1], "between": prior.timestep},
            "sigma_range": [prior.sigma_min, prior.sigma_max], "out_of_range": prior.out_of_range,
            "diffusers_version": diffusers.__version__}


def load_diffusers_prior(path: PathLike, *, schedule: Optional[dict] = None,
                         prediction_type: Optional[str] = None,
                         image_range: Sequence[float] = (-1.0, 1.0), subfolder: Optional[str] = None,
                         timestep: Optional[str] = None, out_of_range: str = "clamp", name: str = "prior",
                         device: Union[str, torch.device] = "cpu") -> VPDenoiser:
    """A diffusers ``UNet2DModel`` folder as a :class:`patchcore.priors.external.VPDenoiser`.

    ``schedule``: a scheduler-config-like dict (``beta_schedule``, ``beta_start``, ``beta_end``,
    ``num_train_timesteps`` or ``trained_betas``), default the folder's scheduler config;
    ``prediction_type`` default the scheduler config's, else ``epsilon`` (as diffusers);
    ``timestep`` default ``continuous`` (``nearest`` for a learned time embedding). Errors name
    ``priors.<name>``. The result carries its provenance (:func:`provenance`), eval mode.
    """
    where = f"priors.{name}"
    root = Path(path).expanduser()
    folder = _unet_folder(root, subfolder, where)
    files: dict = {}
    config = _read_json(folder / "config.json", files, where)
    channels = check_unet_config(config, where)
    weights = _weight_files(folder, files, where)
    scheduler = None
    if schedule is None or prediction_type is None:
        scheduler = _scheduler_config(root, folder, files, where)
    if schedule is None and scheduler is None:
        raise FileNotFoundError(f"{where}: no scheduler_config.json in {root}/scheduler, {folder} or {root}; "
                                f"state the training schedule in config, e.g. schedule: {{beta_schedule: "
                                f"linear, beta_start: 0.0001, beta_end: 0.02, num_train_timesteps: 1000}}")
    betas, record = schedule_from_config(schedule if schedule is not None else scheduler, f"{where}.schedule")
    prediction_type = prediction_type or (scheduler or {}).get("prediction_type", "epsilon")
    net = build_unet(config, where)
    _load_state(net, weights, files, where)
    prior = VPDenoiser(net, betas, prediction_type, image_range, channels,
                       timestep or default_timestep(config), out_of_range, name, unet_size_multiple(net))
    prior.external_provenance = _diffusers_record(root, files, config, prior, record)
    return prior.to(device).eval()


def _weights_path(weights: PathLike, where: str) -> Path:
    """``weights`` as a Path to an existing ``.safetensors`` file; pickles refused."""
    path = Path(weights).expanduser()
    if path.suffix in PICKLE_SUFFIXES:
        raise ValueError(f"{where}: " + pickle_message(path, diffusers_folder=False))
    if path.suffix != ".safetensors":
        raise ValueError(f"{where}: {path}: weights must be a .safetensors file")
    if not path.is_file():
        raise FileNotFoundError(f"{where}: {path} does not exist")
    return path


def _source_file(spec: str) -> Optional[Path]:
    """The source file of the module of ``spec`` (``package.module:function``), if it has one."""
    module = sys.modules.get(spec.split(":")[0])
    source = getattr(module, "__file__", None)
    return Path(source) if source and Path(source).is_file() else None


def load_factory_prior(factory: str, weights: PathLike, *, kwargs: Optional[dict] = None,
                       name: str = "prior", device: Union[str, torch.device] = "cpu") -> nn.Module:
    """The module returned by ``factory`` (``'package.module:function'``, called with ``kwargs``)
    with the safetensors ``weights`` loaded strictly; errors name ``priors.<name>.factory`` /
    ``.weights``. The module must have the prior contract
    (:func:`patchcore.priors.external.check_prior`). The result carries its provenance, eval mode.
    """
    where = f"priors.{name}"
    path = _weights_path(weights, f"{where}.weights")
    fn = import_object(factory, f"{where}.factory")
    if not callable(fn):
        raise TypeError(f"{where}.factory: {factory!r} is a {type(fn).__name__}, not a function returning a module")
    kwargs = dict(kwargs or {})
    try:
        prior = fn(**kwargs)
    except TypeError as err:
        raise TypeError(f"{where}.factory: calling {factory}(**{kwargs}) failed ({err}); check {where}.kwargs") from err
    check_prior(prior, f"{where}.factory ({factory!r})")
    files: dict = {}
    _load_state(prior, [path], files, f"{where}.weights")
    source = _source_file(factory)
    if source is not None:
        files[str(source.resolve())] = file_sha256(source)
    prior.external_provenance = {
        "kind": "factory", "factory": factory, "kwargs": kwargs, "weights": str(path.resolve()),
        "files": files, "channels": int(prior.channels), "coord_channels": int(prior.coord_channels),
        "coord_pad": int(prior.coord_pad), "size_multiple": getattr(prior, "size_multiple", None),
        "parameters": sum(p.numel() for p in prior.parameters())}
    return prior.to(device).eval()


def provenance(prior: nn.Module) -> dict:
    """What a cell records about an external prior (JSON-ready): ``kind``, path(s), ``files``
    (absolute path -> SHA-256 of every file read to build it, the factory's source included),
    and for a diffusers prior its schedule, prediction type, image range, timesteps and valid
    sigma range on the [0, 1] scale."""
    record = getattr(prior, "external_provenance", None)
    if record is None:
        raise ValueError(f"{type(prior).__name__} is not an external prior (load it with "
                         f"load_diffusers_prior or load_factory_prior)")
    return json.loads(json.dumps(record))
