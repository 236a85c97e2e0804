"""Building blocks shared by the DeepFaceLab-style autoencoders (SAEHD, Quick96, AMP).

All modules work on NCHW float tensors. Conventions follow DeepFaceLab's DeepFakeArchi:

* *Downscale*: k×k conv, stride 2, "same" zero padding, then the activation.
* *Upscale*: 3×3 conv to 4·C_out channels, activation, pixel shuffle ×2.
* *ResidualBlock*: y = act(conv(x)); y = conv(y); out = act(x + y) with LeakyReLU(0.2).
* Activations are LeakyReLU(0.1) (0.2 in residual blocks), or x·cos(x) for the ``c`` variant.

Weights use Glorot-uniform initialisation and zero biases, as DeepFaceLab's Keras-style layers do.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F


class CosAct(nn.Module):
    """x·cos(x), DeepFaceLab's ``c`` archi activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.cos(x)


def make_act(use_cos: bool, slope: float = 0.1) -> nn.Module:
    """LeakyReLU(slope), or x·cos(x) when ``use_cos``."""
    return CosAct() if use_cos else nn.LeakyReLU(slope)


def glorot_init(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every Conv2d / Linear / ConvTranspose2d inside."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class Downscale(nn.Module):
    """(N, C_in, H, W) → (N, C_out, H/2, W/2): k×k conv stride 2 + activation."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 5, use_cos: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=2, padding=kernel // 2)
        self.act = make_act(use_cos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class Upscale(nn.Module):
    """(N, C_in, H, W) → (N, C_out, 2H, 2W): 3×3 conv to 4·C_out, activation, pixel shuffle."""

    def __init__(self, c_in: int, c_out: int, use_cos: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out * 4, 3, padding=1)
        self.act = make_act(use_cos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.act(self.conv(x)), 2)


class ResidualBlock(nn.Module):
    """(N, C, H, W) → same shape: two 3×3 convs with a skip, LeakyReLU(0.2) (or x·cos(x))."""

    def __init__(self, channels: int, use_cos: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act1 = make_act(use_cos, 0.2)
        self.act2 = make_act(use_cos, 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act1(self.conv1(x)))
        return self.act2(x + y)


def pixel_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Normalise each row of a (N, F) tensor to unit RMS: x / sqrt(mean(x²) + eps)."""
    return x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + eps)


class Encoder(nn.Module):
    """(N, 3, R, R) BGR in [0, 1] → (N, F) flat code (NCHW flatten order).

    Default: four Downscales e → 2e → 4e → 8e, output R/16. ``deep`` (archi ``t``): Down e, Res e,
    Down 2e, 4e, 8e, 8e, Res 8e, output R/32. ``pixelnorm`` (archi ``u``) normalises the flat code.
    """

    def __init__(self, e_dims: int, deep: bool, pixelnorm: bool, use_cos: bool) -> None:
        super().__init__()
        e = e_dims
        if deep:
            layers: list[nn.Module] = [
                Downscale(3, e, use_cos=use_cos), ResidualBlock(e, use_cos),
                Downscale(e, 2 * e, use_cos=use_cos), Downscale(2 * e, 4 * e, use_cos=use_cos),
                Downscale(4 * e, 8 * e, use_cos=use_cos), Downscale(8 * e, 8 * e, use_cos=use_cos),
                ResidualBlock(8 * e, use_cos),
            ]
        else:
            chans = [3, e, 2 * e, 4 * e, 8 * e]
            layers = [Downscale(a, b, use_cos=use_cos) for a, b in itertools.pairwise(chans)]
        self.body = nn.Sequential(*layers)
        self.pixelnorm = pixelnorm
        self.out_channels = 8 * e
        self.downscale = 32 if deep else 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.body(x), 1)
        return pixel_norm(x) if self.pixelnorm else x


class Inter(nn.Module):
    """(N, F) → (N, ae_out, L', L'): Dense(F→ae), Dense(ae→L²·ae_out), reshape, optional Upscale.

    Both dense layers are linear (no activation), as in DeepFaceLab. L' = 2L with ``upscale``.
    """

    def __init__(self, in_features: int, ae_dims: int, ae_out: int, lowest: int, upscale: bool,
                 use_cos: bool) -> None:
        super().__init__()
        self.dense1 = nn.Linear(in_features, ae_dims)
        self.dense2 = nn.Linear(ae_dims, lowest * lowest * ae_out)
        self.up = Upscale(ae_out, ae_out, use_cos) if upscale else nn.Identity()
        self.ae_out = ae_out
        self.lowest = lowest

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(x))
        x = x.view(-1, self.ae_out, self.lowest, self.lowest)
        return self.up(x)


class Decoder(nn.Module):
    """(N, C_in, S, S) code → image (N, 3, R, R) in [0, 1] and mask (N, 1, R, R) in [0, 1].

    Image branch: Up+Res stages with ``d`` channels 8d, 4d, 2d (``deep``: 8d, 8d, 4d, 2d), then a 1×1
    conv to 3, or with ``double`` (archi ``d``) four parallel heads → 12 channels → pixel shuffle ×2,
    which doubles the output size at the same cost. Mask branch (own weights, ``m`` channels, absent
    when ``m_dims`` is 0): Ups 8m, 4m, 2m (``deep``: 8m, 8m, 4m, 2m), plus m with ``double``, 1×1 → 1.
    """

    def __init__(self, c_in: int, d_dims: int, m_dims: int, deep: bool, double: bool, use_cos: bool) -> None:
        super().__init__()
        d, m = d_dims, m_dims
        mults = [8, 8, 4, 2] if deep else [8, 4, 2]
        stages: list[nn.Module] = []
        prev = c_in
        for mult in mults:
            stages += [Upscale(prev, mult * d, use_cos), ResidualBlock(mult * d, use_cos)]
            prev = mult * d
        self.image_body = nn.Sequential(*stages)
        self.feature_channels = prev
        self.double_res = double  # not `double`: that would shadow nn.Module.double()
        if double:
            self.heads = nn.ModuleList(
                [nn.Conv2d(prev, 3, 1)] + [nn.Conv2d(prev, 3, 3, padding=1) for _ in range(3)]
            )
        else:
            self.head = nn.Conv2d(prev, 3, 1)
        self.has_mask = m > 0
        if self.has_mask:
            mask_chans = [c_in] + [mult * m for mult in mults] + ([m] if double else [])
            self.mask_body = nn.Sequential(
                *[Upscale(a, b, use_cos) for a, b in itertools.pairwise(mask_chans)]
            )
            self.mask_head = nn.Conv2d(mask_chans[-1], 1, 1)

    def forward_features(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The image branch's last features (N, ``feature_channels``, R or R/2, …) and the image."""
        x = self.image_body(z)
        y = F.pixel_shuffle(torch.cat([head(x) for head in self.heads], dim=1), 2) if self.double_res else self.head(x)
        return x, torch.sigmoid(y)

    def forward_image(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward_features(z)[1]

    def forward_mask(self, z: torch.Tensor) -> torch.Tensor:
        if not self.has_mask:
            size = z.shape[-1] * (2 ** (len(self.image_body) // 2)) * (2 if self.double_res else 1)
            return z.new_ones(z.shape[0], 1, size, size)
        return torch.sigmoid(self.mask_head(self.mask_body(z)))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_image(z), self.forward_mask(z)
