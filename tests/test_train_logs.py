"""Training logs a person can read: one line every ``log_every`` steps, no progress-bar refreshes
(carriage returns) in a log file or a non-terminal standard error."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from patchcore.priors.training import make_state, resolve_options, train

ROOT = Path(__file__).resolve().parents[1]
STEP_LINE = re.compile(r"step (\d+)/(\d+): loss [0-9.]+, lr [0-9.e-]+, [0-9.]+ steps/s")
TINY_NET = {"model_channels": 8, "channel_mult": [1, 2], "attn_levels": [1], "head_channels": 16}
TRAINING = {"steps": 20, "batch": 4, "warmup_steps": 5, "ref_steps": 10, "log_every": 5, "eval_every": 10,
            "checkpoint_every": 20, "eval_images": 4}


def test_one_line_every_log_every_steps_and_no_bar_off_a_terminal(capsys):
    lines = []
    state = make_state(resolve_options({"network": TINY_NET, "training": TRAINING}, {}, {}, 16, 1))
    g = torch.Generator().manual_seed(0)
    train(state, torch.rand(8, 1, 16, 16, generator=g), torch.rand(4, 1, 16, 16, generator=g), progress=True,
          log=lines.append)  # stderr is captured: no terminal
    assert [int(STEP_LINE.match(line).group(1)) for line in lines] == [5, 10, 15, 20]
    assert ["held-out nmse" in line for line in lines] == [False, True, False, True]
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err and "step/s" not in err


@pytest.mark.slow
def test_training_log_file_has_one_line_per_log_every_steps(tmp_path):
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "data.h5", "w") as f:
        for split, n in (("train", 8), ("val", 4)):
            f[split] = np.kron(rng.random((n, 1, 4, 4)), np.ones((1, 1, 4, 4))).astype(np.float32)
    spec = {"inputs": [str(tmp_path / "data.h5")], "outdir": str(tmp_path / "prior"),
            "log": str(tmp_path / "train.log"), "threads": 1,
            "prior": {"network": TINY_NET,
                      "training": {**TRAINING, "steps": 30, "log_every": 6, "eval_every": 12, "checkpoint_every": 30}}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    subprocess.run([sys.executable, str(ROOT / "workflow_scripts" / "train.py"), "--spec", str(tmp_path / "spec.json")],
                   check=True, capture_output=True, env={**os.environ, "PATCHCORE_DEVICE": "cpu"})
    text = (tmp_path / "train.log").read_bytes().decode()  # read_text() would turn "\r" into "\n"
    assert "\r" not in text
    steps = [int(m.group(1)) for m in STEP_LINE.finditer(text)]
    assert steps == [6, 12, 18, 24, 30]
    assert all(STEP_LINE.search(line) for line in text.splitlines() if " step " in line and "/30:" in line)
    assert "done: 30 steps" in text
