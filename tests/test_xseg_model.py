"""XSeg model: forward shapes, real training steps, save → load, ONNX parity, apply/remove/fetch, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from faces_factory import write_whole_faceset
from recast.errors import InputError, OptionError
from recast.faces.aligned import read_meta
from recast.faces.labels import polygon
from recast.faceset.labelling import load_mask_model, predict_mask, write_labels
from recast.faceset.xsegtools import apply_masks, fetch_labelled, remove_masks
from recast.models.xseg import XSeg
from recast.models.xseg_config import XSEG_PRESETS, xseg_config
from recast.models.xseg_inference import XSegPredictor, load_xseg
from recast.train.occluders import KINDS, make_occluder, occlude
from recast.train.xseg_trainer import XSegTrainOptions, train_xseg

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def faceset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_whole_faceset(tmp_path_factory.mktemp("xseg") / "aligned", 256)


@pytest.fixture(scope="module")
def trained(faceset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("model") / "xseg"
    train_xseg(XSegTrainOptions([faceset], model_dir, settings={"batch_size": 2}, more=2, workers=0,
                                preview_every=2, threads=1))
    return model_dir


@pytest.mark.parametrize("name", sorted(XSEG_PRESETS))
def test_forward_shapes(name: str) -> None:
    model = XSeg(xseg_config(name)).eval().requires_grad_(False)
    logits = model(torch.rand(2, 3, 256, 256))
    assert logits.shape == (2, 1, 256, 256)
    mask = model.mask(torch.rand(1, 3, 256, 256))
    assert mask.shape == (1, 1, 256, 256) and float(mask.min()) >= 0 and float(mask.max()) <= 1


def test_config_validation() -> None:
    with pytest.raises(OptionError, match="inner_resolution"):
        xseg_config("xseg", inner_resolution=192)
    with pytest.raises(OptionError, match="unknown XSeg model"):
        xseg_config("nope")


def test_folded_batch_norm_gives_the_same_masks() -> None:
    model = XSeg(xseg_config("xseg-cpu"))
    model.train()
    model(torch.rand(4, 3, 256, 256))  # running statistics away from their start
    model.eval()
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        before = model.mask(x)
        after = model.fold_batch_norm().mask(x)
    assert torch.allclose(before, after, atol=1e-5)


def test_occluders_have_known_masks() -> None:
    rng = np.random.default_rng(0)
    image = np.full((64, 64, 3), 0.5, np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1
    for kind in KINDS:
        layer, alpha = make_occluder(kind, 64, rng, [image], mask)
        assert layer.shape == (64, 64, 3) and alpha.shape == (64, 64) and alpha.max() > 0.5
    out, target = occlude(image, mask, rng, [image], count=3)
    assert target.sum() < mask.sum() and np.all(target <= mask) and out.dtype == np.float32


def test_training_lowers_the_loss_and_resumes(faceset: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "xseg"
    options = XSegTrainOptions([faceset], model_dir, model="xseg-cpu", settings={"batch_size": 4, "lr": 1e-3},
                               more=12, workers=0, preview_every=6, threads=1)
    result = train_xseg(options)
    assert result.status == "done" and result.iteration == 12
    losses = result.history["loss"]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert (model_dir / "previews" / "preview.png").is_file() and (model_dir / "previews" / "loss.png").is_file()
    again = train_xseg(XSegTrainOptions([faceset], model_dir, more=1, workers=0, preview_every=0, threads=1))
    assert again.iteration == 13 and len(again.history["loss"]) == 13
    with pytest.raises(OptionError, match="fixed"):
        train_xseg(XSegTrainOptions([faceset], model_dir, model_config={"base_dims": 8}, more=1, workers=0))


def test_labelled_faces_only_needs_labels(faceset: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="no labelled faces"):
        train_xseg(XSegTrainOptions([faceset], tmp_path / "m", settings={"unlabelled": "skip"}, more=1, workers=0))


def test_save_load_gives_identical_masks(trained: Path) -> None:
    model, iteration, _ = load_xseg(trained)
    assert iteration == 2
    predictor = XSegPredictor.load(trained)
    faces = np.random.default_rng(1).random((2, 256, 256, 3), dtype=np.float32)
    with torch.no_grad():
        expected = model.fold_batch_norm().mask(torch.from_numpy(faces).permute(0, 3, 1, 2))[:, 0].numpy()
    assert np.allclose(predictor.predict(faces), expected, atol=1e-5)
    assert np.array_equal(XSegPredictor.load(trained).predict(faces), predictor.predict(faces))


def test_onnx_export_matches_torch(trained: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    from recast.export.xseg_onnx import IN_FACE, OUT_MASK, export_xseg

    summary = export_xseg(trained, tmp_path / "xseg.onnx")
    session = ort.InferenceSession(str(summary.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [IN_FACE]
    assert [o.name for o in session.get_outputs()] == [OUT_MASK]
    assert session.get_inputs()[0].shape[1:] == [256, 256, 3]
    faces = np.random.default_rng(2).random((3, 256, 256, 3), dtype=np.float32)
    (onnx_mask,) = session.run(None, {IN_FACE: faces})
    assert onnx_mask.shape == (3, 256, 256, 1)
    assert np.abs(onnx_mask[..., 0] - XSegPredictor.load(trained).predict(faces)).max() < 1e-4
    with pytest.raises(InputError, match="already exists"):
        export_xseg(trained, summary.path)


def test_apply_remove_fetch_keep_user_work(faceset: Path, trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    folder.mkdir()
    for path in faceset.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    write_labels(folder / "00001_0.jpg", [polygon(True, [[10, 10], [200, 10], [100, 200]])])
    first = apply_masks(folder, trained)
    assert len(first.changed) == 4 and first.backup is None
    meta = read_meta(folder / "00001_0.jpg")
    assert meta.xseg_mask is not None and meta.xseg_mask.shape == (256, 256) and meta.xseg_labels
    second = apply_masks(folder, trained)
    assert second.backup is not None and len(list(second.backup.iterdir())) == 4  # masks overwritten: backed up
    removed = remove_masks(folder)
    assert len(removed.changed) == 4 and removed.backup is not None
    assert read_meta(removed.backup / "00001_0.jpg").xseg_mask is not None
    after = read_meta(folder / "00001_0.jpg")
    assert after.xseg_mask is None and len(after.xseg_labels) == 1  # the labels stay
    assert remove_masks(folder).changed == []
    fetched = fetch_labelled(folder)
    assert fetched.changed == ["00001_0.jpg"] and (tmp_path / "aligned_xseg" / "00001_0.jpg").is_file()
    with pytest.raises(InputError, match="not a recast model folder"):
        apply_masks(folder, tmp_path)


def test_editor_api_predicts_in_face_pixels(faceset: Path, trained: Path) -> None:
    from recast.faces.aligned import read_face

    model = load_mask_model(trained)
    face = read_face(faceset / "00002_0.jpg")
    with_meta = predict_mask(model, face.image, face.meta)
    plain = predict_mask(model, face.image[:200, :200].copy())
    assert with_meta.shape == (256, 256) and plain.shape == (200, 200) and with_meta.dtype == np.float32
    with pytest.raises(ValueError, match="uint8 BGR"):
        predict_mask(model, face.image.astype(np.float32))


def test_cli_help_and_commands(faceset: Path, trained: Path, tmp_path: Path) -> None:
    from recast.cli.main import app

    runner = CliRunner()
    for command in (["xseg", "--help"], *(["xseg", c, "--help"] for c in (
            "train", "apply", "remove", "fetch", "export", "import-labels", "export-labels"))):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    assert "--occluder-prob" in runner.invoke(app, ["xseg", "train", "--help"]).output
    folder = tmp_path / "f"
    folder.mkdir()
    for path in faceset.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    result = runner.invoke(app, ["xseg", "apply", str(folder), "--model-dir", str(trained), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert read_meta(folder / "00000_0.jpg").xseg_mask is not None
