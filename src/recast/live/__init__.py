"""Live face swap: camera, stream or video in → swapped, labelled frames out.

* :mod:`recast.live.capture`: sources (camera, stream, video file at its own pace) and the
  newest-frame-only capture thread;
* :mod:`recast.live.tracking`: detect every few frames, landmarks every frame, One-Euro smoothing;
* :mod:`recast.live.engine`: the per-frame loop, its statistics, and :func:`run_live`;
* :mod:`recast.live.sinks`: labelled recording, virtual camera, network stream.
"""
