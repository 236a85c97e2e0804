"""Provenance: every result recast writes is labelled "synthetic media, made with recast".

Three layers, checked together by :func:`recast.provenance.verify.verify` (``recast verify``):
container tags and a JSON sidecar (:mod:`recast.provenance.label`), and an invisible watermark in
every frame that survives re-encoding and downscaling (:mod:`recast.provenance.watermark`).
:mod:`recast.provenance.writer` writes a labelled result video (the encode stage and the merger's
video sink both use it).
"""
