"""Media layer: probe, decode, extract, cut, encode (every container), images, bad inputs, CLI."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from media_factory import tone, write_av_clip
from recast.cli.main import app
from recast.errors import InputError, OptionError
from recast.media import (
    VideoWriter,
    cut,
    denoise_frame,
    extract_frames,
    h264_roundtrip,
    iter_frames,
    list_images,
    probe,
    read_image,
    write_image,
)

WIDTH, HEIGHT, FPS, FRAMES = 176, 144, 25, 40  # 1.6 s; non-square to catch width/height swaps
RATE = 44100
BURST = 1.0  # seconds: a loud tone burst in the clip's audio, to check audio/video sync


def _source_frames() -> list[np.ndarray]:
    """The astronaut, shifted and rotated a little more each frame: (H, W, 3) uint8 BGR."""
    face = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (WIDTH, HEIGHT))
    frames = []
    for i in range(FRAMES):
        matrix = cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), i * 0.8, 1.0)
        matrix[:, 2] += (i * 0.7, i * 0.4)
        frames.append(cv2.warpAffine(face, matrix, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT))
    return frames


def _source_audio(seconds: float) -> np.ndarray:
    """(2, n) float32: a quiet 440 Hz tone with a loud 1 kHz burst at BURST..BURST+0.2 s."""
    return tone(seconds, RATE, BURST)


@pytest.fixture(scope="session")
def source_frames() -> list[np.ndarray]:
    return _source_frames()


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory, source_frames: list[np.ndarray]) -> Path:
    """A 1.6 s 176x144 25 fps H.264 + AAC (44.1 kHz stereo) MP4 written with PyAV directly."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_av_clip(path, source_frames, FPS, _source_audio(FRAMES / FPS), RATE)
    return path


@pytest.fixture(scope="session")
def clip_frames(clip: Path) -> list[np.ndarray]:
    return [frame for _, frame in iter_frames(clip)]


def _audio(path: Path) -> tuple[float, float]:
    """(duration from the stream's samples, onset of the loud burst) in seconds, decoded."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        chunks = [f.to_ndarray()[0] for frame in container.decode(stream) for f in resampler.resample(frame)]
    wave = np.concatenate(chunks)
    loud = np.flatnonzero(np.abs(wave) > 0.3)
    return len(wave) / RATE, (loud[0] / RATE if loud.size else float("nan"))


# probe / iter_frames -------------------------------------------------------------------------
def test_probe(clip: Path) -> None:
    info = probe(clip)
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    assert info.fps == 25.0 and info.fps_fraction == Fraction(25)
    assert info.frame_count == FRAMES and info.frame_count_exact
    assert info.duration == pytest.approx(FRAMES / FPS, abs=0.01)
    assert info.codec == "h264" and info.rotation == 0
    assert info.has_audio and info.audio_tracks == 1
    assert (info.audio_codec, info.audio_sample_rate, info.audio_channels) == ("aac", RATE, 2)


def test_iter_frames_count_and_content(clip_frames: list[np.ndarray], source_frames: list[np.ndarray],
                                       clip: Path) -> None:
    assert len(clip_frames) == FRAMES
    assert [index for index, _ in iter_frames(clip)] == list(range(1, FRAMES + 1))
    for decoded, original in zip(clip_frames, source_frames, strict=True):
        assert decoded.shape == (HEIGHT, WIDTH, 3) and decoded.dtype == np.uint8
        assert np.abs(decoded.astype(int) - original).mean() < 6  # BGR order, right frame


def test_iter_frames_fps_resampling(clip: Path, clip_frames: list[np.ndarray]) -> None:
    half = [frame for _, frame in iter_frames(clip, fps=12.5)]
    assert len(half) == FRAMES // 2
    assert all(np.array_equal(a, b) for a, b in zip(half, clip_frames[::2], strict=True))
    assert sum(1 for _ in iter_frames(clip, fps=10)) == 16
    double = [frame for _, frame in iter_frames(clip, fps=Fraction(50))]
    assert len(double) == 2 * FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(double[::2], clip_frames, strict=True))


def test_iter_frames_start_end(clip: Path, clip_frames: list[np.ndarray]) -> None:
    span = list(iter_frames(clip, start=0.4, end=1.0))
    assert [index for index, _ in span] == list(range(1, 16))
    assert all(np.array_equal(f, clip_frames[10 + i]) for i, (_, f) in enumerate(span))
    resampled = list(iter_frames(clip, fps=5, start=1.0))
    assert len(resampled) == 3  # slot 0 (1.0 s) shows the last frame before 1.1 s, like ffmpeg fps
    assert np.array_equal(resampled[0][1], clip_frames[27])
    with pytest.raises(OptionError):
        list(iter_frames(clip, start=1.0, end=0.5))


# extract_frames --------------------------------------------------------------------------------
def test_extract_frames_names_and_resume(clip: Path, clip_frames: list[np.ndarray], tmp_path: Path) -> None:
    out = tmp_path / "frames"
    assert extract_frames(clip, out) == FRAMES
    names = [p.name for p in list_images(out)]
    assert names == [f"{i:05d}.png" for i in range(1, FRAMES + 1)]
    assert np.array_equal(read_image(out / "00001.png"), clip_frames[0])
    (out / "00005.png").unlink()
    (out / "00031.png").unlink()
    calls: list[tuple[int, bool]] = []
    assert extract_frames(clip, out, progress=lambda i, w: calls.append((i, w))) == FRAMES
    assert [i for i, _ in calls] == list(range(1, FRAMES + 1))
    assert [i for i, written in calls if written] == [5, 31]
    assert np.array_equal(read_image(out / "00031.png"), clip_frames[30])


def test_extract_frames_jpg_fps_denoise(clip: Path, tmp_path: Path) -> None:
    plain, smooth = tmp_path / "plain", tmp_path / "smooth"
    assert extract_frames(clip, plain, fps=5, fmt="jpg") == 8
    assert extract_frames(clip, smooth, fps=5, fmt="jpg", denoise=4) == 8
    assert [p.name for p in list_images(plain)] == [f"{i:05d}.jpg" for i in range(1, 9)]
    a, b = read_image(plain / "00003.jpg"), read_image(smooth / "00003.jpg")
    assert 0.2 < np.abs(a.astype(int) - b).mean() < 8  # filtered, not replaced
    with pytest.raises(OptionError):
        extract_frames(clip, tmp_path / "x", fmt="gif")


# cut -------------------------------------------------------------------------------------------
def test_cut_keeps_audio_and_duration(clip: Path, clip_frames: list[np.ndarray], tmp_path: Path) -> None:
    out = cut(clip, tmp_path / "cut.mp4", 0.6, 1.4)
    info = probe(out)
    assert info.frame_count == 20 and info.fps == 25.0
    assert info.duration == pytest.approx(0.8, abs=0.01)
    assert info.has_audio and info.audio_codec == "aac"
    duration, onset = _audio(out)
    assert duration == pytest.approx(0.8, abs=0.05)
    assert onset == pytest.approx(BURST - 0.6, abs=0.01)  # audio cut at the same instant as video
    first = next(iter_frames(out))[1]
    assert np.abs(first.astype(int) - clip_frames[15]).mean() < 4
    with pytest.raises(InputError, match="already exists"):
        cut(clip, out, 0.0, 0.5)
    assert probe(cut(clip, out, 0.0, 0.5, overwrite=True)).frame_count == 13
    with pytest.raises(OptionError):
        cut(clip, tmp_path / "late.mp4", 5.0, 6.0)
    with pytest.raises(OptionError, match="audio track 3"):
        cut(clip, tmp_path / "track.mp4", 0.0, 0.5, audio_track=3)


# VideoWriter -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "options", "codec", "tolerance"),
    [
        ("out.mp4", {}, "h264", 4.0),
        ("lossless.mp4", {"lossless": True}, "h264", 1.0),
        ("lossless.mkv", {"lossless": True}, "ffv1", 0.0),
        ("out.mov", {}, "prores", 2.0),
        ("out.avi", {}, "mjpeg", 4.0),
    ],
)
def test_video_writer_round_trip(clip: Path, clip_frames: list[np.ndarray], tmp_path: Path, name: str,
                                 options: dict, codec: str, tolerance: float) -> None:
    out = tmp_path / name
    tags = {"comment": "made by recast", "recast_job": "job-42"}
    with VideoWriter(out, Fraction(25), audio_from=clip, metadata=tags, **options) as writer:
        for frame in clip_frames:
            writer.write(frame)
        assert writer.has_audio and not out.exists()
    info = probe(out)
    assert (info.codec, info.width, info.height, info.fps_fraction) == (codec, WIDTH, HEIGHT, Fraction(25))
    assert info.frame_count == FRAMES and info.duration == pytest.approx(1.6, abs=0.01)
    assert info.has_audio
    duration, onset = _audio(out)
    assert duration == pytest.approx(1.6, abs=0.05)
    assert onset == pytest.approx(BURST, abs=0.01)
    assert "made by recast" in info.metadata["comment"]
    assert "job-42" in (info.metadata.get("recast_job") or info.metadata["comment"])
    decoded = [frame for _, frame in iter_frames(out)]
    error = max(np.abs(a.astype(int) - b).mean() for a, b in zip(decoded, clip_frames, strict=True))
    assert error <= tolerance
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_video_writer_trims_long_audio_and_copies(clip: Path, clip_frames: list[np.ndarray],
                                                  tmp_path: Path) -> None:
    out = tmp_path / "short.mp4"
    with VideoWriter(out, 25, audio_from=clip) as writer:
        for frame in clip_frames[:10]:
            writer.write(frame)
    assert probe(out).duration == pytest.approx(0.4, abs=0.01)
    duration, _ = _audio(out)
    assert duration == pytest.approx(0.4, abs=0.035)  # stream copy: within one AAC packet
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"


def test_video_writer_interrupted_leaves_nothing(clip_frames: list[np.ndarray], tmp_path: Path) -> None:
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), VideoWriter(out, 25) as writer:
        writer.write(clip_frames[0])
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="no frames"), VideoWriter(out, 25):
        pass
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OptionError):
        VideoWriter(tmp_path / "x.webm", 25)


def test_rotated_video_is_turned_upright(clip: Path, clip_frames: list[np.ndarray], tmp_path: Path) -> None:
    raw = bytearray(clip.read_bytes())
    at = raw.index(b"tkhd") + 4  # the first track is the video track
    offset = at + (52 if raw[at] == 1 else 40)
    identity = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    assert raw[offset:offset + 36] == identity
    raw[offset:offset + 36] = struct.pack(">9I", 0, 0x10000, 0, 0xFFFF0000, 0, 0, 0, 0, 0x40000000)
    rotated = tmp_path / "phone.mp4"
    rotated.write_bytes(bytes(raw))
    info = probe(rotated)
    assert (info.width, info.height) == (HEIGHT, WIDTH) and info.rotation % 180 == 90
    _, first = next(iter_frames(rotated))
    assert np.array_equal(first, np.rot90(clip_frames[0], -1))  # shown turned 90 degrees clockwise


# images ----------------------------------------------------------------------------------------
def test_read_image_by_content_and_formats(tmp_path: Path) -> None:
    image = cv2.cvtColor(data.astronaut()[::4, ::4], cv2.COLOR_RGB2BGR)
    fake_jpg = tmp_path / "really_png.jpg"
    fake_jpg.write_bytes(cv2.imencode(".png", image)[1].tobytes())
    assert np.array_equal(read_image(fake_jpg), image)
    webp = tmp_path / "really_webp.png"
    webp.write_bytes(cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes())
    assert np.array_equal(read_image(webp), image)
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), image[:, :, 0])
    assert np.array_equal(read_image(gray), np.repeat(image[:, :, :1], 3, axis=2))
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), np.dstack([image, np.full(image.shape[:2], 7, np.uint8)]))
    assert np.array_equal(read_image(rgba), image)
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), image.astype(np.uint16) * 257)
    result = read_image(deep)
    assert result.dtype == np.uint8 and np.abs(result.astype(int) - image).max() <= 1


def test_write_and_list_images(tmp_path: Path) -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    for name in ("10.png", "2.png", "1.jpg", "b.webp", "A.bmp"):
        write_image(tmp_path / name, image)
    (tmp_path / ".2.x.tmp.png").write_bytes(b"half")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_images(tmp_path)] == ["1.jpg", "2.png", "10.png", "A.bmp", "b.webp"]
    assert read_image(tmp_path / "1.jpg").shape == (8, 8, 3)
    with pytest.raises(OptionError):
        write_image(tmp_path / "x.gif", image)
    with pytest.raises(InputError):
        list_images(tmp_path / "missing")


def test_denoise_frame() -> None:
    clean = cv2.cvtColor(data.astronaut()[::2, ::2], cv2.COLOR_RGB2BGR)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 8, clean.shape), 0, 255).astype(np.uint8)
    assert denoise_frame(noisy, 0) is noisy
    smooth = denoise_frame(noisy, 4)
    assert smooth.shape == noisy.shape and smooth.dtype == np.uint8
    assert np.abs(smooth.astype(int) - clean).mean() < np.abs(noisy.astype(int) - clean).mean()


# bad inputs ------------------------------------------------------------------------------------
def test_bad_videos_raise_input_error(clip: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:1024])
    header_only = tmp_path / "header_only.mp4"  # faststart file cut right after its index
    with VideoWriter(tmp_path / "fast.mp4", 25) as writer:
        for _ in range(5):
            writer.write(np.zeros((64, 64, 3), np.uint8))
    raw = (tmp_path / "fast.mp4").read_bytes()
    header_only.write_bytes(raw[: raw.index(b"mdat") + 4])
    for bad in (text, truncated, header_only, tmp_path / "missing.mp4", tmp_path):
        for call in (probe, lambda p: list(iter_frames(p)), lambda p: extract_frames(p, tmp_path / "f")):
            with pytest.raises(InputError) as caught:
                call(bad)
            message = str(caught.value)
            assert str(bad) in message and "\n" not in message
    assert not (tmp_path / "f").exists()  # no empty frame folder for an unreadable video
    with pytest.raises(InputError, match="not a readable video"):
        probe(text)
    with pytest.raises(InputError, match="no decodable video frames"):
        list(iter_frames(header_only))
    with pytest.raises(InputError, match="not a readable media file"):
        VideoWriter(tmp_path / "y.mp4", 25, audio_from=text)


def test_bad_images_raise_input_error(tmp_path: Path) -> None:
    text = tmp_path / "photo.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for bad in (text, empty, tmp_path / "missing.png", tmp_path):
        with pytest.raises(InputError) as caught:
            read_image(bad)
        assert str(bad) in str(caught.value)


# CLI -------------------------------------------------------------------------------------------
def test_cli_reports_bad_video_in_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    result = subprocess.run(
        [sys.executable, "-c", "from recast.cli.main import main; main()", "frames", str(text), str(tmp_path / "f")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(text) in lines[0]
    assert "not a readable video" in lines[0]


def test_cli_frames_and_cut(clip: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["frames", str(clip), str(tmp_path / "f"), "--fps", "5", "--format", "jpg"])
    assert result.exit_code == 0, result.output
    assert len(list_images(tmp_path / "f")) == 8
    video = tmp_path / "clip.mp4"
    video.write_bytes(clip.read_bytes())
    result = runner.invoke(app, ["cut", str(video), "--start", "0.2", "--end", "0.6"])
    assert result.exit_code == 0, result.output
    assert probe(tmp_path / "clip_cut.mp4").frame_count == 10
    result = runner.invoke(app, ["cut", str(video), "--start", "0.2", "--end", "0.6"])
    assert isinstance(result.exception, InputError) and "--force" in str(result.exception)
    result = runner.invoke(app, ["cut", str(video), "--start", "0", "--end", "0.4", "--force"])
    assert result.exit_code == 0 and probe(tmp_path / "clip_cut.mp4").frame_count == 10


# real videos -----------------------------------------------------------------------------------
@pytest.mark.realdata
def test_probe_real_videos_match_manifest(shared_data: Path) -> None:
    manifest = (shared_data / "MANIFEST.md").read_text()
    rows = re.findall(r"^\| `videos/([^`]+)` \|.*?\| (\d+)x(\d+) \| ([\d.]+) \((\d+)\) \|", manifest, re.M)
    assert len(rows) == 12
    for name, width, height, fps, frames in rows:
        info = probe(shared_data / "videos" / name)
        assert (info.width, info.height) == (int(width), int(height)), name
        assert info.fps == pytest.approx(float(fps), abs=0.006), name
        assert info.frame_count == int(frames) and info.frame_count_exact, name
        assert info.has_audio, name
    sadtalker = shared_data / "videos" / "person_A__sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"
    assert sum(1 for _ in iter_frames(sadtalker)) == 200


def test_h264_roundtrip_keeps_frames_and_halves_size() -> None:
    frames = [np.full((72, 128, 3), 40 * i, np.uint8) for i in range(5)]
    same = h264_roundtrip(frames, crf=18)
    assert len(same) == 5 and same[0].shape == (72, 128, 3)
    assert all(abs(float(a.mean()) - float(b.mean())) < 3 for a, b in zip(frames, same, strict=True))
    small = h264_roundtrip(frames, crf=28, scale=0.5)
    assert len(small) == 5 and small[0].shape == (36, 64, 3)
