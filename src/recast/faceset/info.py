"""Summary of a faceset: counts, face types, image sizes, yaw/pitch distribution, files without metadata."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recast.errors import InputError, MetadataError
from recast.faces.aligned import read_meta
from recast.faces.metadata import FaceMeta
from recast.faceset.files import list_faces
from recast.faceset.pack import PACK_NAME, PackedFaceSet
from recast.media.images import image_size

ANGLE_BINS = np.arange(-90, 91, 15)


@dataclass
class FacesetInfo:
    """What :func:`faceset_info` found. Angles are degrees (from the stored pose)."""

    folder: Path
    faces: int = 0
    packed: bool = False
    face_types: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)
    without_metadata: list[str] = field(default_factory=list)
    with_embedding: int = 0
    with_xseg: int = 0
    source_frames: int = 0
    yaw: list[float] = field(default_factory=list)
    pitch: list[float] = field(default_factory=list)

    def histogram(self, which: str) -> list[tuple[int, int, int]]:
        """``(from_deg, to_deg, count)`` per 15° bin of ``yaw`` or ``pitch``."""
        values = np.clip(np.asarray(getattr(self, which), dtype=float), -89.999, 89.999)
        counts, _ = np.histogram(values, bins=ANGLE_BINS)
        return [(int(a), int(b), int(c)) for a, b, c in zip(ANGLE_BINS[:-1], ANGLE_BINS[1:], counts, strict=True)]


def faceset_info(folder: str | Path) -> FacesetInfo:
    """Scan a faceset folder (or its ``faceset.rfs`` pack) without decoding pixels."""
    folder = Path(folder)
    info = FacesetInfo(folder)
    sources: set[str] = set()
    pack_path = folder / PACK_NAME if folder.is_dir() else folder
    items: list[tuple[str, Callable[..., FaceMeta], Callable[..., bytes]]]
    if pack_path.is_file():
        pack = PackedFaceSet(pack_path, verify=False)
        info.packed = True
        items = [(name, lambda i=i: pack.meta(i), lambda i=i: pack.read_bytes(i)) for i, name in enumerate(pack.names)]
    else:
        items = [(p.name, lambda p=p: read_meta(p), p.read_bytes) for p in list_faces(folder)]
    if not items:
        raise InputError(folder, "holds no face images (.jpg/.png) and no faceset.rfs")
    for name, get_meta, get_bytes in items:
        size = image_size(get_bytes()[: 1 << 16])
        if size is not None:
            info.sizes[f"{size[0]}x{size[1]}"] += 1
        try:
            meta = get_meta()
        except MetadataError:
            info.without_metadata.append(name)
            continue
        info.faces += 1
        info.face_types[meta.face_type.value] += 1
        info.with_embedding += meta.embedding is not None
        info.with_xseg += meta.xseg_mask is not None
        sources.add(meta.source_filename)
        info.pitch.append(math.degrees(meta.pose[0]))
        info.yaw.append(math.degrees(meta.pose[1]))
    info.source_frames = len(sources)
    return info


def plot_info(info: FacesetInfo, path: str | Path) -> Path:
    """Save a PNG with the yaw and pitch histograms and a yaw/pitch scatter (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from recast.atomic import atomic_path

    figure = Figure(figsize=(12, 4), dpi=100)
    axes = figure.subplots(1, 3)
    for ax, which in zip(axes[:2], ("yaw", "pitch"), strict=True):
        ax.hist(getattr(info, which), bins=ANGLE_BINS, color="tab:blue", edgecolor="white")
        ax.set_xlabel(f"{which} (degrees)")
        ax.set_ylabel("faces")
    axes[2].scatter(info.yaw, info.pitch, s=4, alpha=0.5)
    axes[2].set_xlim(-90, 90)
    axes[2].set_ylim(-90, 90)
    axes[2].set_xlabel("yaw (degrees)")
    axes[2].set_ylabel("pitch (degrees)")
    figure.suptitle(f"{info.folder.name}: {info.faces} faces")
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
