"""Shared test set-up: tests run from the repository root, single-threaded torch."""

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    os.environ.setdefault("PATCHCORE_DEVICE", "cpu")
