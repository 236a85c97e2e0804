"""Issues #25/#27: the studio's warm preview worker uses the newest weights. Training further makes the
merge preview and the XSeg editor's prediction change, and both name the iteration they used
(``checkpoint.current_weights`` is the one freshness check)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.models.checkpoint import current_weights
from recast.studio.live import FreshModel
from recast.studio.preview import MaskRequest, PreviewFailed, PreviewRequest, PreviewService
from recast.train import TrainOptions, train
from recast.train.xseg_trainer import XSegTrainOptions, train_xseg
from studio_support import asgi_client
from test_merge_stage import write_destination

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"resolution": 64, "face_type": "whole", "archi": "df-ud", "ae_dims": 16, "e_dims": 4, "d_dims": 4,
        "d_mask_dims": 2}


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    """``data_dst/`` frames and ``data_dst/aligned`` faces (synthetic), and an empty ``data_src/``."""
    (tmp_path / "staged").mkdir()
    staged = write_destination(tmp_path / "staged")
    root = tmp_path / "ws"
    (root / "data_src").mkdir(parents=True)
    shutil.move(staged / "frames", root / "data_dst")
    shutil.move(staged / "aligned", root / "data_dst" / "aligned")
    return root


def _train_face(root: Path, more: int) -> None:
    faces = root / "data_dst" / "aligned"
    train(TrainOptions(faces, faces, root / "model" / "default", model="saehd", model_config=TINY,
                       settings={"batch_size": 2}, more=more, workers=0, preview_every=0, autosave_minutes=0,
                       threads=1))


def _train_xseg(root: Path, more: int) -> None:
    train_xseg(XSegTrainOptions([root / "data_dst" / "aligned"], root / "model" / "mask", model="xseg-cpu",
                                settings={"batch_size": 2}, more=more, workers=0, preview_every=0, threads=1,
                                autosave_minutes=0))


def _pixels(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image.astype(int)


def test_current_weights_names_the_committed_checkpoint(workspace: Path) -> None:
    model_dir = workspace / "model" / "default"
    assert current_weights(model_dir) is None
    _train_face(workspace, 1)
    first = current_weights(model_dir)
    assert first is not None and (first.checkpoint, first.iteration) == ("checkpoints/000000001", 1)
    (model_dir / "state.json").write_text("{broken")
    assert current_weights(model_dir) is None


def test_training_further_changes_the_merge_preview(workspace: Path) -> None:
    _train_face(workspace, 2)
    service = PreviewService(workspace, device="cpu")
    try:
        before = service.render(PreviewRequest("default", 1, {"color": "none"}))
        assert before.info["iteration"] == 2 and before.info["faces_merged"] == 1
        again = service.render(PreviewRequest("default", 1, {"color": "none"}))
        assert again.data == before.data and again.info["iteration"] == 2

        _train_face(workspace, 3)
        after = service.render(PreviewRequest("default", 1, {"color": "none"}))
        assert after.info["iteration"] == 5
        assert np.abs(_pixels(after.data) - _pixels(before.data)).max() > 0  # the new weights were used

        with pytest.raises(PreviewFailed, match="no such model"):
            service.render(PreviewRequest("missing", 1, {}))
        assert service.render(PreviewRequest("default", 1, {"color": "none"})).info["iteration"] == 5
    finally:
        service.close()


def test_training_further_changes_the_xseg_prediction_served_by_the_worker(workspace: Path) -> None:
    _train_xseg(workspace, 1)
    name = sorted(p.name for p in (workspace / "data_dst" / "aligned").glob("*.jpg"))[0]
    with asgi_client(workspace) as client:
        url = f"/api/xseg/dst/faces/{name}/prediction"
        first = client.get(url, params={"model": "mask"})
        assert first.status_code == 200 and json.loads(first.headers["x-recast-preview"])["iteration"] == 1
        assert _pixels(first.content).shape == (128, 128)
        _train_xseg(workspace, 2)
        second = client.get(url, params={"model": "mask"})
        assert json.loads(second.headers["x-recast-preview"])["iteration"] == 3
        assert np.abs(_pixels(second.content) - _pixels(first.content)).max() > 0


def test_a_mask_request_for_a_model_without_weights_fails_with_one_line(workspace: Path) -> None:
    service = PreviewService(workspace, device="cpu")
    try:
        face = sorted((workspace / "data_dst" / "aligned").glob("*.jpg"))[0]
        with pytest.raises(PreviewFailed) as failure:
            service.mask(MaskRequest("mask", face))
        assert failure.value.kind == "input" and "\n" not in str(failure.value)
    finally:
        service.close()


def test_errors_are_worded_for_the_studio(workspace: Path) -> None:
    _train_face(workspace, 1)
    with asgi_client(workspace) as client:
        answer = client.post("/api/merge/preview", json={"frame": 1, "settings": {"mask_mode": "xseg-dst"}})
        detail = answer.json()["detail"]
        assert answer.status_code == 422 and "xseg" in detail, detail
        assert "--" not in detail and str(workspace) not in detail, detail
        assert "MODEL_DIR" not in detail and "recast " not in detail, detail  # no CLI wording
        missing = client.post("/api/merge/preview", json={"frame": 1, "model": "../model"})
        assert missing.status_code == 404 and str(workspace) not in missing.json()["detail"]
        bad = client.put("/api/merge/sessions/s/base", json={"blur": -1})
        assert bad.status_code == 422 and "blur" in bad.json()["detail"]


def test_a_merge_session_keeps_its_xseg_model(workspace: Path) -> None:
    """Issue #27: the tuner's XSeg choice is saved with the session (beside it: the session file stays what
    ``recast merge --session`` reads) and comes back with it; a model that is not there is refused."""
    _train_face(workspace, 1)
    _train_xseg(workspace, 1)
    with asgi_client(workspace) as client:
        assert client.get("/api/merge/sessions/s").json()["choices"] == {"model": "default", "xseg": None}
        saved = client.put("/api/merge/sessions/s/choices", json={"model": "default", "xseg": "mask"})
        assert saved.status_code == 200 and saved.json() == {"model": "default", "xseg": "mask"}
        assert client.put("/api/merge/sessions/s/base", json={"mask_mode": "xseg-dst"}).status_code == 200
        again = client.get("/api/merge/sessions/s").json()
        assert again["choices"] == {"model": "default", "xseg": "mask"}
        assert again["session"]["base"]["mask_mode"] == "xseg-dst"
        assert client.get("/api/merge/sessions").json() == ["s"]
        preview = client.post("/api/merge/preview", json={"frame": 1, "xseg": again["choices"]["xseg"],
                                                          "settings": again["session"]["base"]})
        assert preview.status_code == 200 and json.loads(preview.headers["x-recast-preview"])["xseg_iteration"] == 1
        assert client.put("/api/merge/sessions/s/choices", json={"xseg": "default"}).status_code == 404
        assert client.put("/api/merge/sessions/s/choices", json={"model": "../x"}).status_code == 404
        assert client.get("/api/merge/sessions/other").json()["choices"]["xseg"] is None


def test_the_live_model_reloads_newer_weights(workspace: Path) -> None:
    """Issue #27: the Live page's model is reloaded when more training saved a newer checkpoint (the
    live job asks :meth:`FreshModel.refresh` once a second and reports the iteration it uses)."""
    _train_face(workspace, 1)
    held = FreshModel(workspace / "model" / "default")
    faces = np.random.default_rng(0).random((1, 64, 64, 3), dtype=np.float32)
    before = held.model.swap(faces, masks=False)[0]
    assert held.iteration == 1 and not held.refresh() and held.iteration == 1
    _train_face(workspace, 2)
    assert held.refresh() and held.iteration == 3 and not held.refresh()
    assert np.abs(held.model.swap(faces, masks=False)[0] - before).max() > 0  # the new weights are in use
