"""Merging: put a trained model's faces back into the destination frames.

* :mod:`recast.color`: colour transfer (rct, lct, mkl, idt, sot, mix).
* :mod:`recast.merge.maskops`: mask modes, erode/dilate and feathering.
* :mod:`recast.merge.effects`: histogram matching, sharpen/blur, motion blur, degradation.
* :mod:`recast.merge.blend`: the per-face pipeline (crop, predict, mask, colour, warp back, blend).
* :mod:`recast.merge.settings`: :class:`MergeSettings` and keyframed session files.
* :mod:`recast.merge.engine`: the per-frame pipeline (read, crop, predict, blend) feeding a sink.
* :mod:`recast.merge.sinks`: where merged frames go: PNG folders (resumable) or the result video.
* :mod:`recast.merge.stage`: :func:`merge` (to PNG folders) and :func:`merge_to_video`, the whole stage.
* :mod:`recast.merge.export`: RGBA layers and placement JSON for compositing tools.
"""
