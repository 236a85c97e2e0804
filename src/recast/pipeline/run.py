"""``recast run``: two videos in, a labelled face-swap video out — every stage in one call.

Creates (or resumes) a workspace, extracts the faces of both videos, trains a model for a time
budget (by default the preset chosen for that budget on this machine:
:func:`recast.pipeline.budget.choose_preset`), and merges straight into the result video (with the
destination's audio, the mask video and the provenance sidecar; no frame files). With
``keep_frames`` it merges into the workspace's PNG folders first (for editing frames; then
``recast video`` re-encodes them) and encodes those. Each stage resumes where an interrupted run
stopped: extraction skips finished frames, training continues the saved model, a PNG merge skips
written frames; the streaming merge starts over (an interrupted one leaves no result).

>>> summary = run(RunOptions(src="alice.mp4", dst="bob.mp4", output="result.mp4", minutes=30))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast.errors import InputError, OptionError
from recast.extract.stage import ExtractOptions, ExtractSummary, extract
from recast.faces.facetype import parse_face_type
from recast.faceset.coverage import CoverageReport, faceset_coverage
from recast.merge.settings import MergeSettings
from recast.merge.stage import MergeSummary, merge, merge_to_video
from recast.paths import check_outputs_not_inputs
from recast.pipeline.encode import EncodeOptions, EncodeSummary, check_result_path, encode_video
from recast.runtime.threads import apply_torch_threads, plan_threads
from recast.workspace import Workspace, init_workspace

RUN_MERGE_SETTINGS = MergeSettings(mask_mode="learned-prd*learned-dst", color="mkl-m", erode=15, blur=60)
"""Default merge settings of ``recast run``: overlay, ``mkl-m`` colour transfer, the model's learned
masks of both faces, eroded 15 and feathered 60 (a soft edge that hides the seam). ``mkl-m`` rather
than DeepFaceLab's ``rct`` (still ``recast merge``'s default): rct matches each L*a*b* channel
alone, so it tints the face's darkest pixels (brows, eye sockets) blue (``benchmarks/color.py`` on
two trained pairs: dark Δb* −11.0 and −2.5 for rct, −1.8 and +1.0 for mkl-m, at the same cost and
the same whole-face colour match)."""
RUN_XSEG_MASK_MODE = "learned-prd*xseg-dst"
"""``recast run --xseg``'s mask mode (unless the merge settings name an xseg mode): the swapped face's
learned mask times the XSeg mask of the destination face, so hands and hair over it stay in front."""

AUTO_MODEL = "auto"
"""``RunOptions.model`` value that lets :func:`run` choose the preset for the budget."""

StageCallback = Callable[[str], None]
ProgressCallback = Callable[[int, int | None], None]

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """Options of :func:`run`.

    Attributes:
        src: video of the person whose face is put in.
        dst: video whose face is replaced (its audio is kept).
        output: the result video (``.mp4``, ``.mov``, ``.mkv`` or ``.avi``).
        workspace: working folder; default ``<output stem>_workspace`` beside the output.
        model: training preset, or ``auto`` (default): the best preset the budget buys on this machine,
            measured (:mod:`recast.pipeline.budget`); a workspace that already holds a model of one of
            those presets resumes it.
        model_config: overrides of the preset's model config for a new model (``ae_dims`` …).
        train_settings: overrides of the preset's training settings (``batch_size``, ``lr`` …).
        minutes: training time budget for this run.
        iterations: stop training at this iteration instead (whichever comes first).
        enhance_minutes: also train the identity-specific enhancer this long after the model
            (:mod:`recast.train.enhance`) and merge with it when it lowered the error on the src
            faces (0 = no enhancer).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (see :mod:`recast.runtime.devices`).
        precision: training and merge precision (``auto``: bf16 where the hardware computes it
            natively, fp16 on older CUDA GPUs, else float32; see :mod:`recast.runtime.precision`).
        threads: torch threads for training and merging (None: one per usable core, adapted to the
            machine's load while training; see :mod:`recast.runtime.threads`).
        extract_size: aligned face size.
        reference: photos of the destination person, when the destination shows several people.
        merge_settings: merger settings (default :data:`RUN_MERGE_SETTINGS`).
        visible_label: burn a visible "SYNTHETIC" label into the result too.
        preset: x264 preset of the result (see :class:`recast.pipeline.encode.EncodeOptions`).
        keep_frames: merge into the workspace's ``merged/`` and ``merged_mask/`` PNG folders, then
            encode them (slower; for editing frames), instead of streaming into the video.
        overwrite: replace an existing result video.
        seed: training seed.
        xseg: an XSeg mask model folder: applied to both facesets after extraction (training then
            uses its masks) and run at merge time (mask mode :data:`RUN_XSEG_MASK_MODE` unless
            ``merge_settings`` already names an xseg mode).
    """

    src: Path
    dst: Path
    output: Path
    workspace: Path | None = None
    model: str = AUTO_MODEL
    model_config: dict[str, Any] = field(default_factory=dict)
    train_settings: dict[str, Any] = field(default_factory=dict)
    minutes: float = 10.0
    iterations: int | None = None
    enhance_minutes: float = 0.0
    device: str = "cpu"
    precision: str = "auto"
    threads: int | None = None
    extract_size: int = 256
    reference: list[Path] = field(default_factory=list)
    merge_settings: MergeSettings = field(default_factory=lambda: RUN_MERGE_SETTINGS)
    visible_label: bool = False
    preset: str = "veryfast"
    keep_frames: bool = False
    overwrite: bool = False
    seed: int = 0
    xseg: Path | None = None

    @property
    def workspace_dir(self) -> Path:
        """The working folder: ``workspace``, or ``<output stem>_workspace`` beside the output."""
        output = Path(self.output)
        return Path(self.workspace) if self.workspace is not None else output.with_name(f"{output.stem}_workspace")


@dataclass
class RunSummary:
    """What each stage of :func:`run` did. ``model``: the preset trained, ``model_choice``: why (chosen for
    the budget, resumed, or asked for); ``coverage``: the src faces' coverage of the dst faces;
    ``enhancer``: the enhancer merged with (None without one, or when it did not help)."""

    workspace: Workspace
    model: str
    model_choice: str
    src_extract: ExtractSummary
    dst_extract: ExtractSummary
    coverage: CoverageReport
    iterations: int
    train_status: str
    enhancer: Path | None
    merge: MergeSummary
    encode: EncodeSummary

    @property
    def model_dir(self) -> Path:
        """The trained model's folder in the workspace."""
        return self.workspace.model_dir(self.model)


def run(
    options: RunOptions, on_stage: StageCallback | None = None, on_progress: ProgressCallback | None = None,
    on_train_event: Callable[[object], None] | None = None,
) -> RunSummary:
    """Run every stage; ``on_stage`` is told each stage's name as it starts."""
    from recast.models.registry import MODELS
    from recast.runtime.devices import resolve_device
    from recast.train.options import TrainOptions
    from recast.train.trainer import train

    src, dst, output = Path(options.src), Path(options.dst), Path(options.output)
    for video in (src, dst):
        if not video.is_file():
            raise InputError(video, "no such video file")
    workspace_dir = options.workspace_dir
    check_outputs_not_inputs([workspace_dir], [src, dst, *options.reference])
    encode_options = EncodeOptions(
        audio_from=dst, visible_label=options.visible_label, preset=options.preset, overwrite=options.overwrite,
        provenance={"inputs": {"src": src, "dst": dst}, "model": {"name": options.model},
                    "settings": options.merge_settings.to_dict()},
    )
    check_result_path(output, encode_options, with_mask=True, inputs=[*options.reference, workspace_dir])
    if options.model != AUTO_MODEL and options.model not in MODELS:
        raise OptionError(f"unknown model {options.model!r}; choose one of {AUTO_MODEL}, {', '.join(MODELS)}")
    if options.xseg is not None:
        from recast.models.xseg_inference import check_saved_xseg

        check_saved_xseg(options.xseg)  # before hours of extraction and training
    device = resolve_device(options.device)
    workspace = init_workspace(workspace_dir)
    model_name, choice = _choose_model(options, workspace, device)
    log.info("model: %s", choice)
    encode_options.provenance["model"]["name"] = model_name
    face_type = parse_face_type(options.model_config.get("face_type",
                                                         MODELS[model_name].preset.get("face_type", "whole")))

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name)

    stage("extract src")
    common: dict[str, Any] = {"size": options.extract_size, "face_type": face_type}
    src_summary = extract(src, workspace.src_aligned, ExtractOptions(**common, max_faces=1), on_progress)
    if src_summary.faces == 0:
        raise InputError(src, "no face found in any frame")
    stage("extract dst")
    dst_summary = extract(dst, workspace.dst_aligned, ExtractOptions(**common, reference=list(options.reference)),
                          on_progress)
    if dst_summary.faces == 0:
        raise InputError(dst, "no face found in any frame")
    merge_settings = options.merge_settings
    if options.xseg is not None:
        from recast.faceset.xsegtools import apply_masks

        stage("xseg apply")
        for folder in (workspace.src_aligned, workspace.dst_aligned):
            apply_masks(folder, options.xseg, device, on_progress=on_progress)
        if "xseg" not in merge_settings.mask_mode:
            merge_settings = merge_settings.updated({"mask_mode": RUN_XSEG_MASK_MODE})
        encode_options.provenance["settings"] = merge_settings.to_dict()
    coverage = faceset_coverage(workspace.src_aligned, workspace.dst_aligned)
    if coverage.poor:
        log.warning("poor coverage: %s; the swap will be weak on the uncovered dst frames %s. Add src footage "
                    "with the dst's %s", coverage.describe(), coverage.uncovered_frames()[:20],
                    coverage.weakest_feature())
    stage(f"train {model_name}")
    model_dir = workspace.model_dir(model_name)
    result = train(TrainOptions(
        src=workspace.src_aligned, dst=workspace.dst_aligned, model_dir=model_dir, model=model_name,
        model_config=dict(options.model_config), settings=dict(options.train_settings),
        minutes=options.minutes, iterations=options.iterations, device=device, seed=options.seed,
        precision=options.precision, threads=options.threads, on_event=on_train_event,
    ))
    apply_torch_threads(plan_threads(options.threads))  # training may have tuned them to its load
    encode_options.provenance["inputs"]["model_weights"] = model_dir
    encode_options.provenance["model"]["iterations"] = result.iteration
    enhancer = _train_enhancer(options, workspace, model_dir, device, stage) if options.enhance_minutes > 0 else None
    common = {"device": device, "precision": options.precision, "on_progress": on_progress, "xseg": options.xseg,
              "enhance": enhancer}
    if options.keep_frames:
        stage("merge")
        merge_summary = merge(model_dir, dst, workspace.dst_aligned, workspace.merged, merge_settings,
                              workspace.merged_mask, redo_changed=True, **common)
        stage("encode")
        encode_options.mask_dir = workspace.merged_mask
        encode_options.provenance["model"]["weights_sha256"] = merge_summary.weights_sha256
        encode_summary = encode_video(workspace.merged, output, encode_options, on_progress)
    else:
        stage("merge + encode")
        merge_summary = merge_to_video(model_dir, dst, workspace.dst_aligned, output, merge_settings,
                                       encode_options, **common)
        assert merge_summary.video is not None
        encode_summary = merge_summary.video
    return RunSummary(workspace, model_name, choice, src_summary, dst_summary, coverage, result.iteration,
                      result.status, enhancer, merge_summary, encode_summary)


def _choose_model(options: RunOptions, workspace: Workspace, device: str) -> tuple[str, str]:
    """(preset name, why): the one asked for; for ``auto``, a budget candidate the workspace already trains,
    else the one :func:`recast.pipeline.budget.choose_preset` measures as best for the budget."""
    from recast.models.checkpoint import CONFIG_FILE
    from recast.pipeline.budget import CANDIDATES, choose_preset

    if options.model != AUTO_MODEL:
        return options.model, f"{options.model} (asked for)"
    for name, _ in CANDIDATES:
        if (workspace.model_dir(name) / CONFIG_FILE).is_file():
            return name, f"{name} (the workspace's model, chosen before; resumed)"
    apply_torch_threads(plan_threads(options.threads))
    plan = choose_preset(options.minutes, device, options.precision)
    return plan.model, plan.describe()


def _train_enhancer(options: RunOptions, workspace: Workspace, model_dir: Path, device: str,
                    stage: StageCallback) -> Path | None:
    """Train the model's enhancer; its folder when it lowered the error on the src faces, else None (logged)."""
    from recast.train.enhance import train_enhancer

    stage("train enhancer")
    result = train_enhancer(model_dir, workspace.src_aligned, model_dir.with_name(model_dir.name + "_enhancer"),
                            minutes=options.enhance_minutes, device=device)
    if result.after < result.before:
        return result.folder
    log.warning("the enhancer did not lower the error on the src faces (%.4f → %.4f); merging without it",
                result.before, result.after)
    return None
