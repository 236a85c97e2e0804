"""``recast live``: capture with frame dropping, tracking, swap, labelled outputs, clean stops."""

from __future__ import annotations

import importlib.util
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from media_factory import face_clip_frames, write_face_clip
from recast.errors import InputError, OptionError
from recast.live.capture import LatestFrame, open_source
from recast.live.engine import LiveOptions, LiveSession, run_live
from recast.live.sinks import FileSink, StreamSink, create_sink
from recast.live.tracking import LiveFaceTracker
from recast.media.video import iter_frames, probe
from recast.merge.settings import MergeSettings
from recast.provenance.verify import verify
from recast.provenance.watermark import detect_watermark
from test_merge_models import FunctionModel, invert

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ListSource:
    """A frame source over a list of frames, ``interval`` seconds apart (a fast or slow camera)."""

    def __init__(self, frames: list[np.ndarray], interval: float, fps: float = 25.0) -> None:
        self.name = "list"
        self.fps = fps
        self._frames = frames
        self._interval = interval
        self._closed = threading.Event()

    def frames(self) -> Iterator[np.ndarray]:
        for frame in self._frames:
            if self._closed.wait(self._interval):
                return
            yield frame

    def close(self) -> None:
        self._closed.set()


def test_a_slow_consumer_drops_frames_instead_of_queueing():
    frames = [np.full((8, 8, 3), i, np.uint8) for i in range(40)]
    capture = LatestFrame(ListSource(frames, 0.002)).start()
    taken = []
    while (item := capture.take()) is not None:
        taken.append(item.index)
        time.sleep(0.02)
    capture.stop()
    assert capture.captured == 40 and capture.dropped > 10
    assert len(taken) + capture.dropped == 40
    assert taken == sorted(taken) and taken[-1] == 39  # always the newest frame


def test_tracker_follows_the_face_between_detections():
    frames = face_clip_frames(12)
    tracker = LiveFaceTracker(25.0, detect_every=6, smoothing=None)
    tracks = [tracker.update(frame) for frame in frames]
    assert all(len(points) == 1 for points in tracks)
    fresh = LiveFaceTracker(25.0, detect_every=1, smoothing=None)
    detected = [fresh.update(frame) for frame in frames]
    for followed, every in zip(tracks, detected, strict=True):  # carried boxes fit like detected ones
        assert np.abs(followed[0] - every[0]).mean() < 2.0


def test_live_video_to_a_labelled_recording(tmp_path):
    clip = write_face_clip(tmp_path / "clip.mp4", count=20)
    model = FunctionModel(invert, resolution=64)
    session = LiveSession(model, open_source(str(clip)), LiveOptions(MergeSettings(color="none"),
                                                                     visible_label=True))
    out = tmp_path / "live.mp4"
    stats = run_live(session, [FileSink(out, session.fps, provenance={"model": {"name": "invert"}})])
    assert stats.delivered >= 3 and stats.faces >= stats.delivered - 1
    assert stats.captured == 20 and stats.delivered + stats.dropped <= 20
    assert stats.delivered <= probe(out).frame_count <= 20  # dropped frames are filled, keeping the timing
    report = verify(out)
    assert report.labelled and report.container_tag and report.sidecar_ok
    assert report.frames_marked == report.frames_checked > 0
    last = list(iter_frames(out))[-1][1]
    assert last[-40:, -200:].mean() < last.mean()  # the visible label's dark box, bottom right


def test_recording_keeps_the_source_timing_when_frames_drop(tmp_path):
    frames = face_clip_frames(6)
    sink = FileSink(tmp_path / "gaps.mkv", 25.0)
    for index in (0, 1, 4, 5):
        sink.write(frames[index], index)
    sink.close()
    assert probe(tmp_path / "gaps.mkv").frame_count == 6


def test_stop_and_ctrl_c_end_cleanly(tmp_path):
    frames = face_clip_frames(200)
    model = FunctionModel(invert, resolution=64)
    session = LiveSession(model, ListSource(frames, 0.01), LiveOptions(MergeSettings(color="none")))
    delivered = 0
    for _ in session.frames():
        delivered += 1
        if delivered == 1:
            threading.Timer(0.3, session.stop).start()
    assert 1 < delivered < 200

    session = LiveSession(model, ListSource(frames, 0.01), LiveOptions(MergeSettings(color="none")))

    def interrupt(frame: object) -> None:
        if session.stats.delivered >= 3:
            raise KeyboardInterrupt

    out = tmp_path / "stopped.mp4"
    stats = run_live(session, [FileSink(out, 25.0)], on_frame=interrupt)
    assert stats.delivered == 3 and out.is_file() and detect_watermark(next(iter_frames(out))[1]).found


def test_outputs_that_cannot_work_here_fail_in_one_line(tmp_path):
    with pytest.raises(OptionError, match="opencv-headless"):
        create_sink("window", 25.0)
    if importlib.util.find_spec("pyvirtualcam") is None:
        with pytest.raises(OptionError, match="pyvirtualcam"):
            create_sink("v4l2:/dev/video9", 25.0)
    with pytest.raises(OptionError):
        create_sink(str(tmp_path / "out.xyz"), 25.0)
    with pytest.raises(InputError):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(InputError):
        open_source("/dev/video97")


def test_stream_sink_writes_low_latency_h264(tmp_path):
    sink = StreamSink(str(tmp_path / "stream.flv"), 25.0, "flv")
    for index, frame in enumerate(face_clip_frames(5)):
        sink.write(frame, index)
    sink.close()
    assert probe(tmp_path / "stream.flv").frame_count == 5


def test_cli_live_with_an_exported_dfm(tmp_path, monkeypatch, capsys):
    from recast.cli.main import main
    from test_export import save_model

    clip = write_face_clip(tmp_path / "clip.mp4", count=15)
    model_dir = save_model(tmp_path / "model", "saehd", resolution=64, face_type="whole", archi="df-ud",
                           ae_dims=32, e_dims=8, d_dims=8, d_mask_dims=4)
    dfm = tmp_path / "face.dfm"
    out = tmp_path / "live.mp4"
    for args in (["export", str(model_dir), "-o", str(dfm)],
                 ["live", "-m", str(dfm), "-i", str(clip), "-o", str(out), "--mask-mode", "learned-prd*learned-dst"]):
        monkeypatch.setattr("sys.argv", ["recast", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 0, capsys.readouterr().err
    assert "frames delivered" in capsys.readouterr().err
    monkeypatch.setattr("sys.argv", ["recast", "verify", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    for target, message in (("window", "opencv-headless"), (str(clip), "is an input of this run")):
        monkeypatch.setattr("sys.argv", ["recast", "live", "-m", str(dfm), "-i", str(clip), "-o", target, "--force"])
        with pytest.raises(SystemExit) as exit_info:
            main()
        error = capsys.readouterr().err.strip()
        assert exit_info.value.code == 1 and message in error and len(error.splitlines()) == 1
    assert clip.stat().st_size > 0 and probe(clip).frame_count == 15


def test_realtime_pacing_of_a_file_source(tmp_path: Path):
    clip = write_face_clip(tmp_path / "clip.mp4", count=10)
    source = open_source(str(clip))
    started = time.perf_counter()
    count = sum(1 for _ in source.frames())
    assert count == 10 and time.perf_counter() - started >= 9 / 25 - 0.01


def test_live_with_an_amp_dfm_and_morph(tmp_path):
    from recast.export.dfm import export_model
    from recast.models.loader import load_face_model
    from test_export import SMALL_AMP, save_model

    dfm = export_model(save_model(tmp_path / "amp", "amp", **SMALL_AMP), tmp_path / "amp.dfm").path
    model = load_face_model(dfm)
    settings = MergeSettings(mask_mode="learned-prd*learned-dst", morph=0.75)
    session = LiveSession(model, ListSource(face_clip_frames(6), 0.04), LiveOptions(settings, max_frames=3))
    outputs = list(session.frames())
    assert model.is_amp and 1 <= len(outputs) <= 3 and all(frame.faces == 1 for frame in outputs)
    assert all(detect_watermark(frame.image).found for frame in outputs)


@pytest.mark.realdata
def test_live_tracks_a_real_talking_head(shared_data, tmp_path):
    video = shared_data / "videos" / "person_A__videoretalking_face_3.mp4"
    frames = [frame for _, frame in itertools.islice(iter_frames(video), 30)]
    tracker = LiveFaceTracker(25.0)
    found = [len(tracker.update(frame)) for frame in frames]
    assert sum(found) >= 29
    session = LiveSession(FunctionModel(invert, resolution=64), ListSource(frames, 0.04),
                          LiveOptions(MergeSettings(color="none"), max_frames=5))
    assert all(frame.faces == 1 for frame in session.frames())
