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
from typing import TYPE_CHECKING, Any

from recast.errors import InputError, OptionError
from recast.extract.stage import ExtractOptions, ExtractSummary, extract
from recast.faces.facetype import FaceType, parse_face_type
from recast.faceset.coverage import CoverageReport, faceset_coverage
from recast.merge.settings import MergeSettings
from recast.merge.stage import MergeSummary, merge, merge_to_video
from recast.models.config import FACE_TYPES, face_type_name
from recast.options import option
from recast.paths import check_outputs_not_inputs
from recast.provenance.writer import EncodeOptions, EncodeSummary, check_result_path, encode_video
from recast.runtime.options import ComputeOptions, Limits
from recast.runtime.threads import apply_torch_threads, plan_threads
from recast.train.options import RECIPES
from recast.train.recipe import Recipe
from recast.workspace import Workspace, init_workspace

if TYPE_CHECKING:
    from recast.train.trainer import TrainResult

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


RUN_COMPUTE = ("device", "precision", "threads", "seed")
"""The :class:`~recast.runtime.options.ComputeOptions` ``recast run`` takes."""


def _presets() -> tuple[str, ...]:
    from recast.models.registry import list_models

    return (AUTO_MODEL, *list_models())


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
        face_type: the face type to extract and train a new model on (None: the preset's); ``whole`` for
            a model meant for DeepFaceLive or FaceFusion (:mod:`recast.export.peers`).
        train_settings: overrides of the preset's training settings (``batch_size``, ``lr`` …).
        recipe: the training recipe (:mod:`recast.train.recipe`): ``dfl`` (default) trains DeepFaceLab's
            phases over the budget — warp, then regular with lr dropout, then GAN; ``none``: one phase.
        custom_recipe: a :class:`~recast.train.recipe.Recipe` to train in instead of ``recipe`` (for
            experiments such as ``benchmarks/quality.py``'s phase ablation; no command-line flag).
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
        preset: x264 preset of the result (see :class:`recast.provenance.writer.EncodeOptions`).
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
    model: str = option(AUTO_MODEL, "Training preset: auto (the best the time budget buys on this machine, "
                        "measured) or a registered model", choices=_presets)
    model_config: dict[str, Any] = field(default_factory=dict)
    train_settings: dict[str, Any] = field(default_factory=dict)
    recipe: str = option("dfl", "Training recipe: dfl = DeepFaceLab's workflow in phases of the budget (warp, then "
                         "regular with lr dropout, then GAN); none = the preset's settings throughout",
                         choices=RECIPES)
    custom_recipe: Recipe | None = None
    face_type: str | None = option(None, "Face type to extract and train (or h, mf, f, wf); whole for a model "
                                   "meant for DeepFaceLive or FaceFusion", choices=FACE_TYPES, parse=face_type_name,
                                   default_text="the preset's")
    minutes: float = option(10.0, "Training time budget", gt=0, le=10_000_000)
    iterations: int | None = Limits.iterations
    enhance_minutes: float = option(0.0, "Then train the identity-specific enhancer this long and merge with it "
                                    "when it helps (0 = none)", ge=0, le=10_000_000)
    device: str = ComputeOptions.device
    precision: str = ComputeOptions.precision
    threads: int | None = ComputeOptions.threads
    extract_size: int = 256
    reference: list[Path] = field(default_factory=list)
    merge_settings: MergeSettings = field(default_factory=lambda: RUN_MERGE_SETTINGS)
    visible_label: bool = False
    preset: str = "veryfast"
    keep_frames: bool = option(False, "Merge into the workspace's PNG folders (to edit frames) and encode those, "
                               "instead of merging straight into the video (faster; not resumable mid-merge)")
    overwrite: bool = False
    seed: int = ComputeOptions.seed
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

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name)

    workspace, device = _check_and_open(options)
    model_name, choice = _choose_model(options, workspace, device)
    log.info("model: %s", choice)
    src_summary, dst_summary, coverage = _extract_both(options, workspace, model_name, device, stage, on_progress)
    trained = _train_model(options, workspace, model_name, device, stage, on_train_event)
    enhancer = _train_enhancer(options, workspace, workspace.model_dir(model_name), device, stage) \
        if options.enhance_minutes > 0 else None
    merge_summary, encode_summary = _merge_and_encode(options, workspace, model_name, trained.iteration, device,
                                                      enhancer, stage, on_progress)
    return RunSummary(workspace, model_name, choice, src_summary, dst_summary, coverage, trained.iteration,
                      trained.status, enhancer, merge_summary, encode_summary)


def _check_and_open(options: RunOptions) -> tuple[Workspace, str]:
    """:func:`check_run`; then the workspace (created or reopened) and the resolved device."""
    device = check_run(options)
    return init_workspace(options.workspace_dir), device


def check_run(options: RunOptions) -> str:
    """Check every input, output and option of a run before any work (nothing is written); returns the
    resolved device.

    Raises:
        InputError: a missing video, an output that is also an input, an existing result without
            ``overwrite``, an unusable XSeg model. OptionError: an unknown model.
    """
    from recast.models.registry import MODELS
    from recast.runtime.devices import resolve_device

    src, dst = Path(options.src), Path(options.dst)
    for video in (src, dst):
        if not video.is_file():
            raise InputError(video, "no such video file")
    workspace_dir = options.workspace_dir
    check_outputs_not_inputs([workspace_dir], [src, dst, *options.reference])
    check_result_path(Path(options.output), _result_options(options), with_mask=True,
                      inputs=[*options.reference, workspace_dir])
    if options.model != AUTO_MODEL and options.model not in MODELS:
        raise OptionError(f"unknown model {options.model!r}; choose one of {AUTO_MODEL}, {', '.join(MODELS)}")
    if options.xseg is not None:
        from recast.models.xseg_inference import check_saved_xseg

        check_saved_xseg(options.xseg)  # before hours of extraction and training
    return resolve_device(options.device)


def _extract_both(options: RunOptions, workspace: Workspace, model_name: str, device: str, stage: StageCallback,
                  on_progress: ProgressCallback | None) -> tuple[ExtractSummary, ExtractSummary, CoverageReport]:
    """Extract the faces of both videos at the model's face type (the dst's filtered by the reference
    photos), apply the XSeg model to both facesets when there is one, and report the coverage."""
    face_type = extraction_face_type(options, model_name)
    summaries = []
    for side, video, aligned, extract_options in (
        ("src", options.src, workspace.src_aligned,
         ExtractOptions(size=options.extract_size, face_type=face_type, max_faces=1)),
        ("dst", options.dst, workspace.dst_aligned,
         ExtractOptions(size=options.extract_size, face_type=face_type, reference=list(options.reference))),
    ):
        stage(f"extract {side}")
        summary = extract(video, aligned, extract_options, on_progress)
        if summary.faces == 0:
            raise InputError(Path(video), "no face found in any frame")
        summaries.append(summary)
    if options.xseg is not None:
        from recast.faceset.xsegtools import apply_masks

        stage("xseg apply")
        for folder in (workspace.src_aligned, workspace.dst_aligned):
            apply_masks(folder, options.xseg, device, on_progress=on_progress)
    coverage = faceset_coverage(workspace.src_aligned, workspace.dst_aligned)
    if coverage.poor:
        log.warning("poor coverage: %s; the swap will be weak on the uncovered dst frames %s. Add src footage "
                    "with the dst's %s", coverage.describe(), coverage.uncovered_frames()[:20],
                    coverage.weakest_feature())
    if coverage.mouth_mismatch() is not None:
        log.warning("%s", coverage.mouth_mismatch())
    return summaries[0], summaries[1], coverage


def extraction_face_type(options: RunOptions, model_name: str) -> FaceType:
    """The face type :func:`run` extracts both videos at for the preset ``model_name``: the one asked for
    (``face_type`` or ``model_config``), else the preset's (``whole`` when it names none)."""
    from recast.models.registry import MODELS

    return parse_face_type(_model_config(options).get("face_type", MODELS[model_name].preset.get("face_type", "whole")))


def _model_config(options: RunOptions) -> dict[str, Any]:
    """The model config overrides of a new model: ``model_config`` plus the face type, when one is asked for."""
    return {**options.model_config, **({"face_type": options.face_type} if options.face_type else {})}


def _train_model(options: RunOptions, workspace: Workspace, model_name: str, device: str, stage: StageCallback,
                 on_train_event: Callable[[object], None] | None) -> TrainResult:
    """Train (or resume) the workspace's ``model_name`` for the run's budget."""
    from recast.train.options import TrainOptions
    from recast.train.trainer import train

    stage(f"train {model_name}")
    result = train(TrainOptions(
        src=workspace.src_aligned, dst=workspace.dst_aligned, model_dir=workspace.model_dir(model_name),
        model=model_name, model_config=_model_config(options), settings=dict(options.train_settings),
        minutes=options.minutes, iterations=options.iterations, device=device, seed=options.seed,
        precision=options.precision, threads=options.threads, recipe=options.recipe, on_event=on_train_event,
    ), options.custom_recipe)
    apply_torch_threads(plan_threads(options.threads))  # training may have tuned them to its load
    return result


def _merge_and_encode(options: RunOptions, workspace: Workspace, model_name: str, iteration: int, device: str,
                      enhancer: Path | None, stage: StageCallback,
                      on_progress: ProgressCallback | None) -> tuple[MergeSummary, EncodeSummary]:
    """Merge the trained model into the dst video: streamed into the result, or (``keep_frames``) into the
    workspace's PNG folders, then encoded."""
    model_dir = workspace.model_dir(model_name)
    settings = options.merge_settings
    if options.xseg is not None and "xseg" not in settings.mask_mode:
        settings = settings.updated({"mask_mode": RUN_XSEG_MASK_MODE})
    model = {"name": model_name, "iterations": iteration}
    common: dict[str, Any] = {"device": device, "precision": options.precision, "on_progress": on_progress,
                              "xseg": options.xseg, "enhance": enhancer}
    if not options.keep_frames:
        stage("merge + encode")
        summary = merge_to_video(model_dir, options.dst, workspace.dst_aligned, options.output, settings,
                                 _result_options(options, model, model_dir, settings), **common)
        assert summary.video is not None
        return summary, summary.video
    stage("merge")
    summary = merge(model_dir, options.dst, workspace.dst_aligned, workspace.merged, settings,
                    workspace.merged_mask, redo_changed=True, **common)
    stage("encode")
    result_options = _result_options(options, {**model, "weights_sha256": summary.weights_sha256}, model_dir,
                                     settings, mask_dir=workspace.merged_mask)
    return summary, encode_video(workspace.merged, options.output, result_options, on_progress)


def _result_options(options: RunOptions, model: dict[str, Any] | None = None, weights: Path | None = None,
                    settings: MergeSettings | None = None, mask_dir: Path | None = None) -> EncodeOptions:
    """How the result is encoded, with its provenance: the inputs (and the trained weights), the model's
    summary and the merge settings. Without a model (the checks before any work): the one asked for."""
    inputs = {"src": Path(options.src), "dst": Path(options.dst)}
    if weights is not None:
        inputs["model_weights"] = weights
    provenance = {"inputs": inputs, "model": model if model is not None else {"name": options.model},
                  "settings": (settings or options.merge_settings).to_dict()}
    return EncodeOptions(audio_from=Path(options.dst), mask_dir=mask_dir, visible_label=options.visible_label,
                         preset=options.preset, overwrite=options.overwrite, provenance=provenance)


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
    plan = choose_preset(options.minutes, device, options.precision, options.custom_recipe or options.recipe)
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
