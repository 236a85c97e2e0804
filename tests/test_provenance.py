"""Provenance: invisible watermark robustness, container tags, sidecar, ``recast verify``."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from typer.testing import CliRunner

from recast.cli.main import app
from recast.errors import InputError, MetadataError, OptionError
from recast.media.video import iter_frames
from recast.media.video_encode import VideoWriter, h264_roundtrip
from recast.provenance.label import (
    PROVENANCE_LABEL,
    add_visible_label,
    container_metadata,
    has_label_tag,
    mark_frame,
    read_sidecar,
    sha256_file,
    sidecar_path,
    write_sidecar,
)
from recast.provenance.verify import verify
from recast.provenance.watermark import SCORE_THRESHOLD, detect_watermark, embed_watermark

W, H = 640, 360


def _clip(n: int = 20) -> list[np.ndarray]:
    """A face-swap-like clip: static background, a face that moves, turns and grows (BGR 640x360)."""
    background = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    background = cv2.resize(background, (W, W), interpolation=cv2.INTER_AREA)[(W - H) // 2:(W + H) // 2]
    face = cv2.cvtColor(skimage.data.chelsea(), cv2.COLOR_RGB2BGR)[50:250, 100:300]
    frames = []
    for i in range(n):
        t = i / (n - 1)
        turn = cv2.getRotationMatrix2D((100, 100), 10 * np.sin(2 * np.pi * t), 1 + 0.1 * np.sin(np.pi * t))
        moved = cv2.warpAffine(face, turn, (200, 200), borderMode=cv2.BORDER_REFLECT)
        frame = background.copy()
        x0 = int(200 + 60 * np.sin(2 * np.pi * t))
        frame[80:280, x0:x0 + 200] = moved
        frames.append(frame)
    return frames


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _rate(frames: list[np.ndarray]) -> float:
    return float(np.mean([detect_watermark(f).found for f in frames]))


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    return _clip()


@pytest.fixture(scope="module")
def marked(clip: list[np.ndarray]) -> list[np.ndarray]:
    return [embed_watermark(f) for f in clip]


def test_embedding_is_invisible_and_pure(clip, marked):
    before = clip[0].copy()
    again = embed_watermark(clip[0])
    assert np.array_equal(clip[0], before)  # input untouched
    assert np.array_equal(again, marked[0])  # deterministic
    assert marked[0].shape == clip[0].shape and marked[0].dtype == np.uint8
    assert min(_psnr(a, b) for a, b in zip(clip, marked, strict=True)) >= 40.0


def test_marked_frames_score_high_and_decode_the_payload(marked):
    results = [detect_watermark(f) for f in marked]
    assert all(r.found for r in results)
    assert min(r.score for r in results) > 3 * SCORE_THRESHOLD
    assert min(r.bits_ok for r in results) == 64


def test_unmarked_frames_are_not_detected(clip):
    for frames in (clip, h264_roundtrip(clip, 28)):
        results = [detect_watermark(f) for f in frames]
        assert not any(r.found for r in results)
        assert max(abs(r.score) for r in results) < 4.0


def test_flat_and_tiny_frames_are_not_detected():
    for frame in (np.zeros((360, 640, 3), np.uint8), np.full((90, 160, 3), 200, np.uint8)):
        assert not detect_watermark(frame).found


def test_survives_h264_crf28(marked):
    assert _rate(h264_roundtrip(marked, 28)) >= 0.95


def test_survives_half_resolution_then_crf28(marked):
    half = h264_roundtrip(marked, 28, scale=0.5)
    assert half[0].shape == (H // 2, W // 2, 3)
    assert _rate(half) >= 0.95


def test_survives_jpeg_q50(marked):
    def jpeg(frame: np.ndarray) -> np.ndarray:
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 50])
        assert ok
        return cv2.imdecode(data, cv2.IMREAD_COLOR)

    assert _rate([jpeg(f) for f in marked[::4]]) == 1.0


def test_gray_frames_and_bad_arguments(clip):
    gray = cv2.cvtColor(clip[0], cv2.COLOR_BGR2GRAY)
    assert detect_watermark(embed_watermark(gray)).found
    with pytest.raises(ValueError):
        embed_watermark(clip[0], strength=0.0)
    with pytest.raises(ValueError):
        embed_watermark(clip[0].astype(np.float32))


def test_visible_label_touches_only_its_corner(clip):
    frame = clip[0]
    out = add_visible_label(frame, corner="bottom-right")
    changed = np.argwhere(np.any(out != frame, axis=2))
    assert changed.size and changed[:, 0].min() > H // 2 and changed[:, 1].min() > W // 2
    assert np.array_equal(frame, clip[0])
    top_left = np.argwhere(np.any(add_visible_label(frame, "X", corner="top-left") != frame, axis=2))
    assert top_left[:, 0].max() < H // 2 and top_left[:, 1].max() < W // 2
    with pytest.raises(OptionError):
        add_visible_label(frame, corner="middle")
    both = mark_frame(frame, visible=True)
    assert detect_watermark(both).found


def test_container_tags():
    tags = container_metadata()
    assert PROVENANCE_LABEL in tags["comment"] and tags["synthetic"] == "true"
    assert has_label_tag({k.upper(): v for k, v in tags.items()})
    assert not has_label_tag({"comment": "holiday video", "encoder": "Lavf"})


def test_sidecar_round_trip_and_hash_mismatch(tmp_path: Path, marked):
    src, weights = tmp_path / "src.mp4", tmp_path / "model.safetensors"
    src.write_bytes(b"source video bytes")
    weights.write_bytes(b"weights")
    dst_frames = tmp_path / "dst"
    dst_frames.mkdir()
    (dst_frames / "00001.png").write_bytes(b"png")
    result = tmp_path / "merged"  # a result that is a folder of frames
    result.mkdir()
    for i, frame in enumerate(marked[:3], start=1):
        cv2.imwrite(str(result / f"{i:05d}.png"), frame)
    side = write_sidecar(result, {"src": src, "weights": weights, "dst_frames": dst_frames},
                         model={"name": "SAEHD", "resolution": np.int64(128), "path": weights},
                         settings={"mask": "learned", "erode": 5.0, "scale": (1, 2)})
    assert side == sidecar_path(result) == tmp_path / "merged.provenance.json"
    record = read_sidecar(result)
    assert record == read_sidecar(side) and record["label"] == PROVENANCE_LABEL
    assert record["inputs"]["src"]["sha256"] == sha256_file(src)
    assert record["inputs"]["src"]["name"] == "src.mp4" and all("path" not in e for e in record["inputs"].values())
    assert str(tmp_path / "src.mp4") not in side.read_text()  # names and hashes, not the user's folders
    assert record["model"] == {"name": "SAEHD", "resolution": 128, "path": str(weights)}
    assert record["settings"]["scale"] == [1, 2]
    assert record["created_utc"].endswith("Z") and record["generator"]["name"] == "recast"

    report = verify(result)
    assert report.sidecar_ok and report.watermark and report.result_hash == "ok"
    assert {c.status for c in report.input_checks} == {"ok"}

    weights.write_bytes(b"other weights")
    (dst_frames / "00001.png").write_bytes(b"changed")
    src.unlink()
    cv2.imwrite(str(result / "00002.png"), marked[5])
    report = verify(result)
    assert {c.role: c.status for c in report.input_checks} == {
        "src": "missing", "weights": "mismatch", "dst_frames": "mismatch"}
    assert report.result_hash == "changed" and not report.sidecar_ok and report.labelled
    assert "not this file's" in report.failed["sidecar"]


def test_sidecar_refuses_foreign_files_and_bad_json(tmp_path: Path):
    result = tmp_path / "out.mp4"
    sidecar_path(result).write_text("{not json")
    with pytest.raises(MetadataError):
        read_sidecar(result)
    with pytest.raises(InputError, match="not overwriting"):
        write_sidecar(result, {}, {}, {})
    assert sidecar_path(result).read_text() == "{not json"
    with pytest.raises(InputError):
        read_sidecar(tmp_path / "missing.mp4")
    with pytest.raises(InputError):
        write_sidecar(tmp_path / "b.mp4", {"src": tmp_path / "nope.mp4"}, {}, {})


def _write_video(path: Path, frames: list[np.ndarray], metadata: dict[str, str] | None) -> None:
    with VideoWriter(path, 25, crf=18, metadata=metadata) as writer:
        for frame in frames:
            writer.write(frame)


def test_verify_cli_exit_codes(tmp_path: Path, clip, marked):
    runner = CliRunner()
    labelled = tmp_path / "result.mp4"
    _write_video(labelled, marked[:10], container_metadata())
    write_sidecar(labelled, {}, {"name": "test"}, {})
    plain = tmp_path / "plain.mp4"
    _write_video(plain, clip[:10], None)

    ok = runner.invoke(app, ["verify", str(labelled), "--frames", "5"])
    assert ok.exit_code == 0, ok.output
    assert "container tag" in ok.output and "watermark: 5/5" in ok.output

    none = runner.invoke(app, ["verify", str(plain), "--json"])
    assert none.exit_code == 3, none.output
    report = json.loads(none.output)
    assert report["labelled"] is False and report["frames_marked"] == 0 and report["container_tag"] is False

    # the watermark alone labels a stripped copy (no tags, no sidecar)
    stripped = tmp_path / "stripped.mp4"
    _write_video(stripped, marked[:10], None)
    alone = verify(stripped, sample_frames=10)
    assert alone.labelled and alone.watermark and alone.frames_marked == 10
    assert not alone.container_tag and alone.sidecar is None

    bad = runner.invoke(app, ["verify", str(tmp_path / "missing.mp4")])
    assert bad.exit_code != 0 and isinstance(bad.exception, InputError)


def test_verify_image_and_frame_folder(tmp_path: Path, clip, marked):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(marked[:6], start=1):
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
    report = verify(folder, sample_frames=4)
    assert report.kind == "frames" and report.frames_checked == 4 and report.watermark
    image = tmp_path / "still.jpg"
    cv2.imwrite(str(image), clip[0])
    still = verify(image)
    assert still.kind == "image" and not still.labelled and still.container_tag is None


@pytest.mark.realdata
def test_real_videos_have_no_watermark_until_marked(shared_data: Path, tmp_path: Path):
    videos = sorted((shared_data / "videos").glob("*.mp4"))
    assert len(videos) == 12
    for video in videos:
        report = verify(video, sample_frames=20)
        assert report.frames_checked >= 19, video.name
        assert report.frames_marked == 0 and not report.labelled, (video.name, max(report.scores))

    source = shared_data / "videos" / "person_A__sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"
    result = tmp_path / "result.mp4"
    with VideoWriter(result, 25, metadata=container_metadata()) as writer:
        for _, frame in iter_frames(source, end=2.0):
            writer.write(embed_watermark(frame))
    assert verify(result).labelled
    for name, scale in (("crf28.mp4", 1.0), ("half_crf28.mp4", 0.5)):
        copy = tmp_path / name  # a stripped re-encode: no tags, no sidecar
        with VideoWriter(copy, 25, crf=28) as writer:
            for _, frame in iter_frames(result):
                h, w = frame.shape[:2]
                size = (round(w * scale / 2) * 2, round(h * scale / 2) * 2)
                writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if scale != 1.0 else frame)
        report = verify(copy, sample_frames=50)
        assert not report.container_tag and report.sidecar is None
        assert report.frames_checked == 50
        assert report.frames_marked >= 0.95 * report.frames_checked, (name, report.scores)
