"""Optimisers and update rules: AdaBelief (bias-corrected), RMSprop, Adam; lr dropout; clipping.

* ``adabelief``: AdaBelief (Zhuang et al. 2020) with bias correction and ε = 1e-12 added to the
  belief term inside the root (so the effective floor of the denominator is about 1e-6, DeepFaceLab's
  ε, but without DeepFaceLab's missing bias correction that made early steps huge).
* ``rmsprop``: a = ρ·a + (1−ρ)·g², step = lr·g/(√a + 1e-6), ρ = 0.9, no momentum (DeepFaceLab's).
* ``adam``: ``torch.optim.Adam`` with ``fused=True`` always (torch has the fused kernel on CPU and CUDA;
  ~3× faster step on CPU).

lr dropout (DeepFaceLab's ``lr_dropout``): after each step, every element of the update is kept with
probability ``keep`` and otherwise undone, so the moments still see every gradient. Its masks come
from a generator seeded by (seed, step), so all data-parallel ranks drop the same elements. Sharded
parameters (FSDP2's DTensors) are masked shard by shard, each rank's generator seeded with its rank too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor

from recast.errors import OptionError
from recast.train.options import OPTIMIZERS


class AdaBelief(torch.optim.Optimizer):
    """AdaBelief with bias correction; state per parameter: ``step``, ``exp_avg``, ``exp_avg_var``."""

    def __init__(self, params: Iterable[nn.Parameter], lr: float = 5e-5, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-12) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            grads, avgs, vars_ = [], [], []
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_var"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                grads.append(p.grad)
                avgs.append(state["exp_avg"])
                vars_.append(state["exp_avg_var"])
            step = float(self.state[params[0]]["step"])
            torch._foreach_lerp_(avgs, grads, 1 - beta1)
            diff = torch._foreach_sub(grads, avgs)
            torch._foreach_mul_(vars_, beta2)
            torch._foreach_addcmul_(vars_, diff, diff, value=1 - beta2)
            torch._foreach_add_(vars_, eps)
            bias1 = 1 - beta1**step
            bias2 = 1 - beta2**step
            denom = torch._foreach_sqrt(vars_)
            torch._foreach_div_(denom, math.sqrt(bias2))
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, avgs, denom, value=-group["lr"] / bias1)


def create_optimizer(name: str, params: list[nn.Parameter], lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Build one of :data:`OPTIMIZERS` for ``params``."""
    if name == "adabelief":
        return AdaBelief(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-6, foreach=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7, fused=True)
    raise OptionError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def lr_cos_factor(step: int, period: int) -> float:
    """DeepFaceLab's cyclic lr multiplier (cos(2π·step/period) + 1)/2; 1 when period is 0."""
    return 1.0 if period <= 0 else (math.cos(2 * math.pi * step / period) + 1) / 2


class LrDropout:
    """Undo each element of an optimiser step with probability 1 − keep (keep = 1 disables it).

    With sharded parameters (DTensor) it works on this rank's shards, so no parameter is gathered; the
    mask generator is then seeded with the rank as well, so the shards draw different masks.
    """

    def __init__(self, params: list[nn.Parameter], keep: float, seed: int) -> None:
        trainable = [p for p in params if p.requires_grad]
        sharded = any(isinstance(p, DTensor) for p in trainable)
        with torch.no_grad():  # a shard's local tensor is a view of the parameter's storage
            self.params = [p.to_local() if isinstance(p, DTensor) else p for p in trainable]
        self.keep = keep
        self.seed = seed
        self.stream = dist.get_rank() if sharded and dist.is_initialized() else 0
        self.before = [torch.empty_like(p) for p in self.params] if keep < 1 else []

    @property
    def active(self) -> bool:
        return self.keep < 1

    def remember(self) -> None:
        """Call before ``optimizer.step()``."""
        if self.active:
            torch._foreach_copy_(self.before, [p.detach() for p in self.params])

    @torch.no_grad()
    def apply(self, step: int) -> None:
        """Call after ``optimizer.step()``: keep each element's update with probability ``keep``."""
        if not self.active:
            return
        device = self.params[0].device
        gen = torch.Generator(device=device)
        gen.manual_seed(self.seed * 1_000_003 + step + (self.stream << 40))
        threshold = round(self.keep * 65536) - 32768  # a uniform int16 is below it with probability keep
        for p, old in zip(self.params, self.before, strict=True):
            # one 32-bit draw gives two 16-bit ones: half the generator's work of a float per element
            words = torch.randint(-(2**31), 2**31, ((p.numel() + 1) // 2,), dtype=torch.int32, generator=gen,
                                  device=device)
            drop = words.view(torch.int16)[: p.numel()].view(p.shape) >= threshold
            torch.where(drop, old, p, out=p)


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> float:
    """Global-norm clipping (no-op when max_norm ≤ 0); returns the norm before clipping (0 when off)."""
    if max_norm <= 0:
        return 0.0
    grads = [p for p in params if p.grad is not None]
    return float(torch.nn.utils.clip_grad_norm_(grads, max_norm, foreach=True))


def optimizer_tensors(optimizer: torch.optim.Optimizer, names: dict[int, str], prefix: str) -> dict[str, torch.Tensor]:
    """Flatten an optimiser's per-parameter state to ``{prefix.<param name>.<key>: tensor}``."""
    out: dict[str, torch.Tensor] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                tensor = value if torch.is_tensor(value) else torch.tensor(float(value))
                out[f"{prefix}.{names[id(p)]}.{key}"] = tensor.detach().to("cpu", copy=True).contiguous()
    return out


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                           names: dict[int, str], prefix: str) -> bool:
    """Restore state written by :func:`optimizer_tensors`; False (state untouched) if it doesn't fit."""
    state_dict = optimizer.state_dict()
    new_state: dict[int, dict[str, torch.Tensor]] = {}
    index = 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            base = f"{prefix}.{names[id(p)]}."
            entry = {k[len(base):]: v for k, v in tensors.items() if k.startswith(base)}
            for key, value in entry.items():
                if key != "step" and value.shape != p.shape:
                    return False
            if entry:
                new_state[index] = entry
            index += 1
    state_dict["state"] = new_state
    optimizer.load_state_dict(state_dict)
    return True
