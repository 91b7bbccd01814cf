"""The magnitude-preserving UNet, checked against the properties EDM2 (Karras et al. 2024) states:
at initialisation every magnitude-preserving layer maps unit-RMS input to unit-RMS output, and
so does the whole network at every noise level; plus shapes, extra channels, the eval-mode
weight cache, the attention's memory, and checkpoints of the old network layout."""

import json

import pytest
import torch
from safetensors.torch import save_file

from patchcore.io.checkpoint import export_prior, load_checkpoint, load_prior, save_checkpoint
from patchcore.priors.network import (NETWORK_PRESETS, CosineAttention, FourierFeatures, Gain, ResBlock,
                               UnitConv, blend, build_network, count_parameters, join_channels,
                               norm_pixels, silu_unit, unit_rms)
from patchcore.priors.precond import edm_coefficients
from patchcore.priors.prior import Prior

TINY = {"model_channels": 8, "channel_mult": [1, 2, 2], "num_blocks": 1, "attn_levels": [2],
        "head_channels": 8}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def unit(shape, seed=0):
    return torch.randn(shape, generator=gen(seed))


def rms(x):
    return float(x.detach().square().mean().sqrt())


def reset_all(module, seed):
    generator = gen(seed)
    for m in module.modules():
        if isinstance(m, (UnitConv, FourierFeatures, Gain)):
            m.reset(generator)
    return module


# ---- per layer: unit-RMS in, unit-RMS out at initialisation ----


def test_silu_unit_preserves_unit_rms():
    assert rms(silu_unit(unit((200000,), 1))) == pytest.approx(1, abs=0.01)
    assert rms(torch.nn.functional.silu(unit((200000,), 1))) < 0.65  # what the rescaling corrects


@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 0.8, 1.0])
def test_blend_preserves_unit_rms(t):
    a, b = unit((200000,), 1), unit((200000,), 2)
    assert rms(blend(a, b, t)) == pytest.approx(1, abs=0.01)
    assert torch.allclose(blend(a, b, 0.0), a) and torch.allclose(blend(a, b, 1.0), b)


@pytest.mark.parametrize("t", [0.3, 0.5, 0.7])
def test_join_channels_preserves_unit_rms_and_balance(t):
    a, b = unit((100, 24, 8, 8), 3), unit((100, 8, 8, 8), 4)
    c = join_channels(a, b, t)
    assert c.shape == (100, 32, 8, 8)
    assert rms(c) == pytest.approx(1, abs=0.01)
    # The parts' shares of the output energy are (1-t)^2 : t^2 whatever their channel counts.
    energy_a, energy_b = c[:, :24].square().sum(), c[:, 24:].square().sum()
    assert float(energy_a / energy_b) == pytest.approx((1 - t) ** 2 / t ** 2, rel=0.03)


def test_norm_pixels_gives_unit_rms_at_every_pixel():
    x = unit((4, 16, 8, 8), 5) * torch.linspace(0.5, 10, 64).reshape(1, 1, 8, 8)
    per_pixel = norm_pixels(x).square().mean(1).sqrt()
    assert torch.allclose(per_pixel, torch.ones_like(per_pixel), atol=1e-3)


def test_fourier_features_have_unit_rms():
    fourier = FourierFeatures(256)
    fourier.reset(gen(6))
    c_noise = torch.log(torch.exp(torch.linspace(-6, 4, 64))) / 4  # a range of noise levels
    assert rms(fourier(c_noise)) == pytest.approx(1, abs=0.05)


@pytest.mark.parametrize("kernel", [0, 1, 3])
def test_unit_conv_preserves_unit_rms(kernel):
    conv = UnitConv(64, 48, kernel)
    conv.reset(gen(5))
    x = unit((256, 64) if kernel == 0 else (16, 64, 16, 16), 6)
    y = conv(x) if kernel == 0 else conv(x)[..., 1:-1, 1:-1]  # interior: no zero padding
    assert rms(y) == pytest.approx(1, abs=0.05)
    # Every output channel's applied weight has unit norm (EDM2 Sec. 2.3).
    norms = conv.applied_weight(torch.float32).flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.ones(48), atol=1e-4)


def test_forced_weight_normalisation_in_training_only():
    conv = UnitConv(4, 3, 3)
    conv.reset(gen(7))
    with torch.no_grad():
        conv.weight.mul_(5.0)
    x = unit((2, 4, 8, 8))
    before = conv.weight.detach().clone()
    y_eval = conv.eval()(x)
    assert torch.equal(conv.weight, before)
    y_train = conv.train()(x)
    row_rms = conv.weight.detach().flatten(1).square().mean(1).sqrt()
    assert torch.allclose(row_rms, torch.ones(3), atol=1e-3)
    assert torch.allclose(unit_rms(before, [1, 2, 3]), conv.weight.detach(), atol=1e-6)
    # The applied weight ignores the stored norm (up to the epsilon of the normalisation).
    torch.testing.assert_close(y_train, y_eval, rtol=1e-3, atol=1e-3)


def test_gradient_of_weight_is_orthogonal_to_it():
    conv = UnitConv(8, 4, 3)
    conv.reset(gen(8))
    conv.train()(unit((2, 8, 8, 8), 9)).square().sum().backward()
    grad, w = conv.weight.grad.flatten(1), conv.weight.detach().flatten(1)
    cosine = (grad * w).sum(1) / (grad.norm(dim=1) * w.norm(dim=1))
    assert cosine.abs().max() < 1e-3  # exactly 0 without the epsilon of the normalisation


@pytest.mark.parametrize("encoder,resample,cin,cout", [(True, None, 16, 16), (True, "down", 16, 32),
                                                       (False, "up", 32, 16), (False, None, 48, 16)])
def test_block_preserves_unit_rms(encoder, resample, cin, cout):
    block = reset_all(ResBlock(cin, cout, emb_channels=32, encoder=encoder, resample=resample,
                               head_channels=8), 8)
    y = block(unit((8, cin, 16, 16), 9), silu_unit(unit((8, 32), 10)))
    assert rms(y[..., 1:-1, 1:-1]) == pytest.approx(1, abs=0.06)


def test_attention_averages_and_the_block_stays_near_unit_rms():
    """Attention is not magnitude-preserving by itself: its output is a softmax-weighted mean of
    unit-RMS values, so smaller; blended in with weight 0.3 the block stays close to 1."""
    attention = reset_all(CosineAttention(32, 4), 1)
    assert 0.05 < rms(attention(unit((4, 32, 16, 16), 2))) < 1
    block = reset_all(ResBlock(16, 16, emb_channels=32, encoder=True, attention=True, head_channels=8), 8)
    y = block(unit((8, 16, 16, 16), 9), silu_unit(unit((8, 32), 10)))
    assert 0.85 < rms(y) < 1.05


# ---- the whole network ----


def test_whole_network_rms_near_one_across_noise_levels():
    """At every noise level sigma the network's input is c_in (x + sigma n), x a smooth image
    with sigma_data 0.5. Measured: the last decoder activation (the output before the output
    convolution and its gain, which is 0 at initialisation in EDM2), averaged over four
    initialisations (one 8-channel network varies by about +-0.2 from seed to seed); and the
    output with the gain set to 1, over many draws of the output convolution (one draw is a
    single random projection of 8 correlated channels, so it varies even more)."""
    nets = [build_network("demo-xxs", generator=gen(seed)).eval() for seed in range(4)]
    image = torch.nn.functional.interpolate(unit((4, 1, 8, 8), 12), scale_factor=4, mode="bilinear")
    image = 0.5 * image / image.std()
    for sigma in [0.002, 0.05, 0.5, 5.0, 80.0]:
        _, _, c_in, c_noise = edm_coefficients(torch.full((4,), sigma))
        x = c_in.reshape(-1, 1, 1, 1) * (image + sigma * unit((4, 1, 32, 32), 13))
        assert rms(x) == pytest.approx(1, abs=0.1)
        with torch.no_grad():
            features = [net(x, c_noise, return_features=True) for net in nets]
        assert sum(map(rms, features)) / len(nets) == pytest.approx(1, abs=0.12), sigma
    net, head = nets[0], nets[0].head
    with torch.no_grad():
        net.output_gain.value.fill_(1.0)
        energy = []
        for seed in range(40):
            head.reset(gen(100 + seed))
            energy.append(rms(net(x, c_noise)[..., 1:-1, 1:-1]) ** 2)
    assert sum(energy) / len(energy) == pytest.approx(rms(features[0][..., 1:-1, 1:-1]) ** 2, rel=0.15)


def test_output_gain_and_modulation_start_at_zero():
    net = build_network(TINY, generator=gen(11)).eval()  # (training would re-normalise weights)
    x = unit((2, 1, 16, 16), 12)
    assert torch.all(net(x, unit((2,), 13)) == 0)
    a = net(x, torch.full((2,), -1.0), return_features=True)
    b = net(x, torch.full((2,), 1.0), return_features=True)
    assert torch.equal(a, b)  # modulation 1 + 0 * linear(emb): no noise dependence yet
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, Gain):
                m.value.fill_(0.5)
    assert not torch.allclose(net(x, torch.full((2,), -1.0)), net(x, torch.full((2,), 1.0)))


@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_shapes_for_patch_sizes(size):
    net = build_network("demo-xxs", img_channels=2, extra_channels=2, generator=gen())
    out = net(unit((2, 4, size, size)), unit((2,)))
    assert out.shape == (2, 2, size, size)


@pytest.mark.parametrize("num_blocks", [1, 3])
def test_every_encoder_output_returns_to_its_level(num_blocks):
    net = build_network({**TINY, "num_blocks": num_blocks}, generator=gen())
    assert len(net.down) == len(net.up) == 3
    for level, decoder in zip(reversed(range(3)), net.up):
        assert len(decoder.merge) == len(net.down[level].blocks) + (level == 0) == num_blocks + 1
    assert net(unit((1, 1, 16, 16)), unit((1,))).shape == (1, 1, 16, 16)


def test_size_constraint_is_explained():
    net = build_network("demo-xxs", generator=gen())
    with pytest.raises(ValueError, match="divisible by 8"):
        net(unit((1, 1, 12, 12)), unit((1,)))
    with pytest.raises(ValueError, match="channels"):
        net(unit((1, 3, 16, 16)), unit((1,)))


def test_coordinate_channels_reach_the_network():
    prior = Prior(TINY, coord_channels=2, coord_pad=4)
    with torch.no_grad():
        prior.precond.net.output_gain.value.fill_(1.0)
    x = torch.rand(2, 1, 16, 16, generator=gen(14))
    a = prior(x, 0.2, torch.zeros(2, 2, 16, 16))
    b = prior(x, 0.2, torch.ones(2, 16, 16))
    assert a.shape == x.shape and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="needs coordinate"):
        prior(x, 0.2)
    with pytest.raises(ValueError, match="without coordinate"):
        Prior(TINY)(x, 0.2, torch.zeros(2, 2, 16, 16))


def test_presets_build():
    sizes = {name: count_parameters(build_network(name, generator=gen())) for name in NETWORK_PRESETS}
    assert sizes["demo-xxs"] < 1_000_000 < 50_000_000 < sizes["edm2-xs-256"]
    # The benchmark's larger network: 5-20 M parameters (issue 11).
    assert 5_000_000 <= sizes["unet-8m"] <= 20_000_000


def test_initialisation_is_seeded():
    a = build_network(TINY, generator=gen(3)).state_dict()
    b = build_network(TINY, generator=gen(3)).state_dict()
    c = build_network(TINY, generator=gen(4)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


# ---- inference weight cache (must not change outputs or training) ----


def _net():
    return build_network("demo-xxs", 1, 0, generator=torch.Generator().manual_seed(0))


def _uncached(monkeypatch):
    monkeypatch.setattr(UnitConv, "applied_weight", lambda self, dtype: self._compute(dtype))


def test_inference_weight_cache_keeps_outputs_and_follows_weight_changes(monkeypatch):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 16, 16, generator=g)
    c = torch.randn(2, generator=g)
    cached, plain = _net().eval(), _net().eval()
    with torch.no_grad():
        for m in plain.modules():  # gains != 0 so every layer matters
            if isinstance(m, Gain):
                m.value.fill_(0.5)
        cached.load_state_dict(plain.state_dict())
    with torch.no_grad():
        first, second = cached(x, c), cached(x, c)
    assert all(m._cache is not None for m in cached.modules() if isinstance(m, UnitConv))
    # An in-place weight change (optimizer step, EMA, load_state_dict) must be seen.
    with torch.no_grad():
        cached.head.weight.mul_(-1.0)
        changed = cached(x, c)
    _uncached(monkeypatch)
    with torch.no_grad():
        ref = plain(x, c)
        assert torch.equal(first, ref) and torch.equal(second, ref)
        assert not torch.allclose(changed, ref) and torch.equal(changed, cached(x, c))


def test_no_cache_in_training_or_with_weight_gradients():
    net = _net()
    with torch.no_grad():
        net.output_gain.value.fill_(1.0)  # 0 at initialisation would cut the gradient to the weights
    x = torch.randn(2, 1, 16, 16)
    c = torch.randn(2)
    net.train()
    net(x, c).sum().backward()
    assert all(m._cache is None for m in net.modules() if isinstance(m, UnitConv))
    assert net.stem.weight.grad is not None
    net.eval().zero_grad()
    net(x, c).square().sum().backward()  # eval with trainable weights: gradients still reach them
    assert net.stem.weight.grad is not None and net.stem.weight.grad.abs().sum() > 0
    assert all(m._cache is None for m in net.modules() if isinstance(m, UnitConv))


def test_attention_takes_the_memory_efficient_path_on_cpu():
    """One attention call at 4096 tokens must not materialise the 4096 x 4096 weight matrix
    (64 MiB in float32): PyTorch's math fallback, taken for strided q/k/v, does."""
    from patchcore.experiments.profiling import cpu_allocator_peak

    attention = reset_all(CosineAttention(32, 1), 0).eval()
    x = unit((1, 32, 64, 64), 3)
    tokens = 64 * 64
    full_matrix = tokens * tokens * 4
    with torch.no_grad():
        peak = cpu_allocator_peak(lambda: attention(x))
        y = attention(x)
        # The same attention written out with the explicit weight matrix (reference).
        q, k, v = attention.to_qkv(x).reshape(1, 3, 32, tokens).unbind(1)
        q, k, v = (norm_pixels(t).transpose(1, 2) for t in (q, k, v))  # (1, tokens, 32)
        weights = torch.softmax(q @ k.transpose(1, 2) / 32 ** 0.5, dim=-1)
        ref = attention.mix((weights @ v).transpose(1, 2).reshape(1, 32, 64, 64))
    assert peak < full_matrix / 8, f"attention peak {peak / 2**20:.1f} MiB (matrix {full_matrix / 2**20:.0f} MiB)"
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-4)


# ---- checkpoints of the previous network layout ----

# Parameter names of the network before its rewrite (issue 15), as in today's trained priors.
OLD_LAYOUT_KEYS = ["precond.net.out_gain", "precond.net.conv_in.weight", "precond.net.enc.0.emb_gain",
                   "precond.net.enc.0.conv_res0.weight", "precond.net.dec.0.attn_qkv.weight"]


def _old_layout_export(directory):
    prior = Prior(TINY)
    export_prior(directory, prior, {}, 1, "abc")
    save_file({k: torch.zeros(1) for k in OLD_LAYOUT_KEYS}, str(directory / "model.safetensors"),
              metadata={"format": "1"})


def test_old_layout_prior_is_refused_with_a_clear_error(tmp_path):
    _old_layout_export(tmp_path)
    with pytest.raises(ValueError, match=r"model\.safetensors.*old network layout.*retrain"):
        load_prior(tmp_path)


def test_new_layout_prior_loads(tmp_path):
    prior = Prior(TINY)
    export_prior(tmp_path, prior, {}, 1, "abc")
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(load_prior(tmp_path)(x, 0.1), prior.eval()(x, 0.1))


def test_old_layout_checkpoint_is_refused_with_a_clear_error(tmp_path):
    from patchcore.priors.training import make_state, resolve_options

    opts = resolve_options({"network": TINY, "training": {"steps": 2, "batch": 2}}, {}, {}, 16, 1)
    state = make_state(opts)
    save_checkpoint(tmp_path, state)
    meta_path = next(tmp_path.glob("step-*.json"))
    meta = json.loads(meta_path.read_text())
    meta["format"] = 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"step-.*\.json.*old network layout.*delete"):
        load_checkpoint(tmp_path, make_state(opts))
