"""Fetch the AlexNet weights that LPIPS needs into the torch hub cache (``$TORCH_HOME``).

Run on a machine with network access (e.g. a cluster login node)::

    python -m patchcore.io.weights            # download, then print where the file is
    python -m patchcore.io.weights --dry-run  # only print where it would go and if it is there

``lpips`` ships its linear layers in its wheel; the AlexNet trunk comes from torchvision's
checkpoint ``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth``. Without it,
:func:`patchcore.inverse.metrics.lpips` reports NaN.
"""

from typing import Optional, Union
from pathlib import Path
import argparse
import json
import sys

from patchcore.inverse.metrics import alexnet_weights_path


def read_alexnet_features(path: Union[str, Path]) -> dict:
    """The convolutional trunk (``features.*``) of a torchvision AlexNet checkpoint file.

    Returns the state dict of ``torchvision.models.alexnet().features`` (keys without the
    ``features.`` prefix); the classifier, which LPIPS does not use, may be absent from the file.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated downloads raise various errors; name the file
        raise ValueError(f"{path}: not a readable torch checkpoint ({err})") from err
    features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise ValueError(f"{path}: no 'features.*' tensors; not a torchvision AlexNet checkpoint")
    return features


def fetch_alexnet() -> Path:
    """Download the torchvision AlexNet ImageNet weights into the hub cache; return the path."""
    import torchvision

    torchvision.models.alexnet(weights=torchvision.models.AlexNet_Weights.IMAGENET1K_V1)
    path = alexnet_weights_path()
    if not path.is_file():
        raise FileNotFoundError(f"download finished but {path} is missing (torchvision changed its file name?)")
    return path


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="only report the target path and whether it exists")
    args = parser.parse_args(argv)
    path = alexnet_weights_path()
    if not args.dry_run and not path.is_file():
        try:
            path = fetch_alexnet()
        except Exception as err:  # network errors come in many types; report and fail clearly
            print(f"could not fetch AlexNet weights into {path}: {err}", file=sys.stderr)
            return 1
    print(json.dumps({"alexnet_weights": str(path), "present": path.is_file()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
