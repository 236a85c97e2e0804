"""Load and run exported models the way DeepFaceLive and FaceFusion do, in their own onnxruntime.

Run by ``tests/test_export_peers.py`` with a peer venv's Python (only onnxruntime and numpy there):

    python peer_load.py JOBS.json

``JOBS.json`` is a list of ``{"how": "deepfacelive" | "facefusion" | "mask", "model": PATH,
"input": NPY, "morph": float | null, "out": NPZ}``. Each job writes its outputs to ``out`` (arrays
``o0``, ``o1``, …; numpy adds ``.npz``), or the runtime's refusal to ``out + ".error"``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


def deepfacelive(path: str, face: np.ndarray, morph: float | None) -> list[np.ndarray]:
    """DeepFaceLive's DFMModel: input names checked by substring, fed by literal name, outputs by position."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if not inputs or "in_face" not in inputs[0].name:
        raise ValueError("no in_face input")
    shape = inputs[0].shape
    if len(shape) != 4 or shape[3] != 3 or shape[1] != face.shape[1]:
        raise ValueError(f"in_face shape {shape}")
    feed = {"in_face:0": face}
    if len(inputs) == 2:
        if "morph_value" not in inputs[1].name:
            raise ValueError("second input is not morph_value")
        feed["morph_value:0"] = np.float32([0.75 if morph is None else morph])
    elif len(inputs) > 2:
        raise ValueError("more than two inputs")
    return list(session.run(None, feed))


def facefusion(path: str, face: np.ndarray, morph: float | None) -> list[np.ndarray]:
    """FaceFusion's deep_swapper: size from the first output, inputs by exact name, batch of one."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    size = tuple(session.get_outputs()[0].shape[1:3])
    feed = {}
    for value in session.get_inputs():
        if value.name == "in_face:0":
            feed[value.name] = face[:1]
        if value.name == "morph_value:0":
            feed[value.name] = np.float32([1.0 if morph is None else morph])
    target_mask, swapped, source_mask = session.run(None, feed)
    return [target_mask[0].reshape(size), swapped[0], source_mask[0].reshape(size)]


def mask(path: str, face: np.ndarray, morph: float | None) -> list[np.ndarray]:
    """An XSeg mask model: the first input, the first output."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return [session.run(None, {session.get_inputs()[0].name: face})[0]]


def main(jobs_file: str) -> None:
    runners = {"deepfacelive": deepfacelive, "facefusion": facefusion, "mask": mask}
    for job in json.loads(Path(jobs_file).read_text()):
        face = np.load(job["input"])
        try:
            outputs = runners[job["how"]](job["model"], face, job["morph"])
        except Exception as error:  # the runtime's refusal is the result being tested
            Path(job["out"] + ".error").write_text(f"{type(error).__name__}: {error}")
            continue
        np.savez(job["out"], **{f"o{i}": np.asarray(output) for i, output in enumerate(outputs)})
    print(f"onnxruntime {ort.__version__}: {len(json.loads(Path(jobs_file).read_text()))} jobs")


if __name__ == "__main__":
    main(sys.argv[1])
