"""What every recast face-swap model offers the trainer and the merger.

A model is an ``nn.Module`` built only from a config dataclass of JSON primitives. It maps a batch of
warped src and dst faces (N, 3, R, R) BGR float in [0, 1] to the reconstructions, learned masks and
(optionally) the src→dst swap, and it can swap dst faces at inference time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from torch import nn

from recast.models.config import ModelConfig

if TYPE_CHECKING:
    from recast.models.growth import Progress


@dataclass
class TrainOutputs:
    """Predictions for one training batch; images (N, 3, R, R) and masks (N, 1, R, R) in [0, 1].

    ``pred_src_dst`` / ``pred_src_dstm`` (the swap) are None unless requested. ``src_code`` and
    ``dst_code`` are the inter codes (for the true-face discriminator), None where not meaningful.
    """

    pred_src_src: torch.Tensor
    pred_src_srcm: torch.Tensor
    pred_dst_dst: torch.Tensor
    pred_dst_dstm: torch.Tensor
    pred_src_dst: torch.Tensor | None = None
    pred_src_dstm: torch.Tensor | None = None
    src_code: torch.Tensor | None = None
    dst_code: torch.Tensor | None = None


@dataclass(frozen=True)
class LossSettings:
    """How a family wants its reconstruction loss (:func:`recast.models.losses.reconstruction_loss`).

    masked: count the loss inside the face mask only. eyes_mouth_weight: weight of the eyes-and-mouth
    L1 term (0 = off; the data loader then skips the eyes-and-mouth masks). both_kernels: DSSIM at
    both DeepFaceLab kernel sizes.
    """

    masked: bool
    eyes_mouth_weight: float
    both_kernels: bool = False


EYES_MOUTH_WEIGHT = 300.0
"""DeepFaceLab's weight of the eyes-and-mouth term when it is on."""


class TrainChoices(Protocol):
    """The user's training settings a family's hooks read (the trainer passes its effective
    ``recast.train.options.TrainSettings``, which has these and more)."""

    masked_training: bool
    eyes_mouth_prio: bool
    random_warp: bool


class FaceSwapModel(nn.Module):
    """What a model family offers the trainer and the merger.

    Subclasses set ``family`` and implement :meth:`forward` and :meth:`swap`; the training hooks
    (:meth:`loss_settings`, :meth:`extra_losses`, :meth:`frozen_parameters`, ``gan_sides``,
    ``supports_true_face``) have defaults that suit a plain two-decoder autoencoder, so the training
    step (:mod:`recast.train.step`) never asks which family it trains.
    ``encoder_prefixes`` name the parameters that ``--freeze encoder`` freezes;
    ``inter_prefixes`` the ones re-initialised when pretraining is switched off.
    ``morphable``: :meth:`swap` blends identities by its ``morph`` argument.
    ``gan_sides``: which reconstructions (``"src"``, ``"dst"``) the patch GAN judges.
    ``supports_true_face``: the src and dst codes share a space (the code discriminator applies).
    A family owns its training policy: :meth:`advance` (e.g. progressive growth), reported by
    :meth:`training_state`, with :attr:`train_resolution` the size it trains at now.
    """

    family: ClassVar[str] = ""
    encoder_prefixes: ClassVar[tuple[str, ...]] = ("encoder.",)
    inter_prefixes: ClassVar[tuple[str, ...]] = ()
    morphable: ClassVar[bool] = False
    gan_sides: ClassVar[tuple[str, ...]] = ("src",)
    supports_true_face: ClassVar[bool] = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def resolution(self) -> int:
        return int(self.config.resolution)  # type: ignore[attr-defined]

    @property
    def train_resolution(self) -> int:
        """The size :meth:`forward` outputs now (a growing model's current size); the trainer resizes the
        batch's targets to it. :meth:`swap` always outputs :attr:`resolution`."""
        return self.resolution

    def advance(self, progress: Progress) -> str | None:
        """The family's training policy, called after every iteration (e.g. grow the output size); returns
        a message when the model changed, else None. Changes must live in the model's weights or buffers,
        so a resumed model continues from them."""
        return None

    def training_state(self) -> dict[str, Any]:
        """JSON-safe facts about the training policy's state, recorded in ``state.json`` at every save."""
        return {}

    @property
    def has_learned_mask(self) -> bool:
        return int(self.config.d_mask_dims) > 0  # type: ignore[attr-defined]

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, with_swap: bool = False,
                morph_factor: float = 0.5) -> TrainOutputs:
        raise NotImplementedError

    def swap(self, dst: torch.Tensor, morph: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst faces (N, 3, R, R) → (swapped face (N,3,R,R), src-decoder mask, dst-decoder mask (N,1,R,R))."""
        raise NotImplementedError

    def swap_face(self, dst: torch.Tensor, morph: float = 1.0) -> torch.Tensor:
        """Only the swapped face (N, 3, R, R) of :meth:`swap`, without running the mask branches."""
        return self.swap(dst, morph)[0]

    def export_swap(self, dst: torch.Tensor, morph: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """:meth:`swap` as an exportable graph (ONNX): ``morph`` is a (1,) tensor input for
        :attr:`morphable` families (None otherwise), so the graph takes it at run time."""
        return self.swap(dst)

    def checkpoint_blocks(self) -> list[nn.Module]:
        """The submodules whose activations ``--checkpoint-activations`` recomputes in backward instead of
        keeping; by default the top-level children (families with deep stacks list their stages)."""
        return list(self.children())

    def loss_settings(self, settings: TrainChoices) -> LossSettings:
        """The reconstruction-loss choices for ``settings`` (effective ones); by default the user's."""
        return LossSettings(settings.masked_training, EYES_MOUTH_WEIGHT if settings.eyes_mouth_prio else 0.0)

    def extra_losses(self, out: TrainOutputs, target_src: torch.Tensor, target_dst: torch.Tensor,
                     src_loss_mask: torch.Tensor, dst_loss_mask: torch.Tensor) -> list[torch.Tensor]:
        """Family-specific loss terms (scalars) added to src + dst reconstruction; none by default.

        Targets (N, 3, R, R) and loss masks (N, 1, R, R) are those of the reconstruction loss.
        """
        return []

    def frozen_parameters(self, settings: TrainChoices) -> list[nn.Parameter]:
        """Parameters whose gradients are dropped this iteration under ``settings``; none by default."""
        return []

    def reset_inters(self) -> None:
        """Re-initialise the inter layers (used when pretraining is switched off)."""
        from recast.models.blocks import glorot_init

        for name, module in self.named_children():
            if any(prefix.startswith(name + ".") for prefix in self.inter_prefixes):
                glorot_init(module)
