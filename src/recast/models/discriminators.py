"""Discriminators for the optional adversarial losses (GAN power, true-face power).

* :class:`UNetPatchDiscriminator`: images (N, 3, R, R) in [0, 1] → (centre logits (N, 1, r, r),
  full-resolution logits (N, 1, R, R)); layer strides chosen so the receptive field matches the
  requested patch size (as in "A U-Net Based Discriminator for GANs", arXiv 2002.12655).
* :class:`CodeDiscriminator`: inter codes (N, C, S, S) → logits; tells src codes from dst codes.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from recast.models.blocks import glorot_init


def patch_strides(patch_size: int, max_layers: int = 9) -> list[int]:
    """3×3 conv strides (first always 2) whose receptive field is closest to ``patch_size``.

    Ties go to fewer layers, then to more total stride. E.g. 16 → [2, 2, 2] (RF 15), 32 → [2, 2, 2, 2].
    """
    best: tuple[int, int, int] | None = None
    best_strides: list[int] = [2]
    for n in range(1, max_layers + 1):
        for rest in itertools.product((1, 2), repeat=n - 1):
            strides = [2, *rest]
            rf, jump = 1, 1
            for s in strides:
                rf += 2 * jump
                jump *= s
            key = (abs(rf - patch_size), n, -jump)
            if best is None or key < best:
                best, best_strides = key, strides
    return best_strides


class UNetPatchDiscriminator(nn.Module):
    """U-Net patch discriminator with a centre head and a full-resolution head.

    Input side must be divisible by 2^(number of stride-2 layers).
    """

    def __init__(self, patch_size: int, base: int = 16) -> None:
        super().__init__()
        self.strides = patch_strides(patch_size)
        chans = [min(base * 2 ** (i + 1), 512) for i in range(len(self.strides))]
        self.act = nn.LeakyReLU(0.2)
        self.in_conv = nn.Conv2d(3, base, 1)
        ins = [base, *chans[:-1]]
        self.down = nn.ModuleList(
            [nn.Conv2d(a, b, 3, stride=s, padding=1) for a, b, s in zip(ins, chans, self.strides, strict=True)]
        )
        self.center_out = nn.Conv2d(chans[-1], 1, 1)
        self.center_conv = nn.Conv2d(chans[-1], chans[-1], 1)
        ups = []
        prev = chans[-1]
        for level in reversed(range(len(self.strides))):
            skip = ins[level]
            s = self.strides[level]
            ups.append(nn.ConvTranspose2d(prev, skip, 3, stride=s, padding=1, output_padding=s - 1))
            prev = 2 * skip
        self.up = nn.ModuleList(ups)
        self.out_conv = nn.Conv2d(2 * base, 1, 1)
        glorot_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.act(self.in_conv(x))
        skips = []
        for conv in self.down:
            skips.append(x)
            x = self.act(conv(x))
        center = self.center_out(x)
        x = self.act(self.center_conv(x))
        for upconv, skip in zip(self.up, reversed(skips), strict=True):
            x = torch.cat([self.act(upconv(x)), skip], dim=1)
        return center, self.out_conv(x)


class CodeDiscriminator(nn.Module):
    """(N, C, S, S) code → (N, 1, s, s) logits: 1 + S//8 stride-2 convs (4×4 then 3×3), LeakyReLU 0.1."""

    def __init__(self, in_channels: int, code_res: int, base: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for i in range(1 + code_res // 8):
            out = base * min(2**i, 8)
            kernel = 4 if i == 0 else 3
            layers += [nn.Conv2d(prev, out, kernel, stride=2, padding=1), nn.LeakyReLU(0.1)]
            prev = out
        layers.append(nn.Conv2d(prev, 1, 1))
        self.body = nn.Sequential(*layers)
        glorot_init(self)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.body(code)
