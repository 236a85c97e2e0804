"""Run a ``.dfm`` / ``.onnx`` face model (DeepFaceLive's contract) in onnxruntime for the merger.

:class:`OnnxFaceSwapper` satisfies the merger's model protocol
(:class:`recast.models.swapmodel.SwapModel`), so ``recast merge`` and ``recast live`` use a user's
existing DeepFaceLive models, or models exported by :mod:`recast.export.dfm`, like a trained
model folder. The file is checked by :func:`recast.models.contract.inspect_model` before
onnxruntime sees it. No torch.

The file does not say which face type it was trained on. recast's exports record it in their
metadata (``recast.face_type``); for other files it defaults to ``whole`` (DeepFaceLab's
``whole_face``, what DeepFaceLive's published models use) unless the caller names one.

Example:
    >>> swapper = OnnxFaceSwapper.load("celeb_224.dfm")
    >>> face, face_mask, dst_mask = swapper.swap(crops)   # (N, R, R, 3) float32 BGR [0, 1]
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from recast.errors import InputError
from recast.faces.facetype import FaceType, parse_face_type
from recast.models.contract import METADATA_PREFIX, ModelContract, inspect_model
from recast.models.onnx_budget import MAX_GRAPH_BYTES
from recast.provenance.label import sha256_file
from recast.runtime.threads import plan_threads

log = logging.getLogger(__name__)

DEFAULT_FACE_TYPE = FaceType.WHOLE
_ORT_ERRORS = (
    ort_state.Fail, ort_state.InvalidGraph, ort_state.InvalidArgument, ort_state.InvalidProtobuf,
    ort_state.NoSuchFile, ort_state.NotImplemented, ort_state.RuntimeException, RuntimeError,
)


class OnnxFaceSwapper:
    """A face model file ready to swap aligned destination faces.

    Attributes: ``resolution`` (int), ``face_type`` (FaceType), ``has_learned_mask`` (always True:
    the contract has both masks), ``is_amp`` (takes a morph value), ``iteration`` (from recast
    metadata, else 0), ``weights_sha256`` (sha256 of the model file, so a merge resumed with another
    file redoes its frames), ``contract`` (:class:`ModelContract`), ``path``.
    """

    def __init__(self, path: Path, contract: ModelContract, session: ort.InferenceSession,
                 face_type: FaceType) -> None:
        self.path = path
        self.contract = contract
        self.session = session
        self.resolution = contract.resolution
        self.face_type = face_type
        self.has_learned_mask = True
        self.is_amp = contract.has_morph
        iteration = contract.metadata.get(METADATA_PREFIX + "iteration", "0")
        self.iteration = int(iteration) if iteration.isdigit() else 0
        self.weights_sha256 = sha256_file(path)

    @classmethod
    def load(cls, path: str | Path, face_type: str | FaceType | None = None, threads: int | None = None,
             providers: list[str] | None = None) -> OnnxFaceSwapper:
        """Check ``path`` against the contract, then open it in onnxruntime.

        Args:
            path: a ``.dfm`` or ``.onnx`` file.
            face_type: the crop the model expects; default: the file's ``recast.face_type``, else ``whole``.
            threads: onnxruntime intra-op threads; default one per usable core
                (:func:`recast.runtime.threads.plan_threads`).
            providers: onnxruntime execution providers; default CPU.

        Raises:
            InputError: the file is not a face model of the contract, is unsafe to load, or
                onnxruntime cannot open it (one line; nothing has run).
        """
        path = Path(path)
        contract = inspect_model(path)
        stored = contract.metadata.get(METADATA_PREFIX + "face_type")
        if face_type is not None:
            chosen = parse_face_type(face_type)
        elif stored is not None:
            chosen = parse_face_type(stored)
        else:
            chosen = DEFAULT_FACE_TYPE
            log.info("%s does not record its face type; assuming %s", path, chosen.value)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or plan_threads().torch_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Threads that spin between operators starve when other programs load the cores: a 64 px
        # model took 29 ms per face with spinning and 15 ms without on a busy 2-core machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No CPU arena: an untrusted model's intermediates are freed after use, never pooled (the
        # file's own size bound is checked by inspect_model); a GPU arena is capped the same way.
        options.enable_cpu_mem_arena = False
        chosen_providers = _bounded(providers or ["CPUExecutionProvider"])
        try:
            session = ort.InferenceSession(str(path), options, providers=chosen_providers)
        except _ORT_ERRORS as error:
            raise InputError(path, f"onnxruntime cannot load it: {_first_line(error)}") from None
        return cls(path, contract, session, chosen)

    def swap(
        self, faces: np.ndarray, morph: float = 1.0, masks: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Swap a batch of aligned destination faces.

        Args:
            faces: ``(N, R, R, 3)`` float32 BGR in [0, 1], aligned as ``face_type``.
            morph: AMP models: 0 = destination identity … 1 = source identity (ignored otherwise).
            masks: return the learned masks (the graph computes them either way).

        Returns:
            ``(face (N, R, R, 3) float32 BGR, face mask (N, R, R), dst mask (N, R, R))``, all clipped
            to [0, 1]; the masks are None when ``masks`` is False.
        """
        faces = np.ascontiguousarray(faces, dtype=np.float32)
        r = self.resolution
        if faces.ndim != 4 or faces.shape[1:] != (r, r, 3):
            raise ValueError(f"faces must be (N, {r}, {r}, 3) float32 BGR, got {faces.shape}")
        step = self.contract.fixed_batch or len(faces)
        parts = [self._run(faces[start : start + step], morph) for start in range(0, len(faces), step)]
        dst_mask, face, face_mask = (np.concatenate([part[i] for part in parts]) for i in range(3))
        face = np.clip(face, 0.0, 1.0)
        if not masks:
            return face, None, None
        return face, np.clip(face_mask[..., 0], 0.0, 1.0), np.clip(dst_mask[..., 0], 0.0, 1.0)

    def _run(self, faces: np.ndarray, morph: float) -> list[np.ndarray]:
        fixed = self.contract.fixed_batch
        count = len(faces)
        if fixed is not None and count < fixed:
            faces = np.concatenate([faces, np.zeros((fixed - count, *faces.shape[1:]), np.float32)])
        feed = {self.contract.input_name: faces}
        if self.contract.morph_name is not None:
            feed[self.contract.morph_name] = np.array([min(max(morph, 0.0), 1.0)], np.float32)
        try:
            outputs = self.session.run(list(self.contract.output_names), feed)
        except _ORT_ERRORS as error:
            raise InputError(self.path, f"onnxruntime failed running it: {_first_line(error)}") from None
        r = self.resolution
        shapes = [tuple(np.shape(out)) for out in outputs]
        if shapes != [(len(faces), r, r, channels) for channels in (1, 3, 1)]:
            raise InputError(self.path, f"its outputs have shapes {shapes}, not the contract's")
        return [np.asarray(out, np.float32)[:count] for out in outputs]


def _first_line(error: BaseException) -> str:
    """The first line of an onnxruntime error (at most 200 characters), for a one-line message."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _bounded(providers: list[str]) -> list[str | tuple[str, dict[str, str]]]:
    """``providers`` with the CUDA arena capped at :data:`~recast.models.onnx_budget.MAX_GRAPH_BYTES`."""
    return [(name, {"gpu_mem_limit": str(MAX_GRAPH_BYTES), "arena_extend_strategy": "kSameAsRequested"})
            if name == "CUDAExecutionProvider" else name for name in providers]
