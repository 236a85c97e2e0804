"""XSeg: DeepFaceLab's face-segmentation network (``deepfacelab-facts.md`` §10), and a CPU-sized variant.

Input: faces ``(N, 3, 256, 256)`` float32 BGR in [0, 1], cropped as the config's face type.
Output: mask logits ``(N, 1, 256, 256)`` (the sigmoid gives the face mask; :meth:`XSeg.mask`).

Layers, top to bottom:

* :class:`FRN` (filter response normalisation, learnable ε) and :class:`TLU` (learned threshold);
  a :class:`ConvBlock` is 3×3 conv → FRN → TLU (or → batch norm → ReLU for ``norm="bn"``), or the
  same with a 3×3 stride-2 transposed conv for upsampling;
* :class:`BlurPool`: stride-2 depthwise binomial filter (anti-aliased downsampling), kernel sizes
  4, 3, 2, 2, 2, 2 down the levels;
* :class:`XSeg`: six encoder levels (widths 1, 2, 4, 8, 8, 8 × ``base_dims``), a dense bottleneck
  at ``inner_resolution / 64`` px, and a decoder that upsamples and concatenates each skip.

With ``inner_resolution`` below 256 the input is area-downscaled first and the logits are
upscaled back (bilinear), so every variant keeps the 256 px contract.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from recast.models.xseg_config import XSEG_LEVELS, XSEG_RESOLUTION, XSegConfig

_DFL_BLOCKS = (2, 2, 2, 3, 3, 3)
_WIDTHS = (1, 2, 4, 8, 8, 8)
_POOL_KERNELS = (4, 3, 2, 2, 2, 2)


class FRN(nn.Module):
    """Filter response normalisation: ``γ · x / √(mean_hw(x²) + |ε|) + β`` per channel, (N, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = nn.Parameter(torch.full((1,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nu2 = x.pow(2).mean(dim=(2, 3), keepdim=True)
        return x * torch.rsqrt(nu2 + self.eps.abs()) * self.weight + self.bias


class TLU(nn.Module):
    """Thresholded linear unit ``max(x, τ)`` with a learned τ per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.tau = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, self.tau)


class ConvBlock(nn.Module):
    """(N, C_in, H, W) → (N, C_out, H, W): 3×3 conv → FRN → TLU (``norm="frn"``) or → BN → ReLU (``"bn"``).

    ``up``: a 3×3 stride-2 transposed conv instead, (N, C_in, H, W) → (N, C_out, 2H, 2W).
    """

    def __init__(self, c_in: int, c_out: int, norm: str = "frn", up: bool = False) -> None:
        super().__init__()
        bias = norm == "frn"
        self.conv: nn.Conv2d | nn.ConvTranspose2d = (
            nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=bias) if up
            else nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias))
        self.norm: nn.Module = FRN(c_out) if norm == "frn" else _BatchNorm(c_out)
        self.act: nn.Module = TLU(c_out) if norm == "frn" else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))

    def fold_batch_norm(self) -> None:
        """Eval mode only: fold a BatchNorm into the conv's weights and bias (same outputs, one op less)."""
        if isinstance(self.norm, nn.BatchNorm2d):
            transpose = isinstance(self.conv, nn.ConvTranspose2d)
            self.conv = fuse_conv_bn_eval(self.conv, self.norm, transpose=transpose)
            self.norm = nn.Identity()


class BlurPool(nn.Module):
    """(N, C, H, W) → (N, C, H/2, W/2): depthwise binomial blur of ``kernel`` taps (2–4), stride 2."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        taps = torch.tensor([math.comb(kernel - 1, i) for i in range(kernel)], dtype=torch.float32)
        weight = taps[:, None] * taps[None, :]
        self.register_buffer("weight", (weight / weight.sum()).expand(channels, 1, kernel, kernel).clone(),
                             persistent=False)
        self.channels = channels
        self.pad = ((kernel - 1) // 2, kernel // 2, (kernel - 1) // 2, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.pad, mode="reflect") if any(self.pad) else x
        return F.conv2d(x, self.weight, stride=2, groups=self.channels)  # type: ignore[arg-type]


class _BatchNorm(nn.BatchNorm2d):
    """BatchNorm2d without its int64 batch counter (unused at a fixed momentum), so every saved tensor is
    float32; it loads plain state dicts (no ``_metadata``) without asking for the counter back."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.num_batches_tracked = None

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict,  # type: ignore[override]
                              *args: object) -> None:
        super()._load_from_state_dict(state_dict, prefix, {**local_metadata, "version": self._version},
                                      *args)  # type: ignore[arg-type]


def _stage(c_in: int, c_out: int, count: int, norm: str) -> nn.Sequential:
    return nn.Sequential(*[ConvBlock(c_in if i == 0 else c_out, c_out, norm) for i in range(count)])


class XSeg(nn.Module):
    """The segmentation net of ``config`` (see the module docstring); ``forward`` gives logits."""

    family = "xseg"

    def __init__(self, config: XSegConfig) -> None:
        super().__init__()
        self.config = config
        base = config.base_dims
        widths = [base * w for w in _WIDTHS]
        blocks = _DFL_BLOCKS if config.blocks == "dfl" else (1,) * XSEG_LEVELS
        self.encoder = nn.ModuleList()
        self.pools = nn.ModuleList()
        c_in = 3
        for level in range(XSEG_LEVELS):
            self.encoder.append(_stage(c_in, widths[level], blocks[level], config.norm))
            self.pools.append(BlurPool(widths[level], _POOL_KERNELS[level]))
            c_in = widths[level]
        self.bottom = config.inner_resolution // 2**XSEG_LEVELS
        flat = self.bottom * self.bottom * widths[-1]
        self.dense1 = nn.Linear(flat, 2 * widths[-1])
        self.dense2 = nn.Linear(2 * widths[-1], flat)
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        c_in = widths[-1]
        for level in reversed(range(XSEG_LEVELS)):
            up_out = widths[min(level, 2)]
            self.up.append(ConvBlock(c_in, up_out, config.norm, up=True))
            self.decoder.append(_stage(up_out + widths[level], widths[level], blocks[level], config.norm))
            c_in = widths[level]
        self.out = nn.Conv2d(widths[0], 1, 3, padding=1)

    @property
    def resolution(self) -> int:
        return XSEG_RESOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Faces (N, 3, 256, 256) BGR in [0, 1] → mask logits (N, 1, 256, 256)."""
        inner = self.config.inner_resolution
        if inner != XSEG_RESOLUTION:
            x = F.avg_pool2d(x, XSEG_RESOLUTION // inner)
        skips = []
        for stage, pool in zip(self.encoder, self.pools, strict=True):
            x = stage(x)
            skips.append(x)
            x = pool(x)
        shape = x.shape
        x = self.dense2(self.dense1(x.flatten(1))).view(-1, shape[1], shape[2], shape[3])
        for up, stage, skip in zip(self.up, self.decoder, reversed(skips), strict=True):
            x = stage(torch.cat([up(x), skip], dim=1))
        logits = self.out(x)
        if inner != XSEG_RESOLUTION:
            logits = F.interpolate(logits, size=(XSEG_RESOLUTION, XSEG_RESOLUTION), mode="bilinear",
                                   align_corners=False)
        return logits

    def fold_batch_norm(self) -> XSeg:
        """For inference (puts the model in eval mode): fold every BatchNorm into its conv; returns self."""
        self.eval()
        for module in self.modules():
            if isinstance(module, ConvBlock):
                module.fold_batch_norm()
        return self

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """Faces (N, 3, 256, 256) → masks (N, 1, 256, 256) in [0, 1]."""
        return torch.sigmoid(self.forward(x))
