"""Two gloo processes sharing one global batch train like one process.

Both ranks draw the same global batch from the step's generator and take one half each; DDP
averages the two half-batch gradients, which equals the full-batch mean gradient up to float
rounding (summation order): measured on CPU, logged losses agree to ~1e-7 relative and final
weights to ~1e-6 absolute after 20 steps. We assert 1e-5 on both (weights are unit-norm rows,
so absolute is relative), loose enough for other BLAS builds, tight enough to catch a wrong
split, a missing gradient average or ranks drawing different batches (all >= 1e-3).
"""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from patchcore.priors.training import make_state, resolve_options, train

pytestmark = pytest.mark.slow

OPTIONS = {
    "network": {"model_channels": 8, "channel_mult": [1, 2], "attn_levels": [1], "head_channels": 16},
    "training": {"steps": 20, "batch": 4, "warmup_steps": 2, "ref_steps": 10, "log_every": 2,
                 "eval_every": 10, "checkpoint_every": 100, "eval_images": 2},
    "sampler": {"mode": "padis", "sizes": [8, 16], "probs": [0.5, 0.5], "coord_pad": 4},
}

WORKER = """
import json, sys, torch, torch.distributed as dist
import torch.nn.functional as F
from patchcore.priors.training import make_state, resolve_options, train
torch.set_num_threads(1)
dist.init_process_group("gloo")
opts = resolve_options(json.loads(sys.argv[1]), {}, {}, 16, 1)
g = torch.Generator().manual_seed(0)
imgs = F.interpolate(torch.rand(10, 1, 4, 4, generator=g), size=16, mode="bilinear").clamp(0, 1)
state = make_state(opts)
train(state, imgs[:8], imgs[8:], progress=False)
if dist.get_rank() == 0:
    torch.save({"history": state["history"], "weights": state["prior"].state_dict()}, sys.argv[2])
dist.destroy_process_group()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def single_process():
    g = torch.Generator().manual_seed(0)
    import torch.nn.functional as F
    imgs = F.interpolate(torch.rand(10, 1, 4, 4, generator=g), size=16, mode="bilinear").clamp(0, 1)
    state = make_state(resolve_options(OPTIONS, {}, {}, 16, 1))
    train(state, imgs[:8], imgs[8:], progress=False)
    return state


def test_two_ranks_match_one(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "rank0.pt"
    port = str(free_port())
    procs = []
    for rank in range(2):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "RANK": str(rank),
               "WORLD_SIZE": "2", "LOCAL_RANK": str(rank), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, str(script), json.dumps(OPTIONS), str(out)], env=env))
    assert [p.wait() for p in procs] == [0, 0]  # pytest's timeout catches a hang
    two = torch.load(out, weights_only=True)
    one = single_process()
    losses_one = torch.tensor([r["loss"] for r in one["history"] if "loss" in r])
    losses_two = torch.tensor([r["loss"] for r in two["history"] if "loss" in r])
    assert len(losses_one) == len(losses_two) == 10
    assert torch.allclose(losses_one, losses_two, rtol=1e-5, atol=0)
    for key, value in one["prior"].state_dict().items():
        assert torch.allclose(value, two["weights"][key], atol=1e-5, rtol=0), key
