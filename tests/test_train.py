"""Training: the loss goes down on a tiny set, runs are deterministic, checkpoints resume exactly."""

import json

import pytest
import torch
import torch.nn.functional as F

from patchcore.priors.ema import ema_beta
from patchcore.io.checkpoint import export_prior, load_checkpoint, load_prior, save_checkpoint
from patchcore.priors.training import learning_rate, make_state, resolve_options, train

TINY_NET = {"model_channels": 8, "channel_mult": [1, 2], "num_blocks": 1, "attn_levels": [1],
            "head_channels": 16}


def images(n, seed, size=16):
    """Smooth random images in [0, 1] (n, 1, size, size)."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 1, 4, 4, generator=g), size=size, mode="bilinear",
                         align_corners=False).clamp(0, 1)


def options(steps=20, sampler=None, **training):
    base = {"steps": steps, "batch": 4, "lr": 0.01, "warmup_steps": 5, "ref_steps": 50,
            "log_every": 5, "eval_every": 10, "checkpoint_every": 10, "eval_images": 4,
            "eval_sigmas": [0.05, 0.5]}
    prior = {"network": TINY_NET, "training": {**base, **training},
             "sampler": sampler or {"mode": "whole"}}
    return resolve_options(prior, {}, {}, 16, 1)


def run(opts, n_steps=None, state=None):
    state = state or make_state(opts)
    train(state, images(8, 0), images(4, 1), progress=False)
    return state


def test_loss_decreases_on_tiny_set():
    state = run(options(steps=120, lr=0.02))
    history = state["history"]
    losses = [r["loss"] for r in history if r["step"] > 0]
    assert sum(losses[-4:]) / 4 < 0.6 * sum(losses[:2]) / 2
    assert history[-1]["val_nmse"] < 0.7 * history[0]["val_nmse"]


@pytest.mark.parametrize("sampler", [{"mode": "whole"},
                                     {"mode": "padis", "sizes": [4, 8], "coord_pad": 4}])
def test_same_seed_same_weights(sampler):
    a = run(options(sampler=sampler))["ema"].module.state_dict()
    b = run(options(sampler=sampler))["ema"].module.state_dict()
    c = run(options(sampler=sampler, seed=1))["ema"].module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_checkpoint_resume_in_process_is_bitwise(tmp_path):
    straight = run(options(steps=20))
    first = make_state(options(steps=20))
    first["options"]["training"]["steps"] = 10  # stop half-way (options compared below)
    run(None, state=first)
    first["options"]["training"]["steps"] = 20
    save_checkpoint(tmp_path, first)
    resumed = make_state(options(steps=20))
    assert load_checkpoint(tmp_path, resumed) and resumed["step"] == 10
    run(None, state=resumed)
    for key, value in straight["prior"].state_dict().items():
        assert torch.equal(value, resumed["prior"].state_dict()[key]), key
    for key, value in straight["ema"].module.state_dict().items():
        assert torch.equal(value, resumed["ema"].module.state_dict()[key]), key
    assert straight["history"] == resumed["history"]


def test_checkpoint_with_other_options_is_refused(tmp_path):
    state = make_state(options(steps=4))
    save_checkpoint(tmp_path, state)
    with pytest.raises(ValueError, match="different options"):
        load_checkpoint(tmp_path, make_state(options(steps=4, lr=0.5)))
    assert not load_checkpoint(tmp_path / "none", make_state(options(steps=4)))


def test_export_and_load_prior(tmp_path):
    state = run(options(steps=5, sampler={"mode": "padis", "sizes": [8], "coord_pad": 4}))
    export_prior(tmp_path, state["ema"].module, state["options"], state["step"], "abc")
    prior = load_prior(tmp_path)
    record = json.loads((tmp_path / "options.json").read_text())
    assert record["step"] == 5 and record["data_sha256"] == "abc" and record["code_version"]
    assert prior.coord_channels == 2 and prior.coord_pad == 4 and not prior.training
    x, coords = torch.rand(2, 1, 16, 16), torch.zeros(2, 16, 16)
    with torch.no_grad():
        assert torch.equal(prior(x, 0.1, coords), state["ema"].module.eval()(x, 0.1, coords))
    (tmp_path / "options.json").write_text("{}")
    with pytest.raises(ValueError, match="options.json"):
        load_prior(tmp_path)


def test_learning_rate_schedule():
    t = {"lr": 0.01, "warmup_steps": 10, "ref_steps": 100, "lr_schedule": "invsqrt"}
    assert learning_rate(5, t) == pytest.approx(0.005)
    assert learning_rate(50, t) == pytest.approx(0.01)
    assert learning_rate(400, t) == pytest.approx(0.005)
    assert learning_rate(400, {**t, "lr_schedule": "constant"}) == pytest.approx(0.01)


def test_power_ema_starts_from_the_weights_and_slows_down():
    opts = {"kind": "power", "std": 0.1}
    assert ema_beta(1, opts) == 0.0
    assert 0 < ema_beta(10, opts) < ema_beta(1000, opts) < 1


def test_unknown_keys_are_named():
    with pytest.raises(KeyError, match="stpes"):
        resolve_options({"network": TINY_NET, "training": {"stpes": 3}}, {}, {}, 16, 1)
    with pytest.raises(KeyError, match="training preset 'nope'"):
        resolve_options({"network": TINY_NET, "training": "nope"}, {}, {}, 16, 1)
