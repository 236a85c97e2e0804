"""Quick96: DeepFaceLab's fixed-settings starter model, as an SAEHD configuration.

Architecture: 96 px full face, ``df-ud`` layout, ae_dims 128, e_dims 64, d_dims 64, d_mask_dims 16
(about 38 M parameters; encoder output 6²×512 → Dense 128 → 3²×128 → upscaled to 6²). Training:
RMSprop lr 2e-4 with lr dropout 0.3 and no cosine cycle, batch 4, masked training and random warp
always on, no random flips, the smaller ±5 % scale jitter, and a mask blur without SAEHD's
clip-and-double, and every third iteration re-trains on the previous batch with the unwarped targets
as input (``unwarped_every=3``). None of the architecture can be changed
(``create_model("quick96", ...)`` with any override raises :class:`recast.errors.OptionError`); use
``saehd`` to choose sizes.
"""

from __future__ import annotations

from typing import Any

QUICK96_CONFIG: dict[str, Any] = {
    "resolution": 96, "face_type": "full", "archi": "df-ud", "ae_dims": 128, "e_dims": 64, "d_dims": 64,
    "d_mask_dims": 16,
}

QUICK96_TRAIN_DEFAULTS: dict[str, Any] = {
    "batch_size": 4, "optimizer": "rmsprop", "lr": 2e-4, "lr_dropout": 0.3, "lr_cos_period": 0,
    "random_flip_src": False, "random_flip_dst": False, "random_scale": 0.05, "mask_blur_clip": False,
    "unwarped_every": 3,
}
