"""EDM2-style magnitude-preserving UNet, written from Karras et al. 2024 ("Analyzing and
Improving the Training Dynamics of Diffusion Models", Sections 2-3 and Appendix B).

Every layer keeps unit expected magnitude of its activations at initialisation and during
training: convolutions use forced weight normalisation (weights re-normalised to unit norm per
output channel in every training forward), there are no biases, activations are pixel-normed
in the encoder, SiLU is rescaled to unit variance, and sums/concatenations are weighted so
their output keeps unit variance.

The network is fully convolutional: any input whose height and width are divisible by
``2 ** (levels - 1)`` (``levels = len(channel_mult)``) works, so one network serves whole
images and patches of several sizes (demo: patches 8..64 with 3-4 levels; paper scale:
16..256 with 4 levels).

The network sees the EDM-preconditioned input on the model scale and ``c_noise``; the
preconditioning lives in :mod:`patchcore.precond` and the [0, 1] <-> [-1, 1] conversion in
:mod:`patchcore.prior`.
"""

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Named presets: plain dicts, resolved into the options of every trained prior.
NETWORK_PRESETS = {
    # ~310k parameters, ~0.15 s per training step of 8 64x64 images on one CPU core; four
    # levels (8/16/32/32 channels), so inputs must be multiples of 8 pixels (patches 8..64).
    "demo-xxs": {
        "model_channels": 8,
        "channel_mult": [1, 2, 4, 4],
        "num_blocks": 1,
        "attn_levels": [3],
        "channel_mult_noise": 1,
        "channel_mult_emb": 4,
        "head_channels": 32,
        "dropout": 0.0,
    },
    # EDM2-XS-like for 256x256 images (EDM2 img512-xs: 128 channels, [1,2,2,4], 3 blocks,
    # attention at the two coarsest levels), four levels so patches down to 16 pixels work.
    "edm2-xs-256": {
        "model_channels": 128,
        "channel_mult": [1, 2, 2, 4],
        "num_blocks": 3,
        "attn_levels": [2, 3],
        "channel_mult_noise": 1,
        "channel_mult_emb": 4,
        "head_channels": 64,
        "dropout": 0.0,
    },
    # ~8.2 M parameters (16/32/64/192 channels, two blocks per level, attention at the
    # coarsest): large enough that its activations, not the image-sized arrays, dominate a
    # patch denoiser's memory (benchmarks/patch_denoiser.py); 4-5x the demo network's time
    # per pixel on CPU. Four levels: inputs must be multiples of 8 pixels.
    "unet-8m": {
        "model_channels": 16,
        "channel_mult": [1, 2, 4, 12],
        "num_blocks": 2,
        "attn_levels": [3],
        "channel_mult_noise": 1,
        "channel_mult_emb": 4,
        "head_channels": 64,
        "dropout": 0.0,
    },
}

NETWORK_DEFAULTS = {
    "model_channels": 16,
    "channel_mult": [1, 2, 2],
    "num_blocks": 1,
    "attn_levels": [],
    "channel_mult_noise": 1,
    "channel_mult_emb": 4,
    "head_channels": 64,
    "dropout": 0.0,
    "res_balance": 0.3,
    "attn_balance": 0.3,
    "concat_balance": 0.5,
    "clip_act": 256.0,
}


def normalize(x, dim=None, eps=1e-4):
    """Scale ``x`` to unit root-mean-square along ``dim`` (all but dim 0 if None) (EDM2 Eq. 47)."""
    if dim is None:
        dim = list(range(1, x.ndim))
    norm = torch.linalg.vector_norm(x, dim=dim, keepdim=True, dtype=torch.float32)
    norm = torch.add(eps, norm, alpha=math.sqrt(norm.numel() / x.numel()))
    return x / norm.to(x.dtype)


def normalize_(x, eps=1e-4):
    """:func:`normalize` over all but dim 0, in place (the same arithmetic); returns ``x``."""
    norm = torch.linalg.vector_norm(x, dim=list(range(1, x.ndim)), keepdim=True, dtype=torch.float32)
    norm = torch.add(eps, norm, alpha=math.sqrt(norm.numel() / x.numel()))
    return x.div_(norm.to(x.dtype))


def pixel_norm(x, eps=1e-4):
    """Pixel normalisation: unit RMS over channels at every pixel of ``x`` (B, C, H, W)."""
    return normalize(x, dim=1, eps=eps)


def mp_silu(x):
    """Magnitude-preserving SiLU: unit variance for unit-variance Gaussian input (EDM2 Eq. 81)."""
    return F.silu(x) / 0.596


def mp_sum(a, b, t=0.5):
    """Magnitude-preserving weighted sum ``lerp(a, b, t)`` rescaled to unit variance (EDM2 Eq. 88)."""
    return a.lerp(b, t) / math.sqrt((1 - t) ** 2 + t ** 2)


def mp_cat(a, b, dim=1, t=0.5):
    """Magnitude-preserving concatenation: the two parts weighted by (1-t, t) per element (EDM2 Eq. 103)."""
    na, nb = a.shape[dim], b.shape[dim]
    scale = math.sqrt((na + nb) / ((1 - t) ** 2 + t ** 2))
    wa = scale / math.sqrt(na) * (1 - t)
    wb = scale / math.sqrt(nb) * t
    return torch.cat([wa * a, wb * b], dim=dim)


class MPFourier(nn.Module):
    """Fourier features of a scalar with fixed random frequencies; unit variance (EDM2 Eq. 75).

    Input ``(B,)``, output ``(B, channels)``.
    """

    def __init__(self, channels, bandwidth=1.0):
        super().__init__()
        self.register_buffer("freqs", torch.zeros(channels))
        self.register_buffer("phases", torch.zeros(channels))
        self.bandwidth = bandwidth

    def reset(self, generator):
        """Draw frequencies ~ N(0, bandwidth^2) and phases ~ U(0, 1) from ``generator``."""
        self.freqs.copy_(torch.randn(self.freqs.shape, generator=generator) * 2 * np.pi * self.bandwidth)
        self.phases.copy_(torch.rand(self.phases.shape, generator=generator) * 2 * np.pi)

    def forward(self, x):
        y = x.to(torch.float32).ger(self.freqs.to(torch.float32))
        y = (y + self.phases.to(torch.float32)).cos() * np.sqrt(2)
        return y.to(x.dtype)


class MPConv(nn.Module):
    """Magnitude-preserving convolution (kernel > 0) or linear layer (kernel 0), no bias.

    Forced weight normalisation (EDM2 Eq. 66-67): in training the stored weight is itself
    re-normalised to unit norm per output channel before use, and the weight used is
    ``normalize(w) * gain / sqrt(fan_in)``, so unit-variance input gives unit-variance output.
    """

    def __init__(self, in_channels, out_channels, kernel):
        super().__init__()
        shape = (out_channels, in_channels, kernel, kernel) if kernel else (out_channels, in_channels)
        self.weight = nn.Parameter(torch.zeros(shape))

    def reset(self, generator):
        """Draw the weight ~ N(0, 1) from ``generator``."""
        with torch.no_grad():
            self.weight.copy_(torch.randn(self.weight.shape, generator=generator))

    def forward(self, x, gain=1.0):
        w = self._inference_weight(gain, x.dtype)
        if w is None:
            w = self._scaled_weight(gain, x.dtype)
        if w.ndim == 2:
            return x @ w.t()
        return F.conv2d(x, w, padding=w.shape[-1] // 2)

    def _scaled_weight(self, gain, dtype):
        """The weight used: ``normalize(w) * gain / sqrt(fan_in)`` in ``dtype`` (EDM2 Eq. 66-67)."""
        w = self.weight.to(torch.float32)
        if self.training:
            with torch.no_grad():  # forced weight normalisation (EDM2 Sec. 2.3), in place when w is the weight
                if w is self.weight:
                    normalize_(w)
                else:
                    self.weight.copy_(normalize(w))
        w = normalize(w)
        w = w * (gain / math.sqrt(math.prod(self.weight.shape[1:])))
        return w.to(dtype)

    def _inference_weight(self, gain, dtype):
        """The scaled weight, cached between inference calls; None when it must be recomputed.

        Only in eval mode and when no graph to the weight (or a tensor gain) is wanted; the
        cache is keyed on the tensors' identity, storage and in-place version counters, so any
        change of the weights (optimizer step, EMA update, ``load_state_dict``) recomputes it.
        The cached tensor is the one :meth:`_scaled_weight` returns, so outputs are unchanged.
        """
        if self.training:
            return None
        tensors = [self.weight] + ([gain] if torch.is_tensor(gain) else [])
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return None
        key = (dtype, None if torch.is_tensor(gain) else float(gain)) + tuple(
            (id(t), t.data_ptr(), t.device, t._version) for t in tensors)
        cached = getattr(self, "_weight_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        with torch.inference_mode(False), torch.no_grad():  # a normal tensor, usable outside inference mode
            w = self._scaled_weight(gain, dtype)
        self._weight_cache = (key, w)
        return w


def resample(x, mode):
    """2x box down-sampling (``'down'``), nearest up-sampling (``'up'``) or identity (None)."""
    if mode == "down":
        return F.avg_pool2d(x, 2)
    if mode == "up":
        return F.interpolate(x, scale_factor=2, mode="nearest")
    return x


class Block(nn.Module):
    """Residual UNet block (EDM2 Fig. 21): encoder flavour pixel-norms its input, decoder not.

    ``x`` (B, in_channels, H, W), ``emb`` (B, emb_channels) -> (B, out_channels, H', W') with
    H' = H/2, H or 2H for ``resample`` 'down', None, 'up'.
    """

    def __init__(self, in_channels, out_channels, emb_channels, flavor, resample_mode=None,
                 attention=False, head_channels=64, dropout=0.0, res_balance=0.3,
                 attn_balance=0.3, clip_act=256.0):
        super().__init__()
        self.flavor = flavor
        self.resample_mode = resample_mode
        self.num_heads = out_channels // head_channels if attention else 0
        if attention and self.num_heads == 0:
            self.num_heads = 1
        self.dropout = dropout
        self.res_balance = res_balance
        self.attn_balance = attn_balance
        self.clip_act = clip_act
        self.emb_gain = nn.Parameter(torch.zeros([]))
        self.conv_res0 = MPConv(out_channels if flavor == "enc" else in_channels, out_channels, 3)
        self.emb_linear = MPConv(emb_channels, out_channels, 0)
        self.conv_res1 = MPConv(out_channels, out_channels, 3)
        self.conv_skip = MPConv(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.attn_qkv = MPConv(out_channels, out_channels * 3, 1) if attention else None
        self.attn_proj = MPConv(out_channels, out_channels, 1) if attention else None

    def forward(self, x, emb):
        # Main branch: resample, then (encoder) match channels and pixel-normalise.
        x = resample(x, self.resample_mode)
        if self.flavor == "enc":
            if self.conv_skip is not None:
                x = self.conv_skip(x)
            x = pixel_norm(x)
        # Residual branch, modulated by the embedding (gain starts at 0: modulation 1).
        y = self.conv_res0(mp_silu(x))
        c = self.emb_linear(emb, gain=self.emb_gain) + 1
        y = mp_silu(y * c[:, :, None, None].to(y.dtype))
        if self.training and self.dropout:
            y = F.dropout(y, p=self.dropout)
        y = self.conv_res1(y)
        if self.flavor == "dec" and self.conv_skip is not None:
            x = self.conv_skip(x)
        x = mp_sum(x, y, t=self.res_balance)
        if self.num_heads:
            x = mp_sum(x, self._attention(x), t=self.attn_balance)
        if self.clip_act is not None:
            x = x.clip(-self.clip_act, self.clip_act)
        return x

    def _attention(self, x):
        """Self-attention with pixel-normalised queries, keys and values (EDM2 Sec. 3)."""
        b, c, h, w = x.shape
        qkv = self.attn_qkv(x).reshape(b, self.num_heads, c // self.num_heads, 3, h * w)
        qkv = normalize(qkv, dim=2)
        # (3, B, heads, HW, C/heads), contiguous: with strided q/k/v PyTorch's CPU attention
        # falls back to the math path, which materialises the whole HW x HW weight matrix.
        q, k, v = qkv.permute(3, 0, 1, 4, 2).contiguous().unbind(0)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, C/heads)
        return self.attn_proj(y.transpose(2, 3).reshape(b, c, h, w))


class UNet(nn.Module):
    """Magnitude-preserving UNet ``F(x_in, c_noise)`` on the model scale.

    ``x`` is ``(B, img_channels + extra_channels, H, W)`` (the c_in-scaled image, then extra
    channels such as coordinates), ``c_noise`` is ``(B,)``; output ``(B, img_channels, H, W)``.
    H and W must be divisible by ``2 ** (len(channel_mult) - 1)``.
    """

    def __init__(self, img_channels=1, extra_channels=0, model_channels=16, channel_mult=(1, 2, 2),
                 num_blocks=1, attn_levels=(), channel_mult_noise=1, channel_mult_emb=4,
                 head_channels=64, dropout=0.0, res_balance=0.3, attn_balance=0.3,
                 concat_balance=0.5, clip_act=256.0):
        super().__init__()
        self.img_channels = img_channels
        self.extra_channels = extra_channels
        self.levels = len(channel_mult)
        self.concat_balance = concat_balance
        cnoise = model_channels * channel_mult_noise
        cemb = model_channels * channel_mult_emb
        block = dict(emb_channels=cemb, head_channels=head_channels, dropout=dropout,
                     res_balance=res_balance, attn_balance=attn_balance, clip_act=clip_act)
        self.out_gain = nn.Parameter(torch.zeros([]))
        self.emb_fourier = MPFourier(cnoise)
        self.emb_noise = MPConv(cnoise, cemb, 0)

        # Encoder: input conv (with a constant channel standing in for biases), then per level
        # an optional down-sampling block and num_blocks blocks; every output is a skip.
        self.enc = nn.ModuleList()
        cout = model_channels * channel_mult[0]
        self.conv_in = MPConv(img_channels + extra_channels + 1, cout, 3)
        skips = [cout]
        for level, mult in enumerate(channel_mult):
            if level > 0:
                self.enc.append(Block(cout, cout, flavor="enc", resample_mode="down", **block))
                skips.append(cout)
            for _ in range(num_blocks):
                cin, cout = cout, model_channels * mult
                self.enc.append(Block(cin, cout, flavor="enc", attention=level in attn_levels, **block))
                skips.append(cout)

        # Decoder: two blocks at the bottom, an up-sampling block per finer level, then
        # num_blocks + 1 blocks per level each consuming one skip by mp-concatenation.
        self.dec = nn.ModuleList()
        self.dec_takes_skip = []
        for level in reversed(range(self.levels)):
            mult = channel_mult[level]
            if level == self.levels - 1:
                self.dec.append(Block(cout, cout, flavor="dec", attention=True, **block))
                self.dec.append(Block(cout, cout, flavor="dec", **block))
                self.dec_takes_skip += [False, False]
            else:
                self.dec.append(Block(cout, cout, flavor="dec", resample_mode="up", **block))
                self.dec_takes_skip.append(False)
            for _ in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), model_channels * mult
                self.dec.append(Block(cin, cout, flavor="dec", attention=level in attn_levels, **block))
                self.dec_takes_skip.append(True)
        self.conv_out = MPConv(cout, img_channels, 3)

    def reset_parameters(self, generator):
        """Initialise every weight from ``generator``: conv weights N(0, 1), gains 0."""
        for module in self.modules():
            if isinstance(module, (MPConv, MPFourier)):
                module.reset(generator)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("gain"):
                    p.zero_()
        return self

    def check_size(self, h, w):
        """Raise ValueError unless ``h`` and ``w`` are divisible by ``2 ** (levels - 1)``."""
        factor = 2 ** (self.levels - 1)
        if h % factor or w % factor:
            raise ValueError(
                f"network input {h}x{w}: height and width must be divisible by {factor} "
                f"(2 ** (levels - 1) with {self.levels} levels)"
            )

    def forward(self, x, c_noise, return_features=False):
        self.check_size(x.shape[-2], x.shape[-1])
        expected = self.img_channels + self.extra_channels
        if x.shape[1] != expected:
            raise ValueError(f"network input has {x.shape[1]} channels, expected {expected}")
        # Noise embedding: Fourier features of c_noise, linear, mp-SiLU (EDM2 Fig. 21).
        emb = mp_silu(self.emb_noise(self.emb_fourier(c_noise)))
        # Encoder.
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        x = self.conv_in(x)
        skips = [x]
        for block in self.enc:
            x = block(x, emb)
            skips.append(x)
        # Decoder.
        for block, takes_skip in zip(self.dec, self.dec_takes_skip):
            if takes_skip:
                x = mp_cat(x, skips.pop(), t=self.concat_balance)
            x = block(x, emb)
        if return_features:
            return x
        return self.conv_out(x, gain=self.out_gain)


def resolve_network(spec):
    """A network spec (preset name or dict, possibly with ``preset`` plus overrides) as a full dict."""
    if isinstance(spec, str):
        if spec not in NETWORK_PRESETS:
            raise KeyError(f"unknown network preset '{spec}' (known: {sorted(NETWORK_PRESETS)})")
        spec = {"preset": spec}
    spec = copy.deepcopy(dict(spec))
    base = {}
    if "preset" in spec:
        name = spec.pop("preset")
        if name not in NETWORK_PRESETS:
            raise KeyError(f"unknown network preset '{name}' (known: {sorted(NETWORK_PRESETS)})")
        base = copy.deepcopy(NETWORK_PRESETS[name])
    unknown = set(spec) - set(NETWORK_DEFAULTS)
    if unknown:
        raise KeyError(f"unknown network option(s) {sorted(unknown)} (known: {sorted(NETWORK_DEFAULTS)})")
    return {**copy.deepcopy(NETWORK_DEFAULTS), **base, **spec}


def build_network(spec, img_channels=1, extra_channels=0, generator=None):
    """A :class:`UNet` from a spec dict (or preset name), initialised from ``generator``."""
    options = resolve_network(spec)
    net = UNet(img_channels=img_channels, extra_channels=extra_channels, **options)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    return net.reset_parameters(generator)


def count_parameters(module):
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
