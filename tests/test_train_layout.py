"""Optimiser state restored into a parameter of another memory layout (NHWC) steps it as in NCHW."""

from __future__ import annotations

import pytest
import torch

from recast.train.optim import create_optimizer, load_optimizer_tensors, optimizer_tensors
from recast.train.options import OPTIMIZERS


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_saved_state_steps_a_channels_last_parameter_like_a_contiguous_one(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    weight, grads = torch.randn(8, 4, 3, 3, generator=gen), torch.randn(2, 8, 4, 3, 3, generator=gen)
    saved = torch.nn.Parameter(weight.clone())
    opt = create_optimizer(name, [saved], 1e-2, torch.device("cpu"))
    saved.grad = grads[0].clone()
    opt.step()
    tensors = optimizer_tensors(opt, {id(saved): "w"}, "m")
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        param = torch.nn.Parameter(saved.detach().clone().contiguous(memory_format=layout))
        restored = create_optimizer(name, [param], 1e-2, torch.device("cpu"))
        assert load_optimizer_tensors(restored, {k: v.clone() for k, v in tensors.items()}, {id(param): "w"}, "m")
        param.grad = grads[1].clone().contiguous(memory_format=layout)
        restored.step()
        results.append(param.detach())
    assert results[1].is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(results[0], results[1], atol=1e-7)
