"""HD: a fully convolutional face swapper for 256–1024 px faces (the ``hd-1024`` preset).

SAEHD's dense bottleneck grows with the square of the resolution (a 1024 px ``df`` inter would hold
billions of weights); HD keeps the code a grid instead, as FaceSwap's 1024 px preset does. Layout
``df``: one shared encoder, one decoder per identity, swap = decoder_src(encoder(dst)).

Data flow (NCHW, BGR in [0, 1], R a multiple of 32):

* encoder: Downscale 3→e, e→2e, 2e→4e, 4e→8e, 8e→8e (5×5, stride 2), a residual block, then a 1×1
  conv to ``code_dims`` channels: (N, 3, R, R) → (N, code_dims, R/32, R/32);
* each decoder: Upscale to 8d, 8d, 4d (each followed by a residual block), 2d, then the tail: Upscale
  to d and a 3×3 conv to 3 channels, and a sigmoid → (N, 3, R, R); its mask branch (own weights):
  Upscales 8m, 4m, 2m, m, then the tail: Upscale m and a 1×1 conv, and a sigmoid → (N, 1, R, R) (all
  ones when ``d_mask_dims`` is 0).

Every stage is its own module, listed by :meth:`HD.checkpoint_blocks` for activation checkpointing.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from recast.models.base import FaceSwapModel, TrainOutputs
from recast.models.blocks import Downscale, ResidualBlock, Upscale, glorot_init
from recast.models.hd_config import HDConfig


class HDEncoder(nn.Module):
    """(N, 3, R, R) → (N, code_dims, R/32, R/32): five Downscales, a residual block, a 1×1 conv."""

    def __init__(self, e_dims: int, code_dims: int) -> None:
        super().__init__()
        chans = [3, e_dims, 2 * e_dims, 4 * e_dims, 8 * e_dims, 8 * e_dims]
        self.stages = nn.Sequential(*[Downscale(a, b) for a, b in itertools.pairwise(chans)],
                                    ResidualBlock(chans[-1]), nn.Conv2d(chans[-1], code_dims, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)


class HDDecoder(nn.Module):
    """(N, code_dims, S, S) → image (N, 3, 32S, 32S) and mask (N, 1, 32S, 32S), both in [0, 1].

    Each branch ends in a ``*_tail``: its last Upscale and its head conv in one module, so activation
    checkpointing keeps only the tail's half-resolution input, not the full-resolution maps the head reads.
    """

    def __init__(self, code_dims: int, d_dims: int, m_dims: int) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        prev = code_dims
        for index, mult in enumerate((8, 8, 4, 2)):
            stages.append(Upscale(prev, mult * d_dims))
            prev = mult * d_dims
            if index < 3:
                stages.append(ResidualBlock(prev))
        self.image_stages = nn.Sequential(*stages)
        self.image_tail = nn.Sequential(Upscale(prev, d_dims), nn.Conv2d(d_dims, 3, 3, padding=1))
        self.has_mask = m_dims > 0
        if self.has_mask:
            mask_chans = [code_dims, 8 * m_dims, 4 * m_dims, 2 * m_dims, m_dims]
            self.mask_stages = nn.Sequential(*[Upscale(a, b) for a, b in itertools.pairwise(mask_chans)])
            self.mask_tail = nn.Sequential(Upscale(m_dims, m_dims), nn.Conv2d(m_dims, 1, 1))

    def forward_image(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.image_tail(self.image_stages(z)))

    def forward_mask(self, z: torch.Tensor) -> torch.Tensor:
        if not self.has_mask:
            side = z.shape[-1] * 32
            return z.new_ones(z.shape[0], 1, side, side)
        return torch.sigmoid(self.mask_tail(self.mask_stages(z)))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_image(z), self.forward_mask(z)

    def blocks(self) -> list[nn.Module]:
        """The stages worth checkpointing: every Upscale and residual block of both branches, and their tails."""
        mask = [*self.mask_stages, self.mask_tail] if self.has_mask else []
        return [*self.image_stages, self.image_tail, *mask]


class HD(FaceSwapModel):
    """HD model (shared convolutional encoder, two decoders with learned masks); see the module docstring."""

    family = "hd"

    def __init__(self, config: HDConfig) -> None:
        config.validate()
        super().__init__(config)
        self.encoder = HDEncoder(config.e_dims, config.code_dims)
        self.decoder_src = HDDecoder(config.code_dims, config.d_dims, config.d_mask_dims)
        self.decoder_dst = HDDecoder(config.code_dims, config.d_dims, config.d_mask_dims)
        glorot_init(self)

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, with_swap: bool = False,
                morph_factor: float = 0.5) -> TrainOutputs:
        """Reconstruct src and dst through their own decoders; the swap (detached code) when ``with_swap``."""
        n = warped_src.shape[0]
        code = self.encoder(torch.cat([warped_src, warped_dst]))
        src_code, dst_code = code[:n], code[n:]
        swap: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)
        if with_swap:
            swap = self.decoder_src(dst_code.detach())
        src_face, src_mask = self.decoder_src(src_code)
        dst_face, dst_mask = self.decoder_dst(dst_code)
        return TrainOutputs(src_face, src_mask, dst_face, dst_mask, *swap)

    def swap(self, dst: torch.Tensor, morph: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst faces (N, 3, R, R) → (swapped face, src-decoder mask, dst-decoder mask)."""
        code = self.encoder(dst)
        face, mask = self.decoder_src(code)
        return face, mask, self.decoder_dst.forward_mask(code)

    def swap_face(self, dst: torch.Tensor, morph: float = 1.0) -> torch.Tensor:
        """Only the swapped face of :meth:`swap` (the mask branches are skipped)."""
        return self.decoder_src.forward_image(self.encoder(dst))

    def checkpoint_blocks(self) -> list[nn.Module]:
        """Every encoder stage and every decoder Upscale / residual block and tail (:class:`HDDecoder`)."""
        return [*self.encoder.stages, *self.decoder_src.blocks(), *self.decoder_dst.blocks()]
