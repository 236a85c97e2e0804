"""One training iteration: generator losses and update, then the discriminator updates.

:class:`TrainStep` owns the model, the optional discriminators and their optimisers; calling it with a
batch (see :mod:`recast.train.data`) returns the iteration's losses as floats. Loss weights follow
DeepFaceLab (see :mod:`recast.models.losses`); deliberate differences are noted where they happen.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.utils.checkpoint
from torch import nn

from recast.models import losses as L
from recast.models.base import FaceSwapModel, TrainOutputs
from recast.models.discriminators import CodeDiscriminator, UNetPatchDiscriminator
from recast.models.growth import resize
from recast.runtime.precision import Precision
from recast.train.distributed import DistInfo, average_scalars
from recast.train.optim import LrDropout, clip_grad_norm, create_optimizer, lr_cos_factor
from recast.train.options import TrainSettings


@dataclass
class Part:
    """A trainable module with its optimiser, lr-dropout helper and trainable parameters.

    ``scaler`` is set by :class:`TrainStep` when the step runs in float16 (loss scaling). ``wrapped`` is its
    data-parallel wrapper (:func:`recast.train.distributed.wrap_ddp`; None in one process), whose backward
    averages the gradients over the ranks; :attr:`forward` is what the part's own update calls.
    ``sharded``: the module is sharded with FSDP2 (:mod:`recast.train.sharding`; it averages itself).
    """

    module: nn.Module
    optimizer: torch.optim.Optimizer
    dropout: LrDropout
    params: list[nn.Parameter] = field(default_factory=list)
    scaler: torch.amp.GradScaler | None = None
    wrapped: nn.Module | None = None
    sharded: bool = False

    @property
    def forward(self) -> nn.Module:
        """The data-parallel wrapper, or the module itself."""
        return self.wrapped if self.wrapped is not None else self.module

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)


_TARGETS = ("src_target", "dst_target", "src_mask", "dst_mask", "src_em", "dst_em")
"""Batch entries resized to the model's :attr:`~recast.models.base.FaceSwapModel.train_resolution`."""

FLOAT32 = Precision(None, "default")
"""Plain float32 steps (the default of :class:`TrainStep`)."""


def make_part(module: nn.Module, settings: TrainSettings, device: torch.device, seed: int,
              sharded: bool = False) -> Part:
    """The part training ``module`` (already sharded when ``sharded``: its optimiser then holds shards)."""
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = create_optimizer(settings.optimizer, params, settings.lr, device)
    keep = settings.effective().lr_dropout
    return Part(module, optimizer, LrDropout(params, keep, seed), params, sharded=sharded)


def make_gan_discriminator(model: FaceSwapModel, settings: TrainSettings) -> UNetPatchDiscriminator:
    patch = settings.gan_patch_size or max(4, model.resolution // 8)
    return UNetPatchDiscriminator(patch, settings.gan_dims)


def make_code_discriminator(model: FaceSwapModel, device: torch.device) -> CodeDiscriminator:
    with torch.no_grad():
        probe = torch.zeros(1, 3, model.resolution, model.resolution, device=device)
        code = model(probe, probe).src_code
    assert code is not None
    return CodeDiscriminator(code.shape[1], code.shape[-1])


class TrainStep:
    """Runs iterations for ``model`` (and ``gan`` / ``code`` discriminator parts when enabled).

    ``precision`` (:func:`recast.runtime.precision.choose_precision`) sets the autocast dtype of the
    forward passes; in float16 every part's gradients are loss-scaled (``torch.amp.GradScaler``), since
    float16's narrow exponent flushes small gradients to zero. bfloat16 needs no scaling.
    ``checkpoint_losses`` (``--checkpoint-activations``): each side's reconstruction loss runs under
    ``torch.utils.checkpoint``, so backward keeps its inputs instead of its intermediates (at 1024 px the
    DSSIM alone saves about 1 GB per sample) and recomputes it.
    """

    def __init__(self, model: Part, settings: TrainSettings, dist_info: DistInfo, device: torch.device,
                 gan: Part | None = None, code: Part | None = None, precision: Precision = FLOAT32,
                 checkpoint_losses: bool = False) -> None:
        self.model_part, self.gan, self.code = model, gan, code
        self.checkpoint_losses = checkpoint_losses
        self.model: FaceSwapModel = model.module  # type: ignore[assignment]
        self.settings = settings
        self.dist, self.device = dist_info, device
        self.base_lr = settings.lr
        self.forward: nn.Module = model.forward
        self.precision = precision
        if precision.loss_scaling:
            for part in (model, gan, code):
                if part is not None:
                    part.scaler = torch.amp.GradScaler(device.type)

    def _backward(self, part: Part, loss: torch.Tensor) -> None:
        (part.scaler.scale(loss) if part.scaler is not None else loss).backward()

    def _update(self, part: Part, step: int) -> None:
        s = self.settings.effective()
        if part.scaler is not None:
            part.scaler.unscale_(part.optimizer)
        clip_grad_norm(part.params, s.clip_grad)
        factor = lr_cos_factor(step, s.lr_cos_period) if s.lr_dropout < 1 else 1.0
        for group in part.optimizer.param_groups:
            group["lr"] = self.base_lr * factor
        part.dropout.remember()
        if part.scaler is not None:
            part.scaler.step(part.optimizer)  # skipped when the unscaled gradients hold inf/NaN
            part.scaler.update()
        else:
            part.optimizer.step()
        part.dropout.apply(step)

    def __call__(self, batch: dict[str, torch.Tensor], iteration: int) -> dict[str, float]:
        s = self.settings.effective()
        res = self.model.train_resolution
        b = {k: v.to(self.device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        for key in _TARGETS:  # a growing model trains below the sample size for a while
            b[key] = resize(b[key], res)
        need_swap = s.face_style_power > 0 or s.bg_style_power > 0
        self.model.train()
        with self.precision.autocast(self.device):
            out = self.forward(b["src_warped"], b["dst_warped"], with_swap=need_swap, morph_factor=s.morph_factor)
        out = TrainOutputs(*cast(list[Any], [None if t is None else t.float() for t in (
            out.pred_src_src, out.pred_src_srcm, out.pred_dst_dst, out.pred_dst_dstm, out.pred_src_dst,
            out.pred_src_dstm, out.src_code, out.dst_code)]))
        target_src, target_dst = b["src_target"], b["dst_target"]
        if s.blur_out_mask:
            target_src = L.blur_out_mask(target_src, b["src_mask"], res)
            target_dst = L.blur_out_mask(target_dst, b["dst_mask"], res)
        loss = self.model.loss_settings(s)
        common = functools.partial(
            L.reconstruction_loss, resolution=res, masked=loss.masked, eyes_mouth_weight=loss.eyes_mouth_weight,
            learn_mask=self.model.has_learned_mask, both_kernels=loss.both_kernels, mask_blur_clip=s.mask_blur_clip)
        if self.checkpoint_losses:  # backward keeps each side's loss inputs only and recomputes the loss
            common = functools.partial(torch.utils.checkpoint.checkpoint, common, use_reentrant=False)
        src_loss, src_lm = common(target_src, out.pred_src_src, b["src_mask"], out.pred_src_srcm, b["src_em"])
        dst_loss, dst_lm = common(target_dst, out.pred_dst_dst, b["dst_mask"], out.pred_dst_dstm, b["dst_em"])
        logs = {"src": float(src_loss.detach().mean()), "dst": float(dst_loss.detach().mean())}
        total = src_loss.mean() + dst_loss.mean()
        for term in self.model.extra_losses(out, target_src, target_dst, src_lm, dst_lm):
            total = total + term
        if s.face_style_power > 0 and out.pred_src_dst is not None:
            assert out.pred_src_dstm is not None  # the swap's mask comes with the swap
            fake = out.pred_src_dst * out.pred_src_dstm.detach()
            real = (out.pred_dst_dst * out.pred_dst_dstm).detach()
            term = 100 * s.face_style_power * L.style_loss(fake, real, res // 8).mean()
            total, logs["face_style"] = total + term, float(term.detach())
        if s.bg_style_power > 0 and out.pred_src_dst is not None:
            assert out.pred_src_dstm is not None
            # DeepFaceLab overwrites this mask with the src target mask (a quirk); we use the swap's own masks.
            m = L.mask_blur((out.pred_src_dstm * out.pred_dst_dstm).detach(), res)
            fake, real = out.pred_src_dst * (1 - m), target_dst * (1 - m)
            weight = 10 * s.bg_style_power / 100
            term = weight * (L.dssim(fake, real, int(res / 11.6)) + L.per_sample_mse(fake, real)).mean()
            total, logs["bg_style"] = total + term, float(term.detach())
        if self.code is not None and s.true_face_power > 0 and out.src_code is not None:
            term = s.true_face_power * L.bce_logits(self.code.module(out.src_code), 1.0).mean()
            total, logs["true_face"] = total + term, float(term.detach())
        gan_pairs = self._gan_pairs(out, target_src, target_dst, src_lm, dst_lm, s)
        if gan_pairs:
            assert self.gan is not None  # _gan_pairs returns [] without a GAN
            term = cast(torch.Tensor, sum(
                L.bce_logits(logit, 1.0).mean() for _, fake in gan_pairs for logit in self.gan.module(fake)))
            total = total + s.gan_power * term
            logs["gan_g"] = float(term.detach())
            if s.masked_training:
                bg = 1 - src_lm
                total = total + 1e-6 * L.total_variation_mse(out.pred_src_src).mean()
                total = total + 0.02 * L.per_sample_mse(out.pred_src_src * bg, target_src * bg).mean()
        part = self.model_part
        part.zero_grad()
        self._backward(part, total)
        for param in self.model.frozen_parameters(s):
            param.grad = None
        self._update(part, iteration)
        if gan_pairs:
            assert self.gan is not None
            logs["gan_d"] = self._discriminator_step(self.gan, [
                (real.detach(), fake.detach()) for real, fake in gan_pairs], iteration)
        if self.code is not None and s.true_face_power > 0 and out.src_code is not None:
            assert out.dst_code is not None  # the codes come in pairs
            logs["code_d"] = self._code_step(out.src_code.detach(), out.dst_code.detach(), iteration)
        logs["total"] = float(total.detach())
        return average_scalars(logs, self.dist, self.device)

    def _gan_pairs(self, out: TrainOutputs, target_src: torch.Tensor, target_dst: torch.Tensor,
                   src_lm: torch.Tensor, dst_lm: torch.Tensor, s: TrainSettings,
                   ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(real, fake) pairs for the patch GAN, one per side in the model's ``gan_sides``; masked when
        training masked."""
        if self.gan is None or s.gan_power <= 0:
            return []
        sides = {"src": (target_src, out.pred_src_src, src_lm), "dst": (target_dst, out.pred_dst_dst, dst_lm)}
        pairs = []
        for side in self.model.gan_sides:
            target, pred, loss_mask = sides[side]
            m = loss_mask if s.masked_training else torch.ones_like(loss_mask)
            pairs.append((target * m, pred * m))
        return pairs

    def _discriminator_step(self, part: Part, pairs: list[tuple[torch.Tensor, torch.Tensor]], step: int) -> float:
        part.zero_grad()
        loss = torch.zeros((), device=self.device)
        for real, fake in pairs:
            for real_logit, fake_logit in zip(part.forward(real), part.forward(fake), strict=True):
                loss = loss + 0.5 * (L.bce_logits(real_logit, 1.0).mean() + L.bce_logits(fake_logit, 0.0).mean())
        loss = loss / len(pairs)
        self._backward(part, loss)
        self._update(part, step)
        return float(loss.detach())

    def _code_step(self, src_code: torch.Tensor, dst_code: torch.Tensor, step: int) -> float:
        part = self.code
        assert part is not None
        part.zero_grad()
        loss = 0.5 * (L.bce_logits(part.forward(dst_code), 1.0).mean()
                      + L.bce_logits(part.forward(src_code), 0.0).mean())
        self._backward(part, loss)
        self._update(part, step)
        return float(loss.detach())
