"""The magnitude-preserving UNet: unit magnitudes at initialisation, shapes, extra channels."""

import pytest
import torch

from patchcore.network import (NETWORK_PRESETS, Block, MPConv, build_network, count_parameters,
                               mp_cat, mp_silu, mp_sum, normalize)
from patchcore.prior import Prior

TINY = {"model_channels": 8, "channel_mult": [1, 2, 2], "num_blocks": 1, "attn_levels": [2],
        "head_channels": 8}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def unit(shape, seed=0):
    return torch.randn(shape, generator=gen(seed))


def rms(x):
    return float(x.detach().square().mean().sqrt())


def test_mp_primitives_preserve_unit_magnitude():
    a, b = unit((200000,), 1), unit((200000,), 2)
    assert rms(mp_silu(a)) == pytest.approx(1, abs=0.02)
    for t in (0.3, 0.5, 0.8):
        assert rms(mp_sum(a, b, t)) == pytest.approx(1, abs=0.02)
    c = mp_cat(unit((100, 24, 8, 8), 3), unit((100, 8, 8, 8), 4), t=0.3)
    assert c.shape[1] == 32 and rms(c) == pytest.approx(1, abs=0.02)


@pytest.mark.parametrize("kernel", [0, 1, 3])
def test_mp_conv_preserves_unit_variance(kernel):
    conv = MPConv(32, 48, kernel)
    conv.reset(gen(5))
    x = unit((64, 32) if kernel == 0 else (16, 32, 16, 16), 6)
    y = conv(x) if kernel == 0 else conv(x)[..., 1:-1, 1:-1]  # interior: no zero padding
    assert rms(y) == pytest.approx(1, abs=0.1)


def test_forced_weight_normalisation_in_training_only():
    conv = MPConv(4, 3, 3)
    conv.reset(gen(7))
    x = unit((2, 4, 8, 8))
    before = conv.weight.detach().clone()
    conv.eval()(x)
    assert torch.equal(conv.weight, before)
    conv.train()(x)
    row_rms = conv.weight.detach().flatten(1).square().mean(1).sqrt()
    assert torch.allclose(row_rms, torch.ones(3), atol=1e-3)
    assert torch.allclose(normalize(before), conv.weight.detach(), atol=1e-6)


@pytest.mark.parametrize("flavor,resample,cin,cout", [("enc", None, 16, 16), ("enc", "down", 16, 32),
                                                      ("dec", "up", 32, 16), ("dec", None, 48, 16)])
def test_block_preserves_unit_magnitude(flavor, resample, cin, cout):
    block = Block(cin, cout, emb_channels=32, flavor=flavor, resample_mode=resample, attention=True,
                  head_channels=8)
    for m in block.modules():
        if isinstance(m, MPConv):
            m.reset(gen(8))
    y = block(unit((8, cin, 16, 16), 9), mp_silu(unit((8, 32), 10)))
    assert rms(y) == pytest.approx(1, abs=0.25)


def test_whole_network_magnitudes_at_init():
    net = build_network(TINY, img_channels=1, generator=gen(11))
    x, c_noise = unit((8, 1, 32, 32), 12), unit((8,), 13)
    features = net(x, c_noise, return_features=True)
    assert rms(features) == pytest.approx(1, abs=0.3)
    assert torch.all(net(x, c_noise) == 0)  # output gain starts at 0 (EDM2)
    with torch.no_grad():
        net.out_gain.fill_(1.0)
    assert rms(net(x, c_noise)[..., 1:-1, 1:-1]) == pytest.approx(1, abs=0.3)


@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_shapes_for_patch_sizes(size):
    net = build_network("demo-xxs", img_channels=2, extra_channels=2, generator=gen())
    out = net(unit((2, 4, size, size)), unit((2,)))
    assert out.shape == (2, 2, size, size)


def test_size_constraint_is_explained():
    net = build_network("demo-xxs", generator=gen())
    with pytest.raises(ValueError, match="divisible by 8"):
        net(unit((1, 1, 12, 12)), unit((1,)))
    with pytest.raises(ValueError, match="channels"):
        net(unit((1, 3, 16, 16)), unit((1,)))


def test_coordinate_channels_reach_the_network():
    prior = Prior(TINY, coord_channels=2, coord_pad=4)
    with torch.no_grad():
        prior.precond.net.out_gain.fill_(1.0)
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


def test_inference_weight_cache_keeps_outputs_and_follows_weight_changes():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 16, 16, generator=gen)
    c = torch.randn(2, generator=gen)
    cached, plain = _net().eval(), _net().eval()
    with torch.no_grad():
        for p in plain.parameters():  # gains != 0 so the tensor-gain path matters
            p.add_(0.1) if p.ndim == 0 else None
        cached.load_state_dict(plain.state_dict())
    orig = MPConv._inference_weight
    try:
        MPConv._inference_weight = lambda self, gain, dtype: None  # the uncached reference
        with torch.no_grad():
            ref = plain(x, c)
    finally:
        MPConv._inference_weight = orig
    with torch.no_grad():
        first, second = cached(x, c), cached(x, c)
    assert torch.equal(first, ref) and torch.equal(second, ref)
    assert all(getattr(m, "_weight_cache", None) is not None for m in cached.modules() if isinstance(m, MPConv))
    # An in-place weight change (optimizer step, EMA, load_state_dict) must be seen.
    with torch.no_grad():
        cached.conv_out.weight.mul_(-1.0)
        cached.out_gain.add_(0.5)
    with torch.no_grad():
        changed = cached(x, c)
    assert not torch.allclose(changed, ref)
    MPConv._inference_weight = lambda self, gain, dtype: None
    try:
        with torch.no_grad():
            assert torch.equal(changed, cached(x, c))
    finally:
        MPConv._inference_weight = orig


def test_no_cache_in_training_or_with_weight_gradients():
    net = _net()
    with torch.no_grad():
        net.out_gain.fill_(1.0)  # 0 at initialisation would cut the gradient to the weights
    x = torch.randn(2, 1, 16, 16)
    c = torch.randn(2)
    net.train()
    net(x, c).sum().backward()
    assert all(getattr(m, "_weight_cache", None) is None for m in net.modules() if isinstance(m, MPConv))
    assert net.conv_in.weight.grad is not None
    net.eval().zero_grad()
    net(x, c).square().sum().backward()  # eval with trainable weights: gradients still reach them
    assert net.conv_in.weight.grad is not None and net.conv_in.weight.grad.abs().sum() > 0
    assert all(getattr(m, "_weight_cache", None) is None for m in net.modules() if isinstance(m, MPConv))


def test_attention_takes_the_memory_efficient_path_on_cpu():
    """One attention call at 4096 tokens must not materialise the 4096 x 4096 weight matrix
    (64 MiB in float32): PyTorch's math fallback, taken for strided q/k/v, does."""
    from patchcore.profiling import cpu_allocator_peak

    block = Block(32, 32, emb_channels=16, flavor="enc", attention=True, head_channels=32).eval()
    x = unit((1, 32, 64, 64), 3)
    tokens = 64 * 64
    full_matrix = tokens * tokens * 4
    with torch.no_grad():
        peak = cpu_allocator_peak(lambda: block._attention(x))
        y = block._attention(x)
        # The same attention written out with the explicit weight matrix (reference).
        qkv = normalize(block.attn_qkv(x).reshape(1, 1, 32, 3, tokens), dim=2)
        q, k, v = (qkv[:, :, :, i].transpose(2, 3) for i in range(3))
        weights = torch.softmax(q @ k.transpose(2, 3) / 32 ** 0.5, dim=-1)
        ref = block.attn_proj((weights @ v).transpose(2, 3).reshape(1, 32, 64, 64))
    assert peak < full_matrix / 8, f"attention peak {peak / 2**20:.1f} MiB (matrix {full_matrix / 2**20:.0f} MiB)"
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-4)
