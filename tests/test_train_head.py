"""``head`` faces train inside XSeg masks: refused without them (DeepFaceLab's rule), masked with them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from recast.errors import InputError
from recast.faces.aligned import read_face, write_face
from recast.faces.facetype import FaceType
from recast.faces.masks import hull_mask
from recast.train import Trainer, TrainOptions, train
from recast.train.samples import SampleSpec, make_sample
from recast.train.synthetic import write_synthetic_faceset
from test_user_errors import assert_one_line_error, run_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HEAD_MODEL = {"resolution": 64, "archi": "df-ud", "ae_dims": 16, "e_dims": 4, "d_dims": 4, "d_mask_dims": 2,
              "face_type": "head"}


def _head_faces(folder: Path, identity: int) -> Path:
    return write_synthetic_faceset(folder, 6, identity=identity, size=96, face_type=FaceType.HEAD)


def _add_head_masks(folder: Path) -> None:
    """Give every face an XSeg mask that, unlike the hull, reaches over the forehead."""
    for path in sorted(folder.glob("*.jpg")):
        face = read_face(path)
        mask = hull_mask(face.meta.landmarks, face.image.shape[:2], forehead=1.2)
        write_face(path, face.image, dataclasses.replace(face.meta, xseg_mask=mask))


def _options(src: Path, dst: Path, model_dir: Path, **settings: object) -> TrainOptions:
    return TrainOptions(src, dst, model_dir, model="saehd", model_config=dict(HEAD_MODEL),
                        settings={"batch_size": 2, "lr": 1e-3, **settings}, workers=0, preview_every=0,
                        autosave_minutes=0, threads=1, iterations=2)


def test_head_faces_without_xseg_masks_are_refused_naming_the_faceset(tmp_path: Path) -> None:
    src, dst = _head_faces(tmp_path / "src", 0), _head_faces(tmp_path / "dst", 1)
    _add_head_masks(src)
    with pytest.raises(InputError, match="6 of 6 dst faces have no XSeg mask") as caught:
        Trainer(_options(src, dst, tmp_path / "m"))
    assert str(dst) in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "m" / "config.json").exists()


def test_the_cli_refuses_in_one_line_and_writes_no_model(tmp_path: Path) -> None:
    src, dst = _head_faces(tmp_path / "src", 0), _head_faces(tmp_path / "dst", 1)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[model]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in HEAD_MODEL.items()))
    result = run_cli("train", "--src", str(src), "--dst", str(dst), "--model-dir", str(tmp_path / "m"),
                     "--config", str(cfg), "--iterations", "1", "--workers", "0")
    assert_one_line_error(result, str(src), "6 of 6 src faces have no XSeg mask", "recast xseg apply")
    assert not (tmp_path / "m" / "state.json").exists()


def test_head_faces_with_xseg_masks_train_inside_them(tmp_path: Path) -> None:
    src, dst = _head_faces(tmp_path / "src", 0), _head_faces(tmp_path / "dst", 1)
    _add_head_masks(src)
    _add_head_masks(dst)
    result = train(_options(src, dst, tmp_path / "m"))
    assert result.status == "done" and result.iteration == 2

    face = read_face(next(src.glob("*.jpg")))
    spec = SampleSpec(64, FaceType.HEAD, random_warp=False, transform=False)
    sample = make_sample(face.image, face.meta.landmarks, face.meta.xseg_mask, face.meta.face_type, spec,
                         np.random.default_rng(0))
    hull = make_sample(face.image, face.meta.landmarks, None, face.meta.face_type, spec, np.random.default_rng(0))
    above_hull = (sample.mask > 0.5) & (hull.mask < 0.5)
    assert above_hull.sum() > 0.05 * (hull.mask > 0.5).sum()


def test_head_faces_train_without_masks_when_masked_training_is_off(tmp_path: Path) -> None:
    src, dst = _head_faces(tmp_path / "src", 0), _head_faces(tmp_path / "dst", 1)
    result = train(_options(src, dst, tmp_path / "m", masked_training=False))
    assert result.status == "done"
