"""Merging straight into the result video (``merge_to_video``): same frames as the PNG path, labelled."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from media_factory import tone, write_av_clip
from recast.errors import InputError, OptionError
from recast.media.video import iter_frames, probe
from recast.merge.settings import MergeSession, MergeSettings
from recast.merge.stage import merge, merge_to_video
from recast.provenance.label import mark_frame, read_sidecar
from recast.provenance.verify import verify
from recast.provenance.writer import EncodeOptions
from test_merge_models import FunctionModel, invert
from test_merge_stage import FACES, _frames, _tiny_model, _write_aligned

SETTINGS = MergeSettings(mask_mode="learned-prd*learned-dst", color="rct", erode=10, blur=20)


@pytest.fixture()
def dst(tmp_path: Path) -> tuple[Path, Path]:
    """A 6-frame 25 fps H.264 destination with an AAC tone, and its aligned faces (frame 3 has none)."""
    frames = _frames()
    video = write_av_clip(tmp_path / "dst.mp4", frames, 25, tone(len(frames) / 25, burst_at=0.05))
    (tmp_path / "aligned").mkdir()
    _write_aligned(tmp_path / "aligned", frames)
    return video, tmp_path / "aligned"


def test_streams_a_labelled_video_matching_the_png_path(dst: tuple[Path, Path], tmp_path: Path) -> None:
    video, aligned = dst
    output = tmp_path / "out" / "result.mp4"
    progress: list[tuple[int, int | None]] = []
    summary = merge_to_video(FunctionModel(invert), video, aligned, output, SETTINGS, batch_size=4,
                             on_progress=lambda done, total: progress.append((done, total)))
    assert (summary.frames_total, summary.frames_merged, summary.frames_passed_through) == (6, 5, 1)
    assert summary.faces_merged == 6 and progress[-1] == (6, 6)
    assert summary.video is not None and summary.video.frames == 6 and summary.video.has_audio
    info, source = probe(output), probe(video)
    assert (info.frame_count, info.fps_fraction) == (source.frame_count, source.fps_fraction)
    assert info.has_audio and abs(info.duration - source.duration) < 0.1
    mask_video = tmp_path / "out" / "result_mask.mp4"
    assert summary.mask_dir == mask_video and probe(mask_video).frame_count == 6
    sidecar = read_sidecar(output)
    assert set(sidecar["inputs"]) == {"dst", "dst_aligned"} and sidecar["settings"]["erode"] == 10
    report = verify(output)
    assert report.labelled and report.container_tag and report.result_hash == "ok"
    assert report.frames_marked == report.frames_checked == 6
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "result.mp4", "result.mp4.provenance.json", "result_mask.mp4"]  # no temporary file left

    # Same pipeline as the PNG path: the decoded frames differ only by H.264 (crf 18, 4:2:0 chroma) ...
    merge(FunctionModel(invert), video, aligned, tmp_path / "merged", SETTINGS, batch_size=4)
    pngs = [cv2.imread(str(tmp_path / "merged" / f"{number:05d}.png")) for number in FACES]
    png_masks = [cv2.imread(str(tmp_path / "merged_mask" / f"{number:05d}.png")) for number in FACES]
    for frame, png, mask, png_mask in zip([f for _, f in iter_frames(output)], pngs,
                                          [f for _, f in iter_frames(mask_video)], png_masks, strict=True):
        assert cv2.PSNR(frame, png) > 34 and np.abs(mask.astype(int) - png_mask.astype(int)).mean() < 2
    # ... and not at all when the video is lossless (FFV1 keeps BGR bit-exact).
    lossless = tmp_path / "lossless.mkv"
    merge_to_video(FunctionModel(invert), video, aligned, lossless, SETTINGS, EncodeOptions(lossless=True))
    for frame, png in zip([f for _, f in iter_frames(lossless)], pngs, strict=True):
        assert np.array_equal(frame, png)
    for mask, png_mask in zip([f for _, f in iter_frames(tmp_path / "lossless_mask.mkv")], png_masks, strict=True):
        assert np.array_equal(mask, mark_frame(png_mask))  # masks are watermarked like encode_video does


def test_refuses_to_replace_inputs_or_results_and_raw_predict(dst: tuple[Path, Path], tmp_path: Path) -> None:
    video, aligned = dst
    model = FunctionModel(invert)
    with pytest.raises(InputError, match="is also an input"):
        merge_to_video(model, video, aligned, video)
    with pytest.raises(OptionError, match="would write into the input"):
        merge_to_video(model, video, aligned, aligned / "result.mp4")
    with pytest.raises(OptionError, match="needs a video name"):
        merge_to_video(model, video, aligned, tmp_path / "result.png")
    with pytest.raises(OptionError, match="--preset='fastest' is not one of ultrafast"):
        merge_to_video(model, video, aligned, tmp_path / "r.mp4", options=EncodeOptions(preset="fastest"))
    with pytest.raises(OptionError, match="raw-predict"):
        merge_to_video(model, video, aligned, tmp_path / "r.mp4", MergeSession(keyframes={2: {"mode": "raw-predict"}}))
    existing = tmp_path / "result.mp4"
    existing.write_bytes(b"mine")
    with pytest.raises(InputError, match="already exists; pass --force"):
        merge_to_video(model, video, aligned, existing)
    assert existing.read_bytes() == b"mine" and model.calls == []


def test_a_failed_run_leaves_no_result_and_keeps_the_old_one(dst: tuple[Path, Path], tmp_path: Path) -> None:
    video, aligned = dst
    output = tmp_path / "out" / "result.mp4"
    merge_to_video(FunctionModel(invert), video, aligned, output, SETTINGS, batch_size=2)
    before = {p.name: p.read_bytes() for p in output.parent.iterdir()}

    def fail_on_the_second_batch(faces: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("model failed")
        return faces

    calls: list[int] = []
    with pytest.raises(RuntimeError, match="model failed"):
        merge_to_video(FunctionModel(fail_on_the_second_batch), video, aligned, output, SETTINGS, batch_size=2,
                       options=EncodeOptions(overwrite=True))
    assert {p.name: p.read_bytes() for p in output.parent.iterdir()} == before
    with pytest.raises(RuntimeError, match="model failed"):
        calls.clear()
        merge_to_video(FunctionModel(fail_on_the_second_batch), video, aligned, tmp_path / "new" / "result.mp4",
                       SETTINGS, batch_size=2)
    assert list((tmp_path / "new").iterdir()) == []


def test_cli_merge_to_a_video_file(dst: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    from recast.cli.main import main

    video, aligned = dst
    output = tmp_path / "result.mkv"
    args = ["recast", "merge", "-m", str(_tiny_model(tmp_path / "model")), "-f", str(video), "-a", str(aligned),
            "-o", str(output), "--mask-mode", "learned-prd*learned-dst", "--erode", "10", "--visible-label"]
    monkeypatch.setattr("sys.argv", args)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    printed = " ".join(capsys.readouterr().err.split())
    assert "6 frames, 5 merged (6 faces), 1 without a face" in printed and "with audio" in printed
    assert probe(output).frame_count == 6 and (tmp_path / "result_mask.mkv").is_file()
    assert read_sidecar(output)["visible_label"] is True and verify(output).labelled
    monkeypatch.setattr("sys.argv", args)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1 and "already exists; pass --force" in capsys.readouterr().err
