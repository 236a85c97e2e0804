"""AMP ("amplifier / morphable"): one encoder, two inters (src, dst), one shared decoder.

Data flow (NCHW, BGR in [0, 1]):

* encoder: Down e + Res, Down 2e, 4e, 8e, Down 8e + Res → R/32 grid → flatten → pixel-norm →
  Dense → ae_dims code (the dense layer lives inside the encoder);
* inter_src and inter_dst: Dense ae → (R/32)²·inter_dims, reshaped to a grid (no upscale);
* decoder: four Up+Res stages (8d, 8d, 4d, 2d), 4-head shuffled output → R; mask Ups 8m, 8m, 4m, 2m, m.

Training mixes codes per sample: src code = inter_src(enc(src))·B + inter_dst(enc(src))·(1−B), with
B a random channel mask holding exactly ``int(inter_dims·morph_factor)`` ones; dst code =
inter_dst(enc(dst)). At inference, ``swap(dst, morph=v)`` takes the first ``int(inter_dims·v)``
channels from inter_src(enc(dst)) and the rest from inter_dst(enc(dst)).

Design decision, on purpose: **the inters train** (``train_inters=True`` by default). DeepFaceLab's
AMP leaves both inters at their random initialisation (its optimiser only sees encoder and decoder,
after two commits that first enabled and then removed inter training), which makes the inters a
fixed random projection and leaves the src/dst split to the encoder and decoder alone. Training
them lets each inter specialise in its identity, which is what the morph slider is meant to blend,
costs nothing extra in the backward pass that the encoder needs anyway, and makes reconstruction
loss fall faster in our tests. ``train_inters=False`` reproduces DeepFaceLab's behaviour.
"""

from __future__ import annotations

import torch
from torch import nn

from recast.models import losses as L
from recast.models.amp_config import AMPConfig
from recast.models.base import EYES_MOUTH_WEIGHT, FaceSwapModel, LossSettings, TrainChoices, TrainOutputs
from recast.models.blocks import Decoder, Downscale, ResidualBlock, glorot_init, pixel_norm


class AMPEncoder(nn.Module):
    """(N, 3, R, R) → (N, ae_dims): five Downscales with two residual blocks, pixel-norm, Dense."""

    def __init__(self, resolution: int, e_dims: int, ae_dims: int) -> None:
        super().__init__()
        e = e_dims
        self.body = nn.Sequential(
            Downscale(3, e), ResidualBlock(e), Downscale(e, 2 * e), Downscale(2 * e, 4 * e),
            Downscale(4 * e, 8 * e), Downscale(8 * e, 8 * e), ResidualBlock(8 * e),
        )
        lowest = resolution // 32
        self.dense = nn.Linear(8 * e * lowest * lowest, ae_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(pixel_norm(torch.flatten(self.body(x), 1)))


class AMPInter(nn.Module):
    """(N, ae_dims) → (N, inter_dims, R/32, R/32): one linear Dense and a reshape."""

    def __init__(self, ae_dims: int, inter_dims: int, lowest: int) -> None:
        super().__init__()
        self.dense = nn.Linear(ae_dims, inter_dims * lowest * lowest)
        self.shape = (inter_dims, lowest, lowest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x).view(-1, *self.shape)


class AMP(FaceSwapModel):
    """AMP model; see the module docstring (including why the inters train)."""

    family = "amp"
    morphable = True
    gan_sides = ("src", "dst")
    inter_prefixes = ("inter_src.", "inter_dst.")

    def __init__(self, config: AMPConfig) -> None:
        config.validate()
        super().__init__(config)
        lowest = config.resolution // 32
        self.encoder = AMPEncoder(config.resolution, config.e_dims, config.ae_dims)
        self.inter_src = AMPInter(config.ae_dims, config.inter_dims, lowest)
        self.inter_dst = AMPInter(config.ae_dims, config.inter_dims, lowest)
        self.decoder = Decoder(config.inter_dims, config.d_dims, config.d_mask_dims, deep=True, double=True,
                               use_cos=False)
        glorot_init(self)
        if not config.train_inters:
            for param in [*self.inter_src.parameters(), *self.inter_dst.parameters()]:
                param.requires_grad_(False)

    def loss_settings(self, settings: TrainChoices) -> LossSettings:
        """AMP always trains masked, with the eyes-and-mouth term and DSSIM at both kernel sizes."""
        return LossSettings(masked=True, eyes_mouth_weight=EYES_MOUTH_WEIGHT, both_kernels=True)

    def extra_losses(self, out: TrainOutputs, target_src: torch.Tensor, target_dst: torch.Tensor,
                     src_loss_mask: torch.Tensor, dst_loss_mask: torch.Tensor) -> list[torch.Tensor]:
        """DeepFaceLab AMP's dst background terms: 0.1 · MSE and 1e-6 · total variation outside the mask."""
        bg = 1 - dst_loss_mask
        return [0.1 * L.per_sample_mse(out.pred_dst_dst * bg, target_dst * bg).mean(),
                1e-6 * L.total_variation_mse(out.pred_dst_dst * bg).mean()]

    def _morph_mask(self, n: int, morph_factor: float, device: torch.device) -> torch.Tensor:
        """(n, C, 1, 1) float mask with exactly int(C·morph_factor) ones per sample, random positions."""
        channels = self.config.inter_dims  # type: ignore[attr-defined]
        keep = int(channels * morph_factor)
        ranks = torch.rand(n, channels, device=device).argsort(dim=1).argsort(dim=1)
        return (ranks < keep).to(torch.float32).view(n, channels, 1, 1)

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, with_swap: bool = False,
                morph_factor: float = 0.5) -> TrainOutputs:
        """Reconstruct src (morph-mixed code) and dst; the swap (morph 1.0) when ``with_swap``."""
        n = warped_src.shape[0]
        enc = self.encoder(torch.cat([warped_src, warped_dst]))
        src_enc, dst_enc = enc[:n], enc[n:]
        mix = self._morph_mask(n, morph_factor, enc.device).to(enc.dtype)
        inter_src_src = self.inter_src(src_enc)
        src_code = inter_src_src * mix + self.inter_dst(src_enc) * (1 - mix)
        dst_code = self.inter_dst(dst_enc)
        img, mask = self.decoder(torch.cat([src_code, dst_code]))
        swap: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)
        if with_swap:
            swap = self.decoder(self.inter_src(dst_enc).detach())
        return TrainOutputs(img[:n], mask[:n], img[n:], mask[n:], *swap)

    def swap(self, dst: torch.Tensor, morph: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst faces → (swapped face, swap mask, dst mask); the first int(C·morph) channels come from src."""
        code, dst_code = self._morph_codes(dst, morph)
        face, swap_mask = self.decoder(code)
        return face, swap_mask, self.decoder.forward_mask(dst_code)

    def swap_face(self, dst: torch.Tensor, morph: float = 1.0) -> torch.Tensor:
        """Only the swapped face of :meth:`swap` (the mask branch is skipped)."""
        return self.decoder.forward_image(self._morph_codes(dst, morph)[0])

    def export_swap(self, dst: torch.Tensor, morph: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """:meth:`swap` with the morph as a graph input: the first ⌊C·morph⌋ code channels from src.

        The channel choice is a 0/1 mask, so ``src·m + dst·(1−m)`` equals the channel slice exactly.
        """
        assert morph is not None, "AMP's exported graph takes morph_value"
        enc = self.encoder(dst)
        src_code, dst_code = self.inter_src(enc), self.inter_dst(enc)
        channels = src_code.shape[1]
        keep = torch.floor(morph.clamp(0.0, 1.0) * channels)
        take = (torch.arange(channels, dtype=torch.float32) < keep).to(src_code.dtype).view(1, channels, 1, 1)
        face, face_mask = self.decoder(src_code * take + dst_code * (1.0 - take))
        return face, face_mask, self.decoder.forward_mask(dst_code)

    def _morph_codes(self, dst: torch.Tensor, morph: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(morphed code: first int(C·morph) channels from inter_src, the rest from inter_dst; dst code)."""
        enc = self.encoder(dst)
        dst_code = self.inter_dst(enc)
        keep = int(self.config.inter_dims * min(max(morph, 0.0), 1.0))  # type: ignore[attr-defined]
        return torch.cat([self.inter_src(enc)[:, :keep], dst_code[:, keep:]], dim=1), dst_code
