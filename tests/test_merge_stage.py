"""The merge stage end to end: frame folders and videos, aligned metadata, resume, sessions."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from recast.errors import InputError, OptionError
from recast.faces.aligned import write_face
from recast.faces.alignment import transform_matrix, transform_points
from recast.faces.facetype import FaceType
from recast.faces.metadata import FaceMeta
from recast.media.video_encode import VideoWriter
from recast.merge.engine import FrameMerger, MergedFrame, open_inputs, run_engine
from recast.merge.settings import MergeSession, MergeSettings
from recast.merge.stage import RECORD_NAME, merge
from recast.provenance.watermark import detect_watermark
from test_merge_models import FunctionModel, face_landmarks, invert

SIZE = (320, 240)
FACES = {1: 1, 2: 1, 3: 0, 4: 1, 5: 2, 6: 1}  # frame number → faces in it


def _frames() -> list[np.ndarray]:
    photo = cv2.resize(data.coffee()[..., ::-1], SIZE)
    return [np.ascontiguousarray(np.roll(photo, 6 * n, axis=1)) for n in FACES]


def _landmarks(number: int, index: int) -> np.ndarray:
    return face_landmarks((110 + 100 * index + 4 * number, 120 + 2 * number), 60, angle_deg=3 * number)


def _meta(number: int, points: np.ndarray, face_type: FaceType) -> tuple[np.ndarray, FaceMeta]:
    mat = transform_matrix(points, 128, face_type)
    meta = FaceMeta(
        face_type=face_type,
        landmarks=transform_points(points, mat).astype(np.float32),
        source_landmarks=points.astype(np.float32),
        source_rect=(0.0, 0.0, 1.0, 1.0),
        source_filename=f"{number:05d}.png",
        source_size=SIZE,
        image_to_face_mat=mat,
    )
    return mat, meta


def _write_aligned(folder: Path, frames: list[np.ndarray], face_type: FaceType = FaceType.WHOLE) -> None:
    for number, count in FACES.items():
        for index in range(count):
            mat, meta = _meta(number, _landmarks(number, index), face_type)
            face = cv2.warpAffine(frames[number - 1], mat, (128, 128))
            write_face(folder / f"{number:05d}_{index}.jpg", face, meta)


def write_destination(root: Path) -> Path:
    """``root/frames`` (the destination frames) and ``root/aligned`` (their faces); returns ``root``."""
    frames = _frames()
    (root / "frames").mkdir()
    for number, frame in zip(FACES, frames, strict=True):
        cv2.imwrite(str(root / "frames" / f"{number:05d}.png"), frame)
    (root / "aligned").mkdir()
    _write_aligned(root / "aligned", frames)
    return root


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    return write_destination(tmp_path)


def test_merge_a_frame_folder(workspace):
    model = FunctionModel(invert)
    progress: list[tuple[int, int | None]] = []
    settings = MergeSettings(mask_mode="learned-prd*learned-dst", color="none", erode=10, blur=20)
    summary = merge(model, workspace / "frames", workspace / "aligned", workspace / "merged", settings,
                    batch_size=4, on_progress=lambda done, total: progress.append((done, total)))
    assert (summary.frames_total, summary.frames_merged, summary.frames_passed_through) == (6, 5, 1)
    assert summary.faces_merged == 6 and summary.frames_skipped == 0 and summary.faces_unmatched == 0
    assert sum(model.calls) == 6 and max(model.calls) <= 4  # batched
    assert progress[-1] == (6, 6)
    mask_dir = workspace / "merged_mask"
    assert summary.mask_dir == mask_dir
    for number, count in FACES.items():
        name = f"{number:05d}.png"
        original = cv2.imread(str(workspace / "frames" / name))
        merged = cv2.imread(str(workspace / "merged" / name))
        mask = cv2.imread(str(mask_dir / name), cv2.IMREAD_GRAYSCALE)
        assert merged.shape == original.shape and mask.shape == original.shape[:2]
        if count == 0:  # unchanged but for the invisible provenance watermark
            assert cv2.PSNR(merged, original) > 40 and detect_watermark(merged).found
            assert mask.max() == 0
            continue
        for index in range(count):
            x, y = np.round(_landmarks(number, index)[30]).astype(int)  # nose tip
            assert mask[y, x] > 200
            assert np.abs(merged[y, x].astype(int) - (255 - original[y, x].astype(int))).max() < 60
        # Outside the face only the invisible provenance watermark changes the frame.
        outside = np.abs(merged[mask == 0].astype(int) - original[mask == 0].astype(int))
        assert outside.mean() < 2.5 and np.percentile(outside, 99.9) <= 12


def test_resume_skips_finished_frames_and_guards_settings(workspace):
    args = (workspace / "frames", workspace / "aligned", workspace / "merged")
    merge(FunctionModel(invert), *args, MergeSettings())
    model = FunctionModel(invert)
    again = merge(model, *args, MergeSettings())
    assert again.frames_skipped == 6 and again.frames_merged == 0 and model.calls == []

    (workspace / "merged" / "00004.png").unlink()
    redo = merge(model, *args, MergeSettings())
    assert (redo.frames_skipped, redo.frames_merged) == (5, 1) and model.calls == [1]

    with pytest.raises(OptionError, match="merged with other settings"):
        merge(model, *args, MergeSettings(blur=50))
    forced = merge(model, *args, MergeSettings(blur=50), force=True)
    assert forced.frames_merged == 5 and forced.frames_skipped == 0
    assert '"blur": 50' in (workspace / "merged" / RECORD_NAME).read_text()


def test_refuses_to_write_over_other_images(workspace):
    with pytest.raises(InputError, match="is also an input"):
        merge(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "frames")
    foreign = workspace / "mine"
    foreign.mkdir()
    cv2.imwrite(str(foreign / "00001.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(OptionError, match="not written by recast merge"):
        merge(FunctionModel(invert), workspace / "frames", workspace / "aligned", foreign)


def test_option_errors_name_the_problem(workspace):
    args = (workspace / "frames", workspace / "aligned", workspace / "out")
    with pytest.raises(OptionError, match="face type 'head', wider than the 'whole' faces"):
        merge(FunctionModel(invert, face_type=FaceType.HEAD), *args)
    with pytest.raises(OptionError, match="needs a learned mask"):
        merge(FunctionModel(invert, has_learned_mask=False), *args, MergeSettings(mask_mode="learned-dst"))
    with pytest.raises(OptionError, match="no XSeg model"):
        merge(FunctionModel(invert), *args, MergeSession(keyframes={3: {"mask_mode": "xseg-dst"}}))
    with pytest.raises(InputError, match="no such aligned-faces folder"):
        merge(FunctionModel(invert), workspace / "frames", workspace / "nothing", workspace / "out")
    small = workspace / "small"
    small.mkdir()
    for path in sorted((workspace / "frames").iterdir()):
        cv2.imwrite(str(small / path.name), cv2.resize(cv2.imread(str(path)), (160, 120)))
    with pytest.raises(InputError, match="160x120 but its aligned face was extracted from a 320x240"):
        merge(FunctionModel(invert), small, workspace / "aligned", workspace / "out2")


def test_a_narrower_model_merges_a_wider_faceset(workspace):
    summary = merge(FunctionModel(invert, face_type=FaceType.FULL), workspace / "frames", workspace / "aligned",
                    workspace / "merged")
    assert summary.faces_merged == 6


def test_session_keyframes_change_settings_over_time(workspace):
    session = MergeSession(base=MergeSettings(mode="original"), keyframes={4: {"mode": "overlay"}})
    merge(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "merged", session)
    for number in (1, 2, 4, 6):
        name = f"{number:05d}.png"
        psnr = cv2.PSNR(cv2.imread(str(workspace / "merged" / name)), cv2.imread(str(workspace / "frames" / name)))
        assert (psnr > 40) == (number < 4), (number, psnr)  # "original" mode: only the watermark differs
        assert cv2.imread(str(workspace / "merged_mask" / name)).max() > 200  # masks in every mode


def test_learned_masks_are_computed_only_for_mask_modes_that_use_them(workspace):
    model = FunctionModel(invert)
    session = MergeSession(base=MergeSettings(mask_mode="dst"), keyframes={4: {"mask_mode": "learned-prd"}})
    summary = merge(model, workspace / "frames", workspace / "aligned", workspace / "merged", session)
    assert summary.faces_merged == 6 and sorted(model.mask_requests) == [False, True]
    for number in (1, 6):  # the hull mask before the keyframe, the learned ellipse after it
        mask = cv2.imread(str(workspace / "merged_mask" / f"{number:05d}.png"), cv2.IMREAD_GRAYSCALE)
        assert mask.max() > 200


def test_raw_predict_and_compositing_export(workspace):
    settings = MergeSettings(mode="raw-predict")
    summary = merge(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "raw",
                    settings, mask_out_dir=workspace / "raw_masks", export_dir=workspace / "export")
    assert summary.faces_merged == 6
    assert cv2.imread(str(workspace / "raw" / "00005_1.png")).shape == (128, 128, 3)
    assert (workspace / "raw_masks" / "00005_1.png").is_file()
    assert (workspace / "raw" / "00003.png").is_file()  # faceless frame passed through
    exported = sorted(p.name for p in (workspace / "export").iterdir())
    assert len(exported) == 3 * 6 and "00005_1.json" in exported and "00005_1_patch.png" in exported


def test_motion_blur_uses_the_neighbouring_frames(workspace):
    args = (FunctionModel(invert), workspace / "frames", workspace / "aligned")
    merge(*args, workspace / "still", MergeSettings(color="none"))
    merge(*args, workspace / "moving", MergeSettings(color="none", motion_blur=100))

    def same(name: str) -> bool:
        return np.array_equal(cv2.imread(str(workspace / "still" / name)), cv2.imread(str(workspace / "moving" / name)))

    # Frames 1 and 2 have single-face neighbours; 4 and 6 sit next to frames with 0 or 2 faces.
    assert not same("00001.png") and not same("00002.png")
    assert same("00004.png") and same("00006.png")


def test_merge_from_a_video(workspace):
    video = workspace / "dst.mkv"
    with VideoWriter(video, 25, lossless=True) as writer:
        for number in FACES:
            writer.write(cv2.imread(str(workspace / "frames" / f"{number:05d}.png")))
    model = FunctionModel(invert)
    settings = MergeSettings(motion_blur=50)
    summary = merge(model, video, workspace / "aligned", workspace / "merged", settings)
    assert (summary.frames_total, summary.frames_merged, summary.frames_passed_through) == (6, 5, 1)
    from_folder = merge(model, workspace / "frames", workspace / "aligned", workspace / "merged2", settings)
    assert from_folder.faces_merged == summary.faces_merged
    for number in FACES:
        name = f"{number:05d}.png"
        a, b = cv2.imread(str(workspace / "merged" / name)), cv2.imread(str(workspace / "merged2" / name))
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0  # FFV1 is lossless


def _tiny_model(model_dir: Path) -> Path:
    """A freshly initialised (untrained) 64 px whole-face SAEHD saved as a model folder."""
    from recast.models import checkpoint
    from recast.models.registry import create_model

    model = create_model("saehd", resolution=64, face_type="whole", archi="df-ud", ae_dims=32, e_dims=16,
                         d_dims=16, d_mask_dims=8)
    checkpoint.write_model_config(model_dir, "saehd", model.config.to_dict())
    weights = {f"model.{key}": value for key, value in model.state_dict().items()}
    checkpoint.save_checkpoint(model_dir, 1, weights, {}, {}, {})
    return model_dir


def test_cli_merges_with_a_saved_model(workspace, monkeypatch, capsys):
    from recast.cli.main import main

    model_dir = _tiny_model(workspace / "model")
    args = ["recast", "merge", "-m", str(model_dir), "-f", str(workspace / "frames"), "-a",
            str(workspace / "aligned"), "-o", str(workspace / "merged"), "--mask-mode", "learned-prd*learned-dst",
            "--color", "rct", "--erode", "10", "--blur", "20", "--export-rgba"]
    monkeypatch.setattr("sys.argv", args)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    assert "6 frames, 5 merged (6 faces), 1 without a face" in " ".join(capsys.readouterr().err.split())
    assert len(list((workspace / "merged").glob("*.png"))) == 6
    assert len(list((workspace / "merged_rgba").glob("*.json"))) == 6

    session = workspace / "session.json"
    session.write_text('{"keyframes": {"2": {"mode": "paste"}}}')
    monkeypatch.setattr("sys.argv", [*args[:10], "--session", str(session)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "session.json" in error and "mode='paste'" in error
    assert len(error.splitlines()) == 1


def test_a_mask_eroded_to_nothing_is_not_called_faceless(workspace):
    summary = merge(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "out",
                    MergeSettings(mask_mode="dst", erode=400, color="none"))
    assert summary.frames_merged == 0 and summary.frames_passed_through == 1
    assert summary.frames_masked_out == 5 and summary.faces_masked_out == 6


def test_morph_is_refused_for_a_model_that_cannot_morph(workspace):
    with pytest.raises(OptionError, match=r"--morph 0\.5: only AMP models morph"):
        merge(FunctionModel(invert), workspace / "frames", workspace / "aligned", workspace / "out",
              MergeSettings(morph=0.5))
    assert not (workspace / "out").exists()


class _Collect:
    """A sink that keeps every merged frame."""

    def __init__(self) -> None:
        self.frames: dict[int, MergedFrame] = {}

    def skip(self, name: str, faces: int, settings: MergeSettings) -> bool:
        return False

    def process(self, frame: MergedFrame) -> MergedFrame:
        return frame

    def accept(self, processed: object) -> None:
        assert isinstance(processed, MergedFrame)
        self.frames[processed.number] = processed


def test_frame_merger_merges_one_frame_as_the_engine_does(workspace):
    model = FunctionModel(invert)
    settings = MergeSettings(color="none", erode=20, blur=30, motion_blur=100)
    frames, aligned = workspace / "frames", workspace / "aligned"
    sink = _Collect()
    run_engine(open_inputs(model, frames, aligned, settings, "cpu", "auto"), settings, sink)
    merger = FrameMerger(open_inputs(model, frames, aligned, settings, "cpu", "auto"))
    assert merger.names == [f"{number:05d}.png" for number in FACES]
    for number in FACES:
        one = merger.merge(number, settings)
        assert (one.name, one.faces_merged) == (sink.frames[number].name, FACES[number])
        assert np.array_equal(one.image, sink.frames[number].image)
        assert np.array_equal(one.mask, sink.frames[number].mask)

    merger.merge(5, settings)
    calls = len(model.calls)
    wider = merger.merge(5, MergeSettings(color="none", erode=-40))  # blending only: the predictions are reused
    assert len(model.calls) == calls and not np.array_equal(wider.mask, sink.frames[5].mask)
    assert np.array_equal(merger.merge(5, settings).image, sink.frames[5].image)
    merger.merge(5, MergeSettings(mask_mode="learned-prd"))  # the learned masks are needed: predicted again
    assert len(model.calls) == calls + 1 and model.mask_requests[-1] is True

    with pytest.raises(OptionError, match="no frame 7: the destination has frames 1 to 6"):
        merger.merge(7, settings)
    with pytest.raises(OptionError, match="only AMP models morph"):
        merger.merge(1, MergeSettings(morph=0.5))


def test_frame_merger_needs_a_frames_folder(workspace):
    video = workspace / "dst.mkv"
    with VideoWriter(video, 25, lossless=True) as writer:
        for path in sorted((workspace / "frames").iterdir()):
            writer.write(cv2.imread(str(path)))
    inputs = open_inputs(FunctionModel(invert), video, workspace / "aligned", MergeSettings(), "cpu", "auto")
    with pytest.raises(OptionError, match="needs a folder of frames"):
        FrameMerger(inputs)
