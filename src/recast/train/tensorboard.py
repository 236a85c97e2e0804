"""Optional TensorBoard logging of a training run (``recast train --tensorboard``).

Writes standard TensorBoard event files into ``<model_dir>/tensorboard/``: the scalars
``loss/src``, ``loss/dst`` (and any extra loss terms as ``loss/<name>``) and ``time/ms_per_iter``
every iteration, and the preview grid as the image ``preview`` whenever a preview is made.
View with ``tensorboard --logdir <model_dir>/tensorboard``.

Uses the small ``tensorboardX`` package (``pip install 'recast-faceswap[tensorboard]'``); TensorBoard itself
is only needed to look at the files.

Example:
    >>> log = TensorBoardLog.open("model/cpu")
    >>> log.scalars(120, {"src": 0.81, "dst": 0.93}, ms_per_iter=251.0)
    >>> log.image(120, grid_bgr)        # (H, W, 3) uint8 BGR
    >>> log.close()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recast.errors import OptionError

FOLDER = "tensorboard"


def _writer_class() -> Any:
    """tensorboardX's SummaryWriter; OptionError when the package is not installed."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise OptionError("TensorBoard logging needs the tensorboardX package: "
                          "pip install 'recast-faceswap[tensorboard]'") from None
    return SummaryWriter


def check_available() -> None:
    """Raise :class:`OptionError` now (before any work) if TensorBoard logging cannot run."""
    _writer_class()


class TensorBoardLog:
    """An open TensorBoard event file in ``<model_dir>/tensorboard/``."""

    def __init__(self, writer: Any, folder: Path) -> None:
        self._writer = writer
        self.folder = folder

    @classmethod
    def open(cls, model_dir: str | Path) -> TensorBoardLog:
        """Start (or continue) the model's event log.

        Raises:
            OptionError: the ``tensorboardX`` package is not installed.
        """
        writer_class = _writer_class()
        folder = Path(model_dir) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        return cls(writer_class(str(folder)), folder)

    def scalars(self, iteration: int, losses: dict[str, float], ms_per_iter: float) -> None:
        """Log one iteration's losses (as ``loss/<name>``) and its step time."""
        for name, value in losses.items():
            self._writer.add_scalar(f"loss/{name}", float(value), iteration)
        self._writer.add_scalar("time/ms_per_iter", float(ms_per_iter), iteration)

    def image(self, iteration: int, image_bgr: np.ndarray) -> None:
        """Log a preview image, ``(H, W, 3)`` uint8 BGR."""
        self._writer.add_image("preview", np.ascontiguousarray(image_bgr[..., ::-1]), iteration, dataformats="HWC")

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()
