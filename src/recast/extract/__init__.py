"""Extraction: detectors, landmarkers and identity embedders (plugins), and the extract stage."""
