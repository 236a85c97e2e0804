"""The encode stage and the one-command pipeline (``recast run``), on real (synthetic-motion) video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from media_factory import face_clip_frames, tone, write_av_clip
from recast.errors import InputError
from recast.faces.aligned import read_face
from recast.faces.facetype import FaceType
from recast.media.video import iter_frames, probe
from recast.models.checkpoint import read_model_config, read_state
from recast.pipeline.demo import write_sample_videos
from recast.pipeline.run import RunOptions, run
from recast.provenance.label import PROVENANCE_LABEL, read_sidecar
from recast.provenance.verify import verify
from recast.provenance.writer import EncodeOptions, encode_video
from recast.train.recipe import Phase, Recipe


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("encode")
    frames = face_clip_frames(20, 192)
    dst = write_av_clip(root / "dst.mp4", frames, 25, tone(20 / 25))
    merged_dir, mask_dir = root / "merged", root / "merged_mask"
    merged_dir.mkdir()
    mask_dir.mkdir()
    for index, frame in enumerate(frames, start=1):
        cv2.imwrite(str(merged_dir / f"{index:05d}.png"), 255 - frame)
        cv2.imwrite(str(mask_dir / f"{index:05d}.png"), np.full(frame.shape[:2], 255, np.uint8))
    return dst, merged_dir, mask_dir


def test_encode_writes_a_labelled_video_with_audio_and_mask(merged: tuple[Path, Path, Path], tmp_path: Path) -> None:
    dst, merged_dir, mask_dir = merged
    output = tmp_path / "result.mp4"
    summary = encode_video(merged_dir, output, EncodeOptions(audio_from=dst, mask_dir=mask_dir))
    info = probe(output)
    assert (summary.frames, info.frame_count, info.fps) == (20, 20, 25.0)
    assert info.has_audio and summary.has_audio
    assert abs(info.duration - probe(dst).duration) < 0.1
    assert PROVENANCE_LABEL in " ".join(info.metadata.values())
    assert summary.mask_output == tmp_path / "result_mask.mp4" and probe(summary.mask_output).frame_count == 20
    assert read_sidecar(output)["inputs"]["dst"]["sha256"]
    report = verify(output)
    assert report.labelled and report.frames_marked == report.frames_checked
    first = next(iter_frames(output))[1]
    assert cv2.PSNR(first, cv2.imread(str(merged_dir / "00001.png"))) > 30


def test_encode_refuses_to_overwrite_and_empty_input(merged: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, merged_dir, _ = merged
    output = tmp_path / "result.mp4"
    output.write_bytes(b"mine")
    with pytest.raises(InputError, match="already exists"):
        encode_video(merged_dir, output)
    assert output.read_bytes() == b"mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no frames"):
        encode_video(empty, tmp_path / "other.mp4")


def test_run_end_to_end_on_the_demo_clips(tmp_path: Path) -> None:
    src, dst = write_sample_videos(tmp_path / "samples", count=16)
    output = tmp_path / "result.mp4"
    # face_type whole: the crop DeepFaceLive and FaceFusion give an exported model (the cpu preset's is full)
    summary = run(RunOptions(src=src, dst=dst, output=output, workspace=tmp_path / "ws", iterations=2, minutes=5,
                             face_type="wf"))
    assert summary.src_extract.faces == 16 and summary.dst_extract.faces == 16
    assert read_model_config(tmp_path / "ws" / "model" / "cpu")[1]["face_type"] == "whole"
    face = read_face(next((tmp_path / "ws" / "data_src" / "aligned").glob("*.jpg")))
    assert face.meta.face_type is FaceType.WHOLE
    assert summary.iterations == 2 and summary.merge.frames_merged == 16
    assert probe(output).frame_count == probe(dst).frame_count == 16
    assert summary.encode.mask_output == tmp_path / "result_mask.mp4" and summary.encode.mask_output.is_file()
    assert not (tmp_path / "ws" / "data_dst" / "merged").exists()  # streamed: no frame files
    assert verify(output).labelled
    assert set(read_sidecar(output)["inputs"]) == {"src", "dst", "model_weights"}
    # The face region changed, the background did not (beyond the invisible watermark).
    before, after = next(iter_frames(dst))[1], next(iter_frames(output))[1]
    assert np.abs(before[:20].astype(int) - after[:20].astype(int)).mean() < 4
    centre = slice(110, 180), slice(120, 200)
    assert np.abs(before[centre].astype(int) - after[centre].astype(int)).mean() > 5
    with pytest.raises(InputError, match="already exists"):
        run(RunOptions(src=src, dst=dst, output=output))

    # keep_frames: merged into the workspace's PNG folders, then encoded (extraction resumes: nothing to redo).
    # With the enhancer (trained for 3 s here; merged with when it lowered the error on the src faces).
    kept = run(RunOptions(src=src, dst=dst, output=tmp_path / "kept.mp4", workspace=tmp_path / "ws", iterations=1,
                          keep_frames=True, enhance_minutes=0.05, face_type="whole"))
    assert kept.dst_extract.skipped_done == 16 and kept.merge.frames_merged == 16
    assert summary.model == kept.model == "cpu" and "resumed" in kept.model_choice
    assert (tmp_path / "ws" / "model" / "cpu_enhancer" / "enhancer.json").is_file()
    assert kept.enhancer in (None, tmp_path / "ws" / "model" / "cpu_enhancer")
    assert len(list((tmp_path / "ws" / "data_dst" / "merged").glob("*.png"))) == 16
    assert probe(tmp_path / "kept.mp4").frame_count == 16 and (tmp_path / "kept_mask.mp4").is_file()
    assert verify(tmp_path / "kept.mp4").labelled
    model = read_sidecar(tmp_path / "kept.mp4")["model"]
    assert model["name"] == "cpu" and model["iterations"] == kept.iterations
    assert model["weights_sha256"] == kept.merge.weights_sha256

    # A Recipe object instead of the named recipe (the quality benchmark's ablation): trained in from iteration 2
    # of 4, so at budget fraction 0.5: its second phase.
    recipe = Recipe("two", (Phase("a", 0.0, random_warp=True), Phase("b", 0.5, random_warp=False)), "two phases")
    custom = run(RunOptions(src=src, dst=dst, output=tmp_path / "custom.mp4", workspace=tmp_path / "ws",
                            model="cpu", iterations=4, custom_recipe=recipe))
    assert custom.iterations == 4 and custom.dst_extract.skipped_done == 16
    assert (read_state(custom.model_dir) or {})["recipe"] == {"name": "two", "phase": "b", "began": {"b": 2}}
