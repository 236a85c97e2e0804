"""``recast live``: swap faces in a camera, stream or video in real time, into a recording or camera."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import typer

from recast.cli.merge import prefer_passive_openmp
from recast.cli.progress import console
from recast.color import COLOR_TRANSFERS
from recast.errors import OptionError
from recast.merge.maskops import MASK_MODES

# built here, not inside the default below: mypy cannot resolve a comprehension's name in a default
_LIVE_MASK_MODES = "|".join(m for m in MASK_MODES if "xseg" not in m)


def live_command(
    model: Path = typer.Option(..., "--model", "-m", help="Trained model folder, or a .dfm/.onnx face model."),
    source: str = typer.Option(..., "--input", "-i",
                               help="Camera (0, /dev/video0), stream (rtsp://…) or video file (played at its rate)."),
    output: str = typer.Option(..., "--output", "-o",
                               help="FILE (.mp4/.mkv/.mov/.avi), v4l2:/dev/videoN (pyvirtualcam), rtmp://…; "
                                    "'window' is unavailable with opencv-headless."),
    mask_mode: str = typer.Option("dst", help=f"{_LIVE_MASK_MODES}."),
    color: str = typer.Option("rct", help=f"none|{'|'.join(COLOR_TRANSFERS)}."),
    erode: int = typer.Option(0, help="Mask erode (>0) / dilate (<0), DFL units."),
    blur: int = typer.Option(20, help="Mask feather, DFL units."),
    morph: float = typer.Option(1.0, help="Identity morph for AMP models, 0..1 (DeepFaceLive's default is 0.75)."),
    face_type: str | None = typer.Option(None, help="Face type of a .dfm that does not record it (default: whole)."),
    detect_every: int = typer.Option(5, min=1, help="Run the face detector every N frames (landmarks every frame)."),
    detect_size: int = typer.Option(480, min=0, help="Longest side the detector sees (faces ≳ 80 px there)."),
    max_faces: int = typer.Option(1, min=1, help="Faces swapped per frame, largest first."),
    visible_label: bool = typer.Option(False, "--visible-label", help="Also draw a visible 'SYNTHETIC' label."),
    seconds: float | None = typer.Option(None, min=0.1, help="Stop after this many seconds."),
    device: str = typer.Option("cpu", help="Torch device for a model folder (cpu, cuda, …)."),
    precision: str = typer.Option("auto", help="Model folder precision: auto, fp32, bf16, fp16 (CUDA)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Swap MODEL's face into every frame of INPUT as it arrives, labelled, into OUTPUT.

    Frames arriving while the previous one is still being swapped are dropped, never queued.
    Ctrl-C stops cleanly and finalises the recording. Every output frame carries recast's
    invisible watermark; recordings also get the container tags and provenance sidecar.
    """
    prefer_passive_openmp()
    from recast.export.loader import load_face_model
    from recast.live.capture import open_source
    from recast.live.engine import LiveOptions, LiveSession, run_live
    from recast.live.sinks import create_sink
    from recast.merge.settings import MergeSettings

    target = Path(output).resolve()
    if target in (Path(source).resolve(), model.resolve()):
        raise OptionError(f"--output {output} is an input of this run; choose another file")
    settings = MergeSettings(mask_mode=mask_mode, color=color, erode=erode, blur=blur, morph=morph)
    options = LiveOptions(settings, detect_every=detect_every, detect_size=detect_size, max_faces=max_faces,
                          visible_label=visible_label)
    frame_source = open_source(source)
    sink = None
    try:  # the output is checked before the (possibly slow) model load
        inputs = {"model": model, **({"source": Path(source)} if Path(source).is_file() else {})}
        provenance: dict[str, Any] = {"inputs": inputs, "model": {"path": str(model)},
                      "settings": {**settings.to_dict(), "source": source}, "visible_label": visible_label}
        sink = create_sink(output, frame_source.fps, overwrite=force, provenance=provenance)
        face_model = load_face_model(model, device, precision, face_type)
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
