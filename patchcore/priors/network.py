"""Magnitude-preserving UNet, written from the equations of Karras et al. 2024 ("Analyzing and
Improving the Training Dynamics of Diffusion Models", EDM2), Sections 2-3 and Appendix B.

The design rule of EDM2 is that every layer keeps the expected magnitude (root mean square,
RMS) of its activations at 1, at initialisation and throughout training:

- learned layers (:class:`UnitConv`) have no bias and use *forced weight normalisation*: each
  output channel's weight vector is rescaled to unit norm, so a unit-RMS input gives a unit-RMS
  output; during training the stored weight is also re-normalised in place (Sec. 2.3);
- fixed-function layers are rescaled to preserve magnitudes (Sec. 2.5): SiLU divided by its
  output RMS for a standard normal input (:func:`silu_unit`, Eq. 81), weighted sums
  (:func:`blend`) and concatenations (:func:`join_channels`) normalised by the magnitude of
  their weights, Fourier features (:class:`FourierFeatures`) multiplied by sqrt(2);
- group normalisation is replaced by a per-pixel normalisation over channels in the encoder
  and of the attention queries, keys and values (Sec. 2.4, cosine attention of Sec. 2.1);
- learned scalar gains (:class:`Gain`) start at 0: the noise-embedding modulation of every
  block and the network output (Sec. 2.2, Appendix B).

The network is fully convolutional: any input whose height and width are divisible by
``2 ** (levels - 1)`` (``levels = len(channel_mult)``) works, so one network serves whole
images and patches of several sizes.

The network sees the EDM-preconditioned input on the model scale and ``c_noise``; the
preconditioning lives in :mod:`patchcore.priors.precond` and the [0, 1] <-> [-1, 1] conversion in
:mod:`patchcore.priors.prior`.
"""

from typing import Optional, Sequence, Union
import copy
import math

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

EPS = 1e-4  # keeps the unit-RMS division finite for an all-zero vector

# RMS of SiLU(x) for x ~ N(0, 1) (EDM2 Eq. 81).
SILU_RMS = 0.596


# ---- magnitude-preserving fixed-function operations (EDM2 Sec. 2.4-2.5) ----


def rms(x: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """Root mean square of ``x`` over ``dims`` (kept as size-1 dims), in float32."""
    count = math.prod(x.shape[d] for d in dims)
    return torch.linalg.vector_norm(x, dim=dims, keepdim=True, dtype=torch.float32) / math.sqrt(count)


def unit_rms(x: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """``x`` divided by its RMS over ``dims`` (plus a small epsilon): unit RMS along ``dims``."""
    return x / (rms(x, dims) + EPS).to(x.dtype)


def norm_pixels(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Pixel normalisation: unit RMS over the channels ``dim`` at every position (EDM2 Sec. 2.4)."""
    return unit_rms(x, [dim])


def silu_unit(x: torch.Tensor) -> torch.Tensor:
    """SiLU scaled to unit RMS for unit-variance Gaussian input (EDM2 Eq. 81)."""
    return F.silu(x) / SILU_RMS


def blend(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """``(1 - t) a + t b`` for independent unit-RMS ``a``, ``b``, rescaled to unit RMS (EDM2 Sec. 2.5).

    ``t`` is the share of ``b``: 0 keeps ``a``, 1 gives ``b``.
    """
    return ((1 - t) * a + t * b) / math.hypot(1 - t, t)


def join_channels(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Concatenate ``a`` and ``b`` along channels with weights ``(1 - t, t)``, unit RMS (EDM2 Sec. 2.5).

    Each part is first scaled so its contribution to the output's energy is independent of its
    channel count, then the whole so the result has unit RMS for unit-RMS inputs.
    ``a`` (B, Ca, ...), ``b`` (B, Cb, ...) -> (B, Ca + Cb, ...).
    """
    ca, cb = a.shape[1], b.shape[1]
    total = math.sqrt((ca + cb) / ((1 - t) ** 2 + t ** 2))
    return torch.cat([a * ((1 - t) * total / math.sqrt(ca)), b * (t * total / math.sqrt(cb))], dim=1)


def rescale(x: torch.Tensor, mode: str) -> torch.Tensor:
    """2x average-pool down (``'down'``), 2x nearest up (``'up'``) or unchanged (None); (B, C, H, W)."""
    if mode == "down":
        return F.avg_pool2d(x, 2)
    if mode == "up":
        return F.interpolate(x, scale_factor=2, mode="nearest")
    return x


# ---- learned layers ----


class FourierFeatures(nn.Module):
    """Random Fourier features of a scalar, unit RMS: ``sqrt(2) cos(2 pi (f s + p))`` (EDM2 Sec. 2.5).

    Frequencies ``f ~ N(0, 1)`` and phases ``p ~ U(0, 1)`` are fixed buffers.
    ``s`` (B,) -> (B, channels).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("freqs", torch.zeros(channels))
        self.register_buffer("phases", torch.zeros(channels))

    def reset(self, generator: Optional[torch.Generator]) -> None:
        """Draw frequencies and phases from ``generator`` (stored as angular: times 2 pi)."""
        self.freqs.copy_(2 * math.pi * torch.randn(self.freqs.shape, generator=generator))
        self.phases.copy_(2 * math.pi * torch.rand(self.phases.shape, generator=generator))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        angle = torch.outer(s.to(torch.float32), self.freqs.to(torch.float32)) + self.phases.to(torch.float32)
        return (math.sqrt(2) * torch.cos(angle)).to(s.dtype)


class Gain(nn.Module):
    """A learned scalar factor, 0 after :meth:`reset` (EDM2's zero-initialised gains)."""

    def __init__(self):
        super().__init__()
        self.value = nn.Parameter(torch.zeros([]))

    def reset(self, generator: Optional[torch.Generator] = None) -> None:
        with torch.no_grad():
            self.value.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.value.to(x.dtype)


class UnitConv(nn.Module):
    """Bias-free convolution (``kernel`` > 0, 'same' padding) or linear layer (``kernel`` 0)
    with forced weight normalisation (EDM2 Sec. 2.3).

    The weight applied is ``w_i / ||w_i||`` for every output channel i, so a unit-RMS input with
    independent entries gives a unit-RMS output. In training mode every forward first rescales
    the stored weight itself to unit RMS per output channel (in place, outside autograd), so
    its norm cannot grow, and then normalises it again inside the graph, so the gradient is
    orthogonal to the weight. In eval mode the applied weight is cached (:meth:`applied_weight`).

    Convolution: (B, C_in, H, W) -> (B, C_out, H, W); linear: (B, C_in) -> (B, C_out).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int]):
        super().__init__()
        shape = (out_channels, in_channels) + ((kernel, kernel) if kernel else ())
        self.weight = nn.Parameter(torch.zeros(shape))
        self.fan_in = math.prod(shape[1:])
        self._cache = None  # (key, applied weight) in eval mode

    def reset(self, generator: Optional[torch.Generator]) -> None:
        """Draw the weight ~ N(0, 1) from ``generator``."""
        with torch.no_grad():
            self.weight.copy_(torch.randn(self.weight.shape, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.applied_weight(x.dtype)
        if w.ndim == 2:
            return F.linear(x, w)
        return F.conv2d(x, w, padding=w.shape[-1] // 2)

    def applied_weight(self, dtype: Optional[torch.dtype]) -> torch.Tensor:
        """Unit-norm rows of the weight, in ``dtype``; cached in eval mode when no gradient is needed."""
        if self.training:
            with torch.no_grad():  # forced weight normalisation of the stored weight (Sec. 2.3)
                self.weight.div_(rms(self.weight, self._row_dims()).add_(EPS).to(self.weight.dtype))
            return self._compute(dtype)
        if torch.is_grad_enabled() and self.weight.requires_grad:
            return self._compute(dtype)
        # The key changes with any in-place update of the weight (optimizer, EMA,
        # load_state_dict bump its version) or a new tensor, so a stale weight is never used.
        key = (dtype, id(self.weight), self.weight.data_ptr(), self.weight.device, self.weight._version)
        if self._cache is None or self._cache[0] != key:
            with torch.inference_mode(False), torch.no_grad():  # a normal tensor, usable outside inference mode
                self._cache = (key, self._compute(dtype))
        return self._cache[1]

    def _row_dims(self):
        return list(range(1, self.weight.ndim))

    def _compute(self, dtype):
        # Unit RMS per output channel, then 1/sqrt(fan_in): unit norm per output channel.
        w = unit_rms(self.weight.to(torch.float32), self._row_dims()) / math.sqrt(self.fan_in)
        return w.to(dtype)


class CosineAttention(nn.Module):
    """Multi-head self-attention over pixels whose queries, keys and values are pixel-normalised
    per head (cosine attention, EDM2 Sec. 2.1 and 2.4). (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, heads: Optional[int]):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention: {channels} channels do not split into {heads} heads")
        self.heads = heads
        self.to_qkv = UnitConv(channels, 3 * channels, 1)
        self.mix = UnitConv(channels, channels, 1)
        # Optional ``mask_fn(h, w) -> (HW, HW)`` bool mask (True: may attend); None attends
        # everywhere. Used by analyses that restrict attention to windows.
        self.mask_fn = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # Channels of to_qkv's output are (q | k | v) x heads x per-head channels.
        qkv = self.to_qkv(x).reshape(b, 3, self.heads, c // self.heads, h * w)
        qkv = norm_pixels(qkv, dim=3)
        # (3, B, heads, HW, C/heads), made contiguous: for strided q/k/v PyTorch's CPU attention
        # falls back to its math path, which materialises the whole HW x HW weight matrix.
        q, k, v = qkv.permute(1, 0, 2, 4, 3).contiguous().unbind(0)
        mask = None if self.mask_fn is None else self.mask_fn(h, w).to(x.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # softmax(q k^T / sqrt(C/heads)) v
        return self.mix(out.transpose(-1, -2).reshape(b, c, h, w))


class ResBlock(nn.Module):
    """Residual UNet block of EDM2 (Sec. 2, Appendix B), in its encoder or decoder form.

    Order: rescale (``'down'``/``'up'``/None); in the encoder the channel count is matched by
    a 1x1 convolution and the result pixel-normalised *before* the residual branch, in the
    decoder it is matched on the shortcut only; residual branch
    ``conv3(silu(conv3(silu(x)) * (1 + g * linear(emb))))``; magnitude-preserving sum of the
    shortcut and the branch; optional attention added the same way; activations clipped.

    ``x`` (B, in_channels, H, W), ``emb`` (B, emb_channels) -> (B, out_channels, H', W')
    with H' = H/2, H or 2H for ``resample`` 'down', None, 'up'.
    """

    def __init__(self, in_channels: int, out_channels: int, emb_channels: int, encoder: bool,
                 resample: Optional[str] = None, attention: bool = False, head_channels: int = 64,
                 dropout: float = 0.0, res_balance: float = 0.3, attn_balance: float = 0.3,
                 clip_act: Optional[float] = 256.0):
        super().__init__()
        self.encoder = encoder
        self.resample = resample
        self.dropout = dropout
        self.res_balance = res_balance
        self.attn_balance = attn_balance
        self.clip_act = clip_act
        self.match = UnitConv(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.conv1 = UnitConv(out_channels if encoder else in_channels, out_channels, 3)
        self.conv2 = UnitConv(out_channels, out_channels, 3)
        self.modulation = UnitConv(emb_channels, out_channels, 0)
        self.modulation_gain = Gain()
        heads = max(out_channels // head_channels, 1)
        self.attention = CosineAttention(out_channels, heads) if attention else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = rescale(x, self.resample)
        if self.encoder:
            x = norm_pixels(self.match(x) if self.match is not None else x)
        y = self.branch(x, emb)
        if not self.encoder and self.match is not None:
            x = self.match(x)
        x = blend(x, y, self.res_balance)
        if self.attention is not None:
            x = blend(x, self.attention(x), self.attn_balance)
        return x if self.clip_act is None else x.clamp(-self.clip_act, self.clip_act)

    def branch(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The residual branch, its first activation modulated by the noise embedding."""
        scale = 1 + self.modulation_gain(self.modulation(emb))  # 1 at initialisation
        y = self.conv1(silu_unit(x)) * scale[:, :, None, None].to(x.dtype)
        y = silu_unit(y)
        if self.training and self.dropout:
            y = F.dropout(y, p=self.dropout)
        return self.conv2(y)


class EncoderLevel(nn.Module):
    """The encoder blocks of one resolution; returns the output and every block's output
    (the skips the decoder level of the same resolution takes back)."""

    def __init__(self, blocks: Sequence[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        outputs = []
        for block in self.blocks:
            x = block(x, emb)
            outputs.append(x)
        return x, outputs


class DecoderLevel(nn.Module):
    """The decoder blocks of one resolution: ``entry`` blocks (the bottleneck or the
    up-sampling block), then ``merge`` blocks that each first join one skip, the latest
    encoder output of this resolution first."""

    def __init__(self, entry: nn.Module, merge: Sequence[nn.Module], concat_balance: float):
        super().__init__()
        self.entry = nn.ModuleList(entry)
        self.merge = nn.ModuleList(merge)
        self.concat_balance = concat_balance

    def forward(self, x: torch.Tensor, emb: torch.Tensor, skips: list) -> torch.Tensor:
        for block in self.entry:
            x = block(x, emb)
        for block, skip in zip(self.merge, reversed(skips), strict=True):
            x = block(join_channels(x, skip, self.concat_balance), emb)
        return x


class UNet(nn.Module):
    """Magnitude-preserving UNet ``F(x_in, c_noise)`` on the model scale.

    ``x`` is ``(B, img_channels + extra_channels, H, W)`` (the c_in-scaled image, then extra
    channels such as coordinates), ``c_noise`` is ``(B,)``; output ``(B, img_channels, H, W)``.
    H and W must be divisible by ``2 ** (len(channel_mult) - 1)``.

    Every level l has ``num_blocks + 1`` encoder outputs (level 0: the input convolution and
    its blocks; deeper: the down-sampling block and the blocks), and its decoder level has as
    many merge blocks, so the skips of a level go back to the same level.
    """

    def __init__(self, img_channels: int = 1, extra_channels: int = 0, model_channels: int = 16,
                 channel_mult: Sequence[int] = (1, 2, 2), num_blocks: int = 1,
                 attn_levels: Sequence[int] = (), channel_mult_noise: Optional[int] = 1,
                 channel_mult_emb: Optional[int] = 4, head_channels: int = 64, dropout: float = 0.0,
                 res_balance: float = 0.3, attn_balance: float = 0.3, concat_balance: float = 0.5,
                 clip_act: Optional[float] = 256.0):
        super().__init__()
        self.img_channels = img_channels
        self.extra_channels = extra_channels
        self.levels = len(channel_mult)
        widths = [model_channels * m for m in channel_mult]
        emb_channels = model_channels * channel_mult_emb
        common = dict(emb_channels=emb_channels, head_channels=head_channels, dropout=dropout,
                      res_balance=res_balance, attn_balance=attn_balance, clip_act=clip_act)

        # Noise embedding: Fourier features of c_noise, a linear layer, silu_unit.
        self.noise_fourier = FourierFeatures(model_channels * channel_mult_noise)
        self.noise_linear = UnitConv(model_channels * channel_mult_noise, emb_channels, 0)
        # Input: the image plus a constant-1 channel (the network has no biases, EDM2 Sec. 2.2).
        self.stem = UnitConv(img_channels + extra_channels + 1, widths[0], 3)

        self.down, skip_channels = self._encoder(widths, num_blocks, attn_levels, common)
        self.up = self._decoder(widths, skip_channels, attn_levels, concat_balance, common)
        self.head = UnitConv(widths[0], img_channels, 3)
        self.output_gain = Gain()

    @staticmethod
    def _encoder(widths, num_blocks, attn_levels, common):
        """The encoder levels and, per level, the channel counts of its outputs (the skips)."""
        levels, channels, skip_channels = nn.ModuleList(), widths[0], []
        for level, width in enumerate(widths):
            blocks, skips = [], [channels]  # level 0: the input convolution's output
            if level > 0:
                blocks.append(ResBlock(channels, channels, encoder=True, resample="down", **common))
            for _ in range(num_blocks):
                blocks.append(ResBlock(channels, width, encoder=True, attention=level in attn_levels,
                                       **common))
                channels = width
                skips.append(channels)
            levels.append(EncoderLevel(blocks))
            skip_channels.append(skips)
        return levels, skip_channels

    @staticmethod
    def _decoder(widths, skip_channels, attn_levels, concat_balance, common):
        """The decoder levels, coarsest first, each merging its encoder level's skips."""
        levels, channels = nn.ModuleList(), widths[-1]
        for level in reversed(range(len(widths))):
            if level == len(widths) - 1:  # bottleneck: one block with attention, one without
                entry = [ResBlock(channels, channels, encoder=False, attention=True, **common),
                         ResBlock(channels, channels, encoder=False, **common)]
            else:
                entry = [ResBlock(channels, channels, encoder=False, resample="up", **common)]
            merge = []
            for skip in reversed(skip_channels[level]):
                merge.append(ResBlock(channels + skip, widths[level], encoder=False,
                                      attention=level in attn_levels, **common))
                channels = widths[level]
            levels.append(DecoderLevel(entry, merge, concat_balance))
        return levels

    def reset_parameters(self, generator: Optional[torch.Generator]) -> None:
        """Initialise from ``generator``: weights and Fourier features random, gains 0."""
        for module in self.modules():
            if isinstance(module, (UnitConv, FourierFeatures, Gain)):
                module.reset(generator)
        return self

    def check_size(self, h: int, w: int) -> None:
        """Raise ValueError unless ``h`` and ``w`` are divisible by ``2 ** (levels - 1)``."""
        factor = 2 ** (self.levels - 1)
        if h % factor or w % factor:
            raise ValueError(
                f"network input {h}x{w}: height and width must be divisible by {factor} "
                f"(2 ** (levels - 1) with {self.levels} levels)"
            )

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        """``return_features``: the last decoder activation (B, model_channels, H, W), before the
        output convolution and its gain."""
        self.check_size(x.shape[-2], x.shape[-1])
        expected = self.img_channels + self.extra_channels
        if x.shape[1] != expected:
            raise ValueError(f"network input has {x.shape[1]} channels, expected {expected}")
        emb = silu_unit(self.noise_linear(self.noise_fourier(c_noise)))
        x = self.stem(torch.cat([x, torch.ones_like(x[:, :1])], dim=1))
        skips = [[x]] + [[] for _ in range(self.levels - 1)]  # per level, the encoder outputs
        for level, encoder in enumerate(self.down):
            x, outputs = encoder(x, emb)
            skips[level] += outputs
        for level, decoder in zip(reversed(range(self.levels)), self.up):
            x = decoder(x, emb, skips[level])
        if return_features:
            return x
        return self.output_gain(self.head(x))


def resolve_network(spec: Union[str, dict]) -> dict:
    """A network spec (preset name or dict, possibly with ``preset`` plus overrides) as a full dict."""
    if isinstance(spec, str):
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


def build_network(spec: Union[str, dict], img_channels: int = 1, extra_channels: int = 0,
                  generator: Optional[torch.Generator] = None) -> nn.Module:
    """A :class:`UNet` from a spec dict (or preset name), initialised from ``generator`` (default seed 0)."""
    options = resolve_network(spec)
    net = UNet(img_channels=img_channels, extra_channels=extra_channels, **options)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    return net.reset_parameters(generator)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
