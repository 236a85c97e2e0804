"""DSSIM takes channels-last (NHWC) inputs and gives what it gives for NCHW."""

from __future__ import annotations

import torch

from recast.models import losses as L


def test_dssim_takes_channels_last_inputs() -> None:
    gen = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 3, 32, 32, generator=gen)
    a_nhwc, b_nhwc = (x.contiguous(memory_format=torch.channels_last) for x in (a, b))
    assert torch.allclose(L.dssim(a_nhwc, b_nhwc, 5), L.dssim(a, b, 5), atol=1e-6)
