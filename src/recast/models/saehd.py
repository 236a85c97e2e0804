"""SAEHD: DeepFaceLab's main autoencoder, in the ``df`` and ``liae`` layouts with u/d/t/c variants.

* ``df``: shared encoder and inter, one decoder per identity. swap = dec_src(inter(enc(dst))).
* ``liae``: shared encoder and decoder, two inters (AB for both identities, B for dst only).
  src code = [AB(src), AB(src)], dst code = [B(dst), AB(dst)], swap code = [AB(dst), AB(dst)].

Variant letters after ``-``: ``u`` pixel-norms the encoder code, ``d`` decodes at half resolution
and doubles with a shuffled 4-head output, ``t`` makes encoder and decoder one stage deeper,
``c`` swaps every activation for x·cos(x).

With ``growth`` the model grows its output size while it trains (:mod:`recast.models.growth`):
it is built at the first growth size, its encoder sees its input resized to that size, and each
decoder gets a tail of larger stages faded in one after another at budget fractions.

Inputs and outputs are NCHW float tensors, BGR in [0, 1]. Quick96 and the ``cpu`` presets are SAEHD
models with particular configs (see ``recast.models.registry``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recast.models.base import FaceSwapModel, TrainChoices, TrainOutputs
from recast.models.blocks import Decoder, Encoder, Inter, glorot_init
from recast.models.growth import GrowthSchedule, GrowthState, GrowthTail, Progress, resize
from recast.models.saehd_config import SAEHDConfig, parse_archi


class SAEHD(FaceSwapModel):
    """SAEHD autoencoder (df or liae layout); see the module docstring for the data flow."""

    family = "saehd"

    def __init__(self, config: SAEHDConfig) -> None:
        config.validate()
        super().__init__(config)
        self.layout, letters = parse_archi(config.archi)
        deep, double, use_cos = "t" in letters, "d" in letters, "c" in letters
        res = self.base_resolution = config.growth[0] if config.growth else config.resolution
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
        self.schedule: GrowthSchedule | None = None
        if config.growth:
            self.schedule = GrowthSchedule.evenly([*config.growth, config.resolution], config.growth_at)
            channels, sizes = max(8, config.d_dims // 2), list(self.schedule.sizes[1:])
            if self.layout == "df":
                self.tail_src = GrowthTail(self.decoder_src.feature_channels, channels, sizes)
                self.tail_dst = GrowthTail(self.decoder_dst.feature_channels, channels, sizes)
            else:
                self.tail = GrowthTail(self.decoder.feature_channels, channels, sizes)
            self.register_buffer("growth_state", torch.tensor([0.0, 1.0, 0.0]))
        glorot_init(self)

    @property
    def inter_prefixes(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("inter.",) if self.layout == "df" else ("inter_AB.", "inter_B.")

    @property
    def supports_true_face(self) -> bool:  # type: ignore[override]
        return self.layout == "df"

    # ------------------------------------------------------------------------------ growth
    def _growth(self) -> GrowthState:
        if self.schedule is None:
            return GrowthState()
        stage, alpha, since = self.get_buffer("growth_state").tolist()
        return GrowthState(int(stage), alpha, int(since))

    @property
    def train_resolution(self) -> int:
        return self.schedule.sizes[self._growth().stage] if self.schedule is not None else self.resolution

    def advance(self, progress: Progress) -> str | None:
        """Grow (and fade in) by the schedule; returns a message when the size changes or a fade ends."""
        if self.schedule is None:
            return None
        old = self._growth()
        new = self.schedule.next_state(old, progress)
        if new == old:
            return None
        self.set_growth(new)
        if new.stage != old.stage:
            return (f"grew to {self.schedule.sizes[new.stage]} px at iteration {progress.iteration} "
                    f"(stage {new.stage + 1} of {len(self.schedule.sizes)}), fading in")
        if new.alpha >= 1.0 > old.alpha:
            return f"the {self.schedule.sizes[new.stage]} px stage is fully faded in"
        return None

    def set_growth(self, state: GrowthState) -> None:
        """Put the model at a growth stage and fade-in α (a growing model only)."""
        assert self.schedule is not None
        values = [float(state.stage), float(state.alpha), float(state.since)]
        self.get_buffer("growth_state").copy_(torch.tensor(values))

    def training_state(self) -> dict[str, Any]:
        if self.schedule is None:
            return {}
        state = self._growth()
        return {"growth": {"sizes": list(self.schedule.sizes), "at": list(self.schedule.at), "stage": state.stage,
                           "resolution": self.schedule.sizes[state.stage], "alpha": round(state.alpha, 4),
                           "since": state.since}}

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(resize(x, self.base_resolution))

    def _image(self, side: str, code: torch.Tensor) -> torch.Tensor:
        """Decoder ``side``'s image (``"src"``, ``"dst"``, or ``""`` for LIAE's one) at the current growth stage."""
        decoder: Decoder = getattr(self, f"decoder_{side}" if side else "decoder")
        if self.schedule is None:
            return decoder.forward_image(code)
        features, image = decoder.forward_features(code)
        state = self._growth()
        tail: GrowthTail = getattr(self, f"tail_{side}" if side else "tail")
        return tail(features, image, state.stage, state.alpha)  # type: ignore[no-any-return]

    def _mask(self, side: str, code: torch.Tensor) -> torch.Tensor:
        decoder: Decoder = getattr(self, f"decoder_{side}" if side else "decoder")
        return resize(decoder.forward_mask(code), self.train_resolution)

    def _decode(self, side: str, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._image(side, code), self._mask(side, code)

    # ------------------------------------------------------------------------------ training
    def frozen_parameters(self, settings: TrainChoices) -> list[nn.Parameter]:
        """DeepFaceLab trains LIAE's inter_AB only while random warp is on."""
        if self.layout == "liae" and not settings.random_warp:
            return list(self.inter_AB.parameters())
        return []

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, with_swap: bool = False,
                morph_factor: float = 0.5) -> TrainOutputs:
        """Reconstruct src and dst (and the swap when ``with_swap``; its code gradient is stopped)."""
        n = warped_src.shape[0]
        enc = self._encode(torch.cat([warped_src, warped_dst]))
        if self.layout == "df":
            code = self.inter(enc)
            src_code, dst_code = code[:n], code[n:]
            src_img, src_mask = self._decode("src", src_code)
            dst_img, dst_mask = self._decode("dst", dst_code)
            swap: tuple[torch.Tensor | None, torch.Tensor | None] = (
                self._decode("src", dst_code.detach()) if with_swap else (None, None))
            return TrainOutputs(src_img, src_mask, dst_img, dst_mask, *swap, src_code=src_code, dst_code=dst_code)
        ab = self.inter_AB(enc)
        ab_src, ab_dst = ab[:n], ab[n:]
        b_dst = self.inter_B(enc[n:])
        src_code = torch.cat([ab_src, ab_src], dim=1)
        dst_code = torch.cat([b_dst, ab_dst], dim=1)
        img, mask = self._decode("", torch.cat([src_code, dst_code]))
        swap = (None, None)
        if with_swap:
            swap_code = torch.cat([ab_dst, ab_dst], dim=1).detach()
            swap = self._decode("", swap_code)
        return TrainOutputs(img[:n], mask[:n], img[n:], mask[n:], *swap)

    def swap(self, dst: torch.Tensor, morph: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst faces → (swapped face, src-decoder mask, dst-decoder mask) at :attr:`resolution`; ``morph`` is
        ignored. A growing model's current size is resized to the final one."""
        enc = self._encode(dst)
        if self.layout == "df":
            code = self.inter(enc)
            face, src_mask = self._decode("src", code)
            dst_mask = self._mask("dst", code)
        else:
            ab = self.inter_AB(enc)
            face, src_mask = self._decode("", torch.cat([ab, ab], dim=1))
            dst_mask = self._mask("", torch.cat([self.inter_B(enc), ab], dim=1))
        return resize(face, self.resolution), resize(src_mask, self.resolution), resize(dst_mask, self.resolution)

    def checkpoint_blocks(self) -> list[nn.Module]:
        """Every encoder stage, the inters, and every decoder Upscale / residual stage of both branches (the
        decoders run through ``forward_image`` / ``forward_mask``, so their stages, not the decoders, are
        called); a growing model's tails are left as they are."""
        decoders = [self.decoder_src, self.decoder_dst] if self.layout == "df" else [self.decoder]
        inters = [self.inter] if self.layout == "df" else [self.inter_AB, self.inter_B]
        stages = [stage for d in decoders for stage in [*d.image_body, *(d.mask_body if d.has_mask else [])]]
        return [*self.encoder.body, *inters, *stages]

    def swap_face(self, dst: torch.Tensor, morph: float = 1.0) -> torch.Tensor:
        """Only the swapped face of :meth:`swap` (the mask decoders are skipped)."""
        enc = self._encode(dst)
        if self.layout == "df":
            return resize(self._image("src", self.inter(enc)), self.resolution)
        ab = self.inter_AB(enc)
        return resize(self._image("", torch.cat([ab, ab], dim=1)), self.resolution)
