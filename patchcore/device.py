"""Device selection shared by the workflow scripts."""

import os

import torch


def select_device(preferred=None):
    """``preferred`` if given, else $PATCHCORE_DEVICE, else CUDA when available, else CPU."""
    name = preferred or os.environ.get("PATCHCORE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
