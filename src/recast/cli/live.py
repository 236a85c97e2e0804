"""``recast live``: swap faces in a camera, stream or video in real time, into a recording or camera."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import typer

from recast.cli.devices import pick_device
from recast.cli.merge import prefer_passive_openmp
from recast.cli.progress import console
from recast.errors import OptionError
from recast.live.engine import LIVE_FLAGS, LIVE_SETTINGS, LiveOptions
from recast.merge.settings import MergeSettings
from recast.options import from_mapping, select
from recast.options.cli import cli_options
from recast.runtime.options import ComputeOptions


@cli_options("settings", select(MergeSettings, *LIVE_SETTINGS))
@cli_options("live", select(LiveOptions, *LIVE_FLAGS))
@cli_options("compute", select(ComputeOptions, "device", "precision"))
def live_command(
    model: Path = typer.Option(..., "--model", "-m", help="Trained model folder, or a .dfm/.onnx face model."),
    source: str = typer.Option(..., "--input", "-i",
                               help="Camera (0, /dev/video0), stream (rtsp://…) or video file (played at its rate)."),
    output: str = typer.Option(..., "--output", "-o",
                               help="FILE (.mp4/.mkv/.mov/.avi), v4l2:/dev/videoN (pyvirtualcam), rtmp://…; "
                                    "'window' is unavailable with opencv-headless."),
    face_type: str | None = typer.Option(None, help="Face type of a .dfm that does not record it (default: whole)."),
    seconds: float | None = typer.Option(None, min=0.1, help="Stop after this many seconds."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    settings: dict[str, Any] | None = None,
    live: dict[str, Any] | None = None,
    compute: dict[str, Any] | None = None,
) -> None:
    """Swap MODEL's face into every frame of INPUT as it arrives, labelled, into OUTPUT.

    Frames arriving while the previous one is still being swapped are dropped, never queued.
    Ctrl-C stops cleanly and finalises the recording. Every output frame carries recast's
    invisible watermark; recordings also get the container tags and provenance sidecar.
    """
    prefer_passive_openmp()
    from recast.live.capture import open_source
    from recast.live.engine import LiveSession, run_live
    from recast.live.sinks import create_sink
    from recast.models.loader import load_face_model

    target = Path(output).resolve()
    if target in (Path(source).resolve(), model.resolve()):
        raise OptionError(f"--output {output} is an input of this run; choose another file")
    merge_settings = MergeSettings.from_dict(settings or {})
    options = from_mapping(LiveOptions, {**(live or {}), "settings": merge_settings})
    run = from_mapping(ComputeOptions, compute or {})
    frame_source = open_source(source)
    sink = None
    try:  # the output is checked before the (possibly slow) model load
        inputs = {"model": model, **({"source": Path(source)} if Path(source).is_file() else {})}
        provenance: dict[str, Any] = {"inputs": inputs, "model": {"path": str(model)},
                                      "settings": {**merge_settings.to_dict(), "source": source},
                                      "visible_label": options.visible_label}
        sink = create_sink(output, frame_source.fps, overwrite=force, provenance=provenance)
        face_model = load_face_model(model, pick_device(run.device), run.precision, face_type)
        provenance["model"].update(resolution=face_model.resolution, face_type=str(face_model.face_type))
        session = LiveSession(face_model, frame_source, options)
    except BaseException:
        if sink is not None:
            sink.abort()
        frame_source.close()
        raise
    signal.signal(signal.SIGTERM, lambda *_: session.stop())
    if seconds is not None:
        timer = threading.Timer(seconds, session.stop)
        timer.daemon = True
        timer.start()
    console.print(f"live: {source} ({session.fps:.1f} fps) → {output}; Ctrl-C stops")
    stats = run_live(session, [sink])
    console.print(f"[green]done[/]: {stats.describe()}")


def register(app: typer.Typer) -> None:
    """Add ``live`` to the app."""
    app.command("live")(live_command)
