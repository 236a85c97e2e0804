"""Merge-mask operations: choosing the mask by mode, erode/dilate + feathering, binarising.

Masks are ``(H, W)`` float32 in [0, 1] (``(H, W, 1)`` is accepted on input). Erode and blur
amounts are given in DeepFaceLab's unit — pixels of a mask four times the model resolution —
so values copied from DeepFaceLab settings give the same result at any working size;
:func:`dfl_pixels` converts them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from recast.errors import OptionError

#: Mask modes of the merger: one mask, or a product (``*``) or sum (``+``) of masks. ``xseg-prd`` runs
#: an XSeg model on the predicted face, ``xseg-dst`` on the destination face; they need an XSeg model.
MASK_MODES = (
    "full",
    "dst",
    "learned-prd",
    "learned-dst",
    "learned-prd*learned-dst",
    "learned-prd+learned-dst",
    "xseg-prd",
    "xseg-dst",
    "xseg-prd*xseg-dst",
    "learned-prd*learned-dst*xseg-prd*xseg-dst",
    "learned-prd*xseg-dst",
    "learned-prd*learned-dst*xseg-dst",
)

#: Mask values below this are treated as exactly zero (DeepFaceLab: 1/255).
MASK_FLOOR = 1.0 / 255.0


def needs_learned_mask(mode: str) -> bool:
    """True when ``mode`` uses the model's learned masks."""
    return "learned" in mode


def xseg_parts(mode: str) -> tuple[str, ...]:
    """The XSeg masks ``mode`` uses: a subset of ``("xseg-prd", "xseg-dst")``."""
    return tuple(part for part in ("xseg-prd", "xseg-dst") if part in mode)


def check_mask_mode(mode: str, has_learned_mask: bool, model_dir: str = "the model", has_xseg: bool = False) -> None:
    """Raise :class:`OptionError` when ``mode`` cannot run with this model (and XSeg model, if any)."""
    if mode not in MASK_MODES:
        raise OptionError(f"unknown mask mode {mode!r}; choose one of {', '.join(MASK_MODES)}")
    if xseg_parts(mode) and not has_xseg:
        raise OptionError(
            f"no XSeg model: mask mode {mode!r} needs an XSeg mask model; choose one with --xseg (XSeg training "
            "makes one), or use --mask-mode dst or a learned-* mode"
        )
    if needs_learned_mask(mode) and not has_learned_mask:
        raise OptionError(f"mask mode {mode!r} needs a learned mask, but {model_dir} has none; use --mask-mode dst")


def select_mask(
    mode: str,
    shape: tuple[int, int],
    learned_prd: np.ndarray | None = None,
    learned_dst: np.ndarray | None = None,
    hull: np.ndarray | None = None,
    xseg_prd: np.ndarray | None = None,
    xseg_dst: np.ndarray | None = None,
) -> np.ndarray:
    """The face mask for ``mode``, ``shape = (h, w)``, float32 in [0, 1], values < 1/255 set to 0.

    Args:
        mode: one of :data:`MASK_MODES`: a product (``*``) or a clipped sum (``+``) of the masks below.
        shape: output size; inputs of another size are resized (bilinear).
        learned_prd: the model's mask from the swap path (``learned-prd``).
        learned_dst: the model's mask from the destination path (``learned-dst``).
        hull: the destination landmark hull (``dst``).
        xseg_prd / xseg_dst: the XSeg model's mask of the predicted / destination face (``xseg-*``).
    """
    missing_xseg = ("xseg-prd" in mode and xseg_prd is None) or ("xseg-dst" in mode and xseg_dst is None)
    if mode not in MASK_MODES or missing_xseg:
        check_mask_mode(mode, True, has_xseg=not missing_xseg)
    sources = {"dst": (hull, "a landmark hull"), "learned-prd": (learned_prd, "a learned mask"),
               "learned-dst": (learned_dst, "a learned mask"), "xseg-prd": (xseg_prd, "an XSeg model"),
               "xseg-dst": (xseg_dst, "an XSeg model")}
    mask: np.ndarray = np.ones(shape, np.float32)
    if mode != "full":
        parts = [_sized(_need(sources[name][0], mode, sources[name][1]), shape)
                 for name in mode.replace("+", "*").split("*")]
        mask = np.sum(parts, axis=0) if "+" in mode else np.prod(parts, axis=0)
    mask = np.clip(mask, 0.0, 1.0).astype(np.float32, copy=False)
    mask[mask < MASK_FLOOR] = 0.0
    return mask


def dfl_pixels(value: float, mask_side: int, resolution: int) -> float:
    """Convert a DeepFaceLab erode/blur amount (pixels at 4 × ``resolution``) to ``mask_side`` pixels."""
    return value * mask_side / (4.0 * resolution)


def erode_blur(mask: np.ndarray, erode: float, blur: float) -> np.ndarray:
    """Shrink (``erode`` > 0) or grow (``erode`` < 0) the mask, then feather it by ``blur`` pixels.

    Works like DeepFaceLab's merger: the square mask is padded by a quarter of its side, eroded or
    dilated with an elliptical kernel of ``|erode|`` px, forced to 0 on a border reaching
    ``blur / 2 + 1`` px into the square (so the feathered edge fades out inside the crop), blurred with
    a Gaussian of kernel ``blur`` px, then unpadded and clipped.

    Args:
        mask: ``(S, S)`` float32 in [0, 1].
        erode: pixels, signed.
        blur: pixels, ≥ 0.

    Returns:
        ``(S, S)`` float32 in [0, 1].
    """
    mask = _plain(mask)
    side = mask.shape[0]
    pad = max(side // 4, 1)
    work = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0.0)
    size = int(round(abs(erode)))
    if size >= 2:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        work = cv2.erode(work, kernel) if erode > 0 else cv2.dilate(work, kernel)
    kernel_size = int(round(blur)) | 1
    if kernel_size >= 3:
        border = min(pad + kernel_size // 2 + 1, work.shape[0] // 2)
        work[:border], work[-border:], work[:, :border], work[:, -border:] = 0.0, 0.0, 0.0, 0.0
        work = cv2.GaussianBlur(work, (kernel_size, kernel_size), 0)
    return np.clip(work[pad:-pad, pad:-pad], 0.0, 1.0)


def binarize_for_clone(mask: np.ndarray) -> np.ndarray | None:
    """uint8 {0, 255} mask at the first threshold 0.1, 0.2, …, 0.9 that keeps some pixels.

    Its one-pixel border is cleared (``cv2.seamlessClone`` needs a margin). None when empty.
    """
    mask = _plain(mask)
    for level in range(1, 10):
        binary = mask > level / 10.0
        if binary.any():
            out = binary.astype(np.uint8) * 255
            out[0], out[-1], out[:, 0], out[:, -1] = 0, 0, 0, 0
            return out if out.any() else None
    return None


def bounding_box(mask: np.ndarray, level: float = 0.1) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)`` of the pixels above ``level``, or None when there are none."""
    ys, xs = np.nonzero(_plain(mask) > level)
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def motion_kernel(dx: float, dy: float, length: int) -> np.ndarray:
    """A normalised ``length × length`` line kernel along ``(dx, dy)``, one pixel wide, float32.

    Each cell weighs ``(1 − its distance to the line)``, clipped at 0, so oblique lines are
    anti-aliased.
    """
    length = max(int(length), 1)
    norm = math.hypot(dx, dy)
    ux, uy = (dx / norm, dy / norm) if norm > 0 else (1.0, 0.0)
    ys, xs = np.mgrid[:length, :length].astype(np.float64) - (length - 1) / 2.0
    along = xs * ux + ys * uy
    across = np.abs(ys * ux - xs * uy)
    kernel = np.clip(1.0 - across, 0.0, 1.0) * np.clip(length / 2.0 - np.abs(along) + 0.5, 0.0, 1.0)
    return (kernel / kernel.sum()).astype(np.float32)


def _need(mask: np.ndarray | None, mode: str, what: str) -> np.ndarray:
    if mask is None:
        raise OptionError(f"mask mode {mode!r} needs {what}, which is not available")
    return mask


def _sized(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = _plain(mask)
    if mask.shape != tuple(shape):
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return mask


def _plain(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask, dtype=np.float32)
    return mask[..., 0] if mask.ndim == 3 else mask
