"""Training losses (pure functions on NCHW float tensors in [0, 1], BGR order irrelevant).

The reconstruction loss follows DeepFaceLab's SAEHD/AMP recipe:

* targets and predictions multiplied by a blurred, dilated mask (masked training);
* DSSIM weight 10 with kernel int(res/11.6) below 256 px, 5 + 5 with kernels int(res/11.6) and
  int(res/23.2) from 256 px (AMP: always both kernels);
* 10·MSE; eyes+mouth priority 300·L1 inside the eyes+mouth mask; learned-mask loss 10·MSE;
* optional face / background style losses, blur-out-mask target fill, GAN and true-face terms.

Per-sample losses are averaged over the batch, so with data parallelism the mean over ranks of
each rank's loss equals the loss of the whole global batch.
"""

from __future__ import annotations

import functools
from typing import Any, cast

import torch
from torch.nn import functional as F


@functools.lru_cache(maxsize=32)
def _gaussian_1d(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma * sigma))
    return (kernel / kernel.sum()).to(torch.float32)


def gaussian_blur(x: torch.Tensor, sigma: float, size: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with zero borders; size defaults to max(3, int(4σ)) odd."""
    if size is None:
        size = max(3, int(4 * sigma))
        size += 1 - size % 2
    kernel = _gaussian_1d(size, float(sigma)).to(device=x.device, dtype=x.dtype)
    c = x.shape[1]
    kx = kernel.view(1, 1, 1, size).expand(c, 1, 1, size)
    ky = kernel.view(1, 1, size, 1).expand(c, 1, size, 1)
    x = F.conv2d(x, kx, padding=(0, size // 2), groups=c)
    return F.conv2d(x, ky, padding=(size // 2, 0), groups=c)


def _window_pass(x: torch.Tensor, kernel: list[float], dim: int) -> torch.Tensor:
    """VALID correlation of ``x`` with a 1-D ``kernel`` along ``dim`` (size shrinks by len(kernel) − 1).

    Accumulated tap by tap in place, so every output element sums its products in the same order
    whatever the tensor's batch size or layout (a sharded run computes what a single process does).
    """
    size = x.shape[dim] - len(kernel) + 1
    out = x.narrow(dim, 0, size) * kernel[0]
    for tap, weight in enumerate(kernel[1:], start=1):
        out.add_(x.narrow(dim, tap, size), alpha=weight)
    return out


def _window_pass_transposed(g: torch.Tensor, kernel: list[float], dim: int) -> torch.Tensor:
    """The adjoint of :func:`_window_pass`: spreads ``g`` back over the input's length along ``dim``."""
    shape = list(g.shape)
    size, shape[dim] = shape[dim], shape[dim] + len(kernel) - 1
    out = g.new_zeros(shape)
    for tap, weight in enumerate(kernel):
        out.narrow(dim, tap, size).add_(g, alpha=weight)
    return out


class _SeparableWindow(torch.autograd.Function):
    """A separable VALID window filter over the last two dims; linear, so backward keeps nothing but the kernel."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kernel: list[float]) -> torch.Tensor:
        ctx.kernel = kernel
        return _window_pass(_window_pass(x, kernel, -1), kernel, -2)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        kernel = ctx.kernel
        return _window_pass_transposed(_window_pass_transposed(grad, kernel, -2), kernel, -1), None


def window_filter(x: torch.Tensor, kernel_size: int, sigma: float = 1.5) -> torch.Tensor:
    """Gaussian-window mean of (..., H, W) with VALID borders → (..., H − k + 1, W − k + 1), x's dtype.

    Separable (2k multiply-adds per element instead of k²) and computed element by element in a fixed
    order, so its result does not depend on the batch split (data-parallel and sharded runs match one process).
    """
    kernel = _gaussian_1d(kernel_size, sigma).tolist()
    return cast(torch.Tensor, _SeparableWindow.apply(x, kernel))


def dssim(a: torch.Tensor, b: torch.Tensor, kernel_size: int, sigma: float = 1.5) -> torch.Tensor:
    """Structural dissimilarity (1 − SSIM)/2 per sample, shape (N,); Gaussian window, VALID borders.

    a, b: (N, C, H, W) float in [0, 1] (max value 1, k1 = 0.01, k2 = 0.03).
    """
    kernel_size = max(1, min(kernel_size, a.shape[-1]))
    c1, c2 = 0.01**2, 0.03**2
    stacked = window_filter(torch.stack([a, b, a * a, b * b, a * b], dim=1), kernel_size, sigma)
    mu_a, mu_b, aa, bb, ab = stacked.unbind(1)
    mu_ab = mu_a * mu_b
    mu_sq = mu_a * mu_a + mu_b * mu_b
    luminance = (2 * mu_ab + c1) / (mu_sq + c1)
    cs = (2 * (ab - mu_ab) + c2) / ((aa + bb - mu_sq) + c2)
    ssim = (luminance * cs).mean(dim=(2, 3))  # (N, C)
    return ((1 - ssim) / 2).mean(dim=1)


def dssim_terms(resolution: int, both_kernels: bool = False) -> list[tuple[int, float]]:
    """[(kernel, weight)]: [(res/11.6, 10)] below 256 px, else [(res/11.6, 5), (res/23.2, 5)]."""
    if resolution >= 256 or both_kernels:
        return [(int(resolution / 11.6), 5.0), (int(resolution / 23.2), 5.0)]
    return [(int(resolution / 11.6), 10.0)]


def mask_blur(mask: torch.Tensor, resolution: int, clip: bool = True) -> torch.Tensor:
    """Soft loss mask (N, 1, H, W): Gaussian σ = max(1, res//32); with ``clip`` → clip(0, 0.5)·2.

    The clipped form is slightly dilated and exactly 1 inside the face.
    """
    blurred = gaussian_blur(mask, max(1, resolution // 32))
    return torch.clamp(blurred, 0, 0.5) * 2 if clip else blurred


def blur_out_mask(image: torch.Tensor, mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """Fill the background next to the face with a blur of the background only (normalised convolution).

    image (N, 3, H, W), mask (N, 1, H, W) in [0, 1]; σ = res/128. Returns image·m + fill·(1 − m).
    """
    sigma = max(1.0, resolution / 128)
    inv = 1 - mask
    num = gaussian_blur(image * inv, sigma)
    den = gaussian_blur(inv, sigma)
    fill = torch.where(den > 1e-6, num / den.clamp_min(1e-6), torch.zeros_like(num))
    return image * mask + fill * inv


def style_loss(a: torch.Tensor, b: torch.Tensor, blur_sigma: float) -> torch.Tensor:
    """Per-sample Σ_c[(μa−μb)² + (σa−σb)²]/C after a Gaussian blur of both, shape (N,)."""
    if blur_sigma > 0:
        a, b = gaussian_blur(a, blur_sigma), gaussian_blur(b, blur_sigma)
    mean_a, mean_b = a.mean(dim=(2, 3)), b.mean(dim=(2, 3))
    std_a = torch.sqrt(a.var(dim=(2, 3), unbiased=False) + 1e-5)
    std_b = torch.sqrt(b.var(dim=(2, 3), unbiased=False) + 1e-5)
    return ((mean_a - mean_b) ** 2 + (std_a - std_b) ** 2).mean(dim=1)


def total_variation_mse(x: torch.Tensor) -> torch.Tensor:
    """Per-sample sum of squared neighbour differences, shape (N,)."""
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).sum(dim=(1, 2, 3))
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).sum(dim=(1, 2, 3))
    return dx + dy


def per_sample_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).pow(2).mean(dim=(1, 2, 3))


def bce_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean sigmoid cross-entropy against a constant label, per sample (N,)."""
    labels = torch.full_like(logits, target)
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").flatten(1).mean(dim=1)


def reconstruction_loss(
    target: torch.Tensor, pred: torch.Tensor, target_mask: torch.Tensor, pred_mask: torch.Tensor,
    em_mask: torch.Tensor | None, *, resolution: int, masked: bool, eyes_mouth_weight: float,
    learn_mask: bool, both_kernels: bool = False, mask_blur_clip: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One identity's loss per sample (N,) and its loss mask (N, 1, H, W).

    target/pred (N, 3, H, W); target_mask/pred_mask (N, 1, H, W); em_mask eyes+mouth (N, 1, H, W).
    """
    loss_mask = mask_blur(target_mask, resolution, clip=mask_blur_clip)
    if masked:
        t, p = target * loss_mask, pred * loss_mask
    else:
        t, p = target, pred
    loss = 10 * per_sample_mse(t, p)
    for kernel, weight in dssim_terms(resolution, both_kernels):
        loss = loss + weight * dssim(t, p, kernel)
    if em_mask is not None and eyes_mouth_weight > 0:
        loss = loss + eyes_mouth_weight * (target * em_mask - pred * em_mask).abs().mean(dim=(1, 2, 3))
    if learn_mask:
        loss = loss + 10 * per_sample_mse(target_mask, pred_mask)
    return loss, loss_mask

