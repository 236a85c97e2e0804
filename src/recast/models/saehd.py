"""SAEHD: DeepFaceLab's main autoencoder, in the ``df`` and ``liae`` layouts with u/d/t/c variants.

* ``df``: shared encoder and inter, one decoder per identity. swap = dec_src(inter(enc(dst))).
* ``liae``: shared encoder and decoder, two inters (AB for both identities, B for dst only).
  src code = [AB(src), AB(src)], dst code = [B(dst), AB(dst)], swap code = [AB(dst), AB(dst)].

Variant letters after ``-``: ``u`` pixel-norms the encoder code, ``d`` decodes at half resolution
and doubles with a shuffled 4-head output, ``t`` makes encoder and decoder one stage deeper,
``c`` swaps every activation for x·cos(x).

Inputs and outputs are NCHW float tensors, BGR in [0, 1]. Quick96 and the ``cpu`` preset are SAEHD
models with particular configs (see ``recast.models.registry``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from recast.models.base import FaceSwapModel, TrainOutputs
from recast.models.blocks import Decoder, Encoder, Inter, glorot_init
from recast.models.saehd_config import SAEHDConfig, parse_archi

if TYPE_CHECKING:
    from recast.train.options import TrainSettings


class SAEHD(FaceSwapModel):
    """SAEHD autoencoder (df or liae layout); see the module docstring for the data flow."""

    family = "saehd"

    def __init__(self, config: SAEHDConfig) -> None:
        config.validate()
        super().__init__(config)
        self.layout, letters = parse_archi(config.archi)
        deep, double, use_cos = "t" in letters, "d" in letters, "c" in letters
        res = config.resolution
        self.encoder = Encoder(config.e_dims, deep=deep, pixelnorm="u" in letters, use_cos=use_cos)
        enc_res = res // self.encoder.downscale
        flat = self.encoder.out_channels * enc_res * enc_res
        lowest = res // 32 if double else res // 16
        if self.layout == "df":
            self.inter = Inter(flat, config.ae_dims, config.ae_dims, lowest, not deep, use_cos)
            dec_in = config.ae_dims
            self.decoder_src = Decoder(dec_in, config.d_dims, config.d_mask_dims, deep, double, use_cos)
            self.decoder_dst = Decoder(dec_in, config.d_dims, config.d_mask_dims, deep, double, use_cos)
        else:
            self.inter_AB = Inter(flat, config.ae_dims, 2 * config.ae_dims, lowest, not deep, use_cos)
            self.inter_B = Inter(flat, config.ae_dims, 2 * config.ae_dims, lowest, not deep, use_cos)
            self.decoder = Decoder(4 * config.ae_dims, config.d_dims, config.d_mask_dims, deep, double, use_cos)
        glorot_init(self)

    @property
    def inter_prefixes(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("inter.",) if self.layout == "df" else ("inter_AB.", "inter_B.")

    @property
    def supports_true_face(self) -> bool:  # type: ignore[override]
        return self.layout == "df"

    def frozen_parameters(self, settings: TrainSettings) -> list[nn.Parameter]:
        """DeepFaceLab trains LIAE's inter_AB only while random warp is on."""
        if self.layout == "liae" and not settings.random_warp:
            return list(self.inter_AB.parameters())
        return []

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, with_swap: bool = False,
                morph_factor: float = 0.5) -> TrainOutputs:
        """Reconstruct src and dst (and the swap when ``with_swap``; its code gradient is stopped)."""
        n = warped_src.shape[0]
        enc = self.encoder(torch.cat([warped_src, warped_dst]))
        if self.layout == "df":
            code = self.inter(enc)
            src_code, dst_code = code[:n], code[n:]
            src_img, src_mask = self.decoder_src(src_code)
            dst_img, dst_mask = self.decoder_dst(dst_code)
            swap: tuple[torch.Tensor | None, torch.Tensor | None] = (
                self.decoder_src(dst_code.detach()) if with_swap else (None, None))
            return TrainOutputs(src_img, src_mask, dst_img, dst_mask, *swap, src_code=src_code, dst_code=dst_code)
        ab = self.inter_AB(enc)
        ab_src, ab_dst = ab[:n], ab[n:]
        b_dst = self.inter_B(enc[n:])
        src_code = torch.cat([ab_src, ab_src], dim=1)
        dst_code = torch.cat([b_dst, ab_dst], dim=1)
        img, mask = self.decoder(torch.cat([src_code, dst_code]))
        swap = (None, None)
        if with_swap:
            swap_code = torch.cat([ab_dst, ab_dst], dim=1).detach()
            swap = self.decoder(swap_code)
        return TrainOutputs(img[:n], mask[:n], img[n:], mask[n:], *swap)

    def swap(self, dst: torch.Tensor, morph: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst faces → (swapped face, src-decoder mask, dst-decoder mask); ``morph`` is ignored."""
        enc = self.encoder(dst)
        if self.layout == "df":
            code = self.inter(enc)
            face, src_mask = self.decoder_src(code)
            return face, src_mask, self.decoder_dst.forward_mask(code)
        ab = self.inter_AB(enc)
        face, src_mask = self.decoder(torch.cat([ab, ab], dim=1))
        dst_mask = self.decoder.forward_mask(torch.cat([self.inter_B(enc), ab], dim=1))
        return face, src_mask, dst_mask

    def swap_face(self, dst: torch.Tensor, morph: float = 1.0) -> torch.Tensor:
        """Only the swapped face of :meth:`swap` (the mask decoders are skipped)."""
        enc = self.encoder(dst)
        if self.layout == "df":
            return self.decoder_src.forward_image(self.inter(enc))
        ab = self.inter_AB(enc)
        return self.decoder.forward_image(torch.cat([ab, ab], dim=1))
