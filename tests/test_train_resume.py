"""A real training process killed mid-run (SIGKILL or SIGTERM) and resumed ends with exactly the
weights of an uninterrupted run (CPU, one thread: bitwise). Everything random in a step is drawn
from a generator seeded by (seed, step) and the checkpoint holds weights, EMA and Adam state, so
nothing depends on where the run was cut."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

pytest.importorskip("patchcore.io.prepared")

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "workflow_scripts" / "train.py"
STEPS = 100


def make_data(path):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for split, n in (("train", 12), ("val", 4), ("test", 2)):
            coarse = rng.random((n, 1, 4, 4)).astype(np.float32)
            f[split] = np.kron(coarse, np.ones((1, 1, 4, 4), np.float32))
        f.attrs["image_size"] = 16


def make_spec(tmp_path, name):
    spec = {
        "inputs": [str(tmp_path / "data.h5")],
        "outdir": str(tmp_path / name),
        "log": str(tmp_path / f"{name}.log"),
        "threads": 1,
        "progress": False,
        "prior": {
            "network": {"model_channels": 8, "channel_mult": [1, 2], "attn_levels": [1], "head_channels": 16},
            "training": {"steps": STEPS, "batch": 4, "warmup_steps": 5, "ref_steps": 40, "log_every": 5,
                         "eval_every": 20, "checkpoint_every": 10, "eval_images": 4},
            "sampler": {"mode": "padis", "sizes": [8, 16], "probs": [0.5, 0.5], "coord_pad": 4},
        },
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def command(spec_path):
    return [sys.executable, str(SCRIPT), "--spec", str(spec_path)]


def env():
    return {**os.environ, "PATCHCORE_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}


def interrupted_run(spec_path, outdir, sig):
    """Start training, send ``sig`` once a checkpoint exists, return (returncode, step at kill)."""
    proc = subprocess.Popen(command(spec_path), env=env())
    pointer = outdir / "checkpoints" / "latest.json"
    while not pointer.exists() and proc.poll() is None:  # no deadline: start-up may be slow under load
        time.sleep(0.01)
    assert proc.poll() is None, "training ended before a checkpoint was seen"
    proc.send_signal(sig)
    code = proc.wait()
    return code, json.loads(pointer.read_text())["step"]


def weights(outdir):
    return load_file(str(outdir / "model.safetensors"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("reference")
    make_data(tmp_path / "data.h5")
    subprocess.run(command(make_spec(tmp_path, "straight")), env=env(), check=True)
    return tmp_path / "straight"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_and_resumed_run_equals_uninterrupted(tmp_path, reference, sig):
    make_data(tmp_path / "data.h5")
    spec = make_spec(tmp_path, "cut")
    outdir = tmp_path / "cut"
    code, step = interrupted_run(spec, outdir, sig)
    # Really cut mid-run: no final outputs, an early checkpoint.
    assert not (outdir / "model.safetensors").exists()
    assert 0 < step < STEPS
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 143)
    subprocess.run(command(spec), env=env(), check=True)
    assert "resumed at step" in (tmp_path / "cut.log").read_text()
    expect, got = weights(reference), weights(outdir)
    assert expect.keys() == got.keys()
    for key in expect:
        assert np.array_equal(expect[key], got[key]), key
    pd.testing.assert_frame_equal(pd.read_csv(reference / "training.csv"), pd.read_csv(outdir / "training.csv"))
    assert (outdir / "training.png").stat().st_size > 0
