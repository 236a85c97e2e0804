"""Progressive growth: train a small face first, then grow the output size, keeping what was learned.

A growing model (SAEHD with ``growth``, e.g. ``[64, 96]`` and ``resolution`` 128) is an ordinary
model of the first size (``64``) whose encoder sees its input resized to that size, plus a
*tail* per decoder: one small stage per larger size. Stage i takes the previous stage's features,
resizes them (bilinear) to its size, refines them with two 3×3 convolutions and turns them into
an image with a 1×1 convolution. While stage i fades in, the output is

    (1 − α) · resize(output of stage i − 1) + α · image of stage i,      α: 0 → 1,

so at α = 0 a freshly grown model gives exactly the upsampled output of the smaller one (the
learned weights keep their meaning), and the new stage takes over gradually (ProGAN's fade-in,
Karras et al. 2018). Masks stay at the first size and are resized: they are smooth.

All tail weights exist from the start (the checkpoint's tensors never change shape); the current
stage and α are a float32 buffer saved with the weights, so a resumed run continues where it
was, mid-fade included. :class:`GrowthSchedule` decides when to grow: at fractions of the run's
budget (minutes or target iteration), or, with no budget, when the loss stops falling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PLATEAU_WINDOW = 500
"""Without a budget: compare the mean loss of the last two windows of this many iterations."""

PLATEAU_GAIN = 0.01
"""… and grow when the later window is not at least this share below the earlier one."""

FADE_SHARE = 0.25
"""The fade-in takes this share of the stage's part of the budget (with a budget)."""

FADE_ITERATIONS = 500
"""The fade-in takes this many iterations (without a budget)."""


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) → (N, C, size, size): area when shrinking, bilinear when enlarging, as is when equal."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    if size < x.shape[-1]:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


class GrowthStage(nn.Module):
    """(N, C_in, h, w) features → (N, C, S, S) features and (N, 3, S, S) image logits at size ``size``."""

    def __init__(self, c_in: int, channels: int, size: int) -> None:
        super().__init__()
        self.size = size
        self.conv1 = nn.Conv2d(c_in, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.1)
        self.to_image = nn.Conv2d(channels, 3, 1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.act(self.conv2(self.act(self.conv1(resize(features, self.size)))))
        return x, self.to_image(x)


class GrowthTail(nn.Module):
    """The larger sizes of one decoder: a chain of :class:`GrowthStage`, run up to the current stage."""

    def __init__(self, c_in: int, channels: int, sizes: list[int]) -> None:
        super().__init__()
        stages = []
        for size in sizes:
            stages.append(GrowthStage(c_in, channels, size))
            c_in = channels
        self.stages = nn.ModuleList(stages)

    def forward(self, features: torch.Tensor, image: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        """The image (N, 3, S, S) in [0, 1] at ``stage`` (0 = the base ``image`` as is), faded by ``alpha``."""
        for index in range(stage):
            features, logits = self.stages[index](features)
            grown = torch.sigmoid(logits)
            previous = resize(image, grown.shape[-1])
            image = grown if index < stage - 1 or alpha >= 1.0 else previous + alpha * (grown - previous)
        return image


@dataclass(frozen=True)
class Progress:
    """Where a training run stands, for a model's training policy (:meth:`FaceSwapModel.advance`).

    iteration: the model's iteration count. budget_fraction: the share of this run's budget used
    (minutes or target iteration; None when the run has no limit). losses: recent total losses
    (src + dst), oldest first.
    """

    iteration: int
    budget_fraction: float | None
    losses: list[float]


@dataclass(frozen=True)
class GrowthSchedule:
    """When to grow: ``sizes`` (all of them, the first to the final), ``at`` the budget fractions of
    the len(sizes) − 1 growth steps (increasing, in (0, 1))."""

    sizes: tuple[int, ...]
    at: tuple[float, ...]

    @classmethod
    def evenly(cls, sizes: list[int], at: list[float]) -> GrowthSchedule:
        """The schedule for ``sizes``; ``at`` empty = growth steps spread evenly over the budget."""
        steps = len(sizes) - 1
        fractions = at or [round((i + 1) / (steps + 1), 4) for i in range(steps)]
        return cls(tuple(sizes), tuple(float(f) for f in fractions))

    def next_state(self, state: GrowthState, progress: Progress) -> GrowthState:
        """The state to train with after ``progress``, from the current one; never backwards."""
        last = len(self.sizes) - 1
        stage, alpha, since = state.stage, state.alpha, state.since
        fraction = progress.budget_fraction
        if fraction is not None:
            while stage < last and fraction >= self.at[stage]:
                stage, alpha, since = stage + 1, 0.0, progress.iteration
            if stage > 0:
                start = self.at[stage - 1]
                end = self.at[stage] if stage < last else 1.0
                span = max(FADE_SHARE * (end - start), 1e-9)
                alpha = max(alpha, min(1.0, (fraction - start) / span))
            return GrowthState(stage, alpha, since)
        if stage > 0 and alpha < 1.0:
            return GrowthState(stage, min(1.0, alpha + 1.0 / FADE_ITERATIONS), since)
        settled = progress.iteration - since >= 2 * PLATEAU_WINDOW
        if stage < last and settled and plateaued(progress.losses):
            return GrowthState(stage + 1, 0.0, progress.iteration)
        return state


@dataclass(frozen=True)
class GrowthState:
    """The current stage (0 = the first size), its fade-in α in [0, 1] and the iteration it began at."""

    stage: int = 0
    alpha: float = 1.0
    since: int = 0


def plateaued(losses: list[float], window: int = PLATEAU_WINDOW, gain: float = PLATEAU_GAIN) -> bool:
    """True when the mean of the last ``window`` losses is not ``gain`` below the mean of the window before."""
    if len(losses) < 2 * window:
        return False
    recent = np.asarray(losses[-2 * window:], dtype=np.float64)
    before, after = float(recent[:window].mean()), float(recent[window:].mean())
    return after > (1.0 - gain) * before
