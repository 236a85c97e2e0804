"""Swap-quality benchmark: ``recast run`` on a fixed time budget, measured by ``recast eval``.

    python benchmarks/quality.py                          # 60 training minutes per pair and model
    python benchmarks/quality.py --minutes 2 --every 4    # smoke run
    python benchmarks/quality.py --model auto --model cpu --json quality.json
    python benchmarks/quality.py --model cpu --model cpu:archi=liae-ud   # a preset with config overrides
    python benchmarks/quality.py --model cpu --ablation --minutes 20     # the phase ablation on every pair
    python benchmarks/quality.py --pairs G→J --model cpu --variant dfl --variant dfl+prio
    python benchmarks/quality.py --pairs G→J --model cpu --ablation --iterations 1500   # same steps per variant

Three pairs from ../shared/data (see its MANIFEST.md), src → dst: person_A → person_B (person_A's
SadTalker clip), person_C → person_D, and G→J: person_G's 700² talking head (talks in every frame)
onto person_J's 1280x720 clip (face ~250 px, 3/4 view, a steady smile that does not talk: lips parted over
the teeth, mouth openness 0.17-0.23 where person_G's spans 0.02-0.29) — does the mouth follow the
destination? For each pair, each ``--model`` (a registry name, or ``auto``: what ``recast run
--minutes N`` chooses; chosen once, by the first auto case, and trained by every later one) and
each ``--variant`` (below; none given: ``recast run``'s own recipe), the whole pipeline runs in a
fresh workspace — extract both clips, train for ``--minutes``, merge into the result video — and
``recast eval`` scores the result against the dst clip (with both facesets, so coverage is measured
too). A pair's clips are extracted once per face type: later cases of the pair start from a copy
of those aligned faces (``recast run`` resumes extraction, so it skips every frame).

Variants (the phase ablation of issue #23: each adds one thing to the one before; ``--ablation`` runs
the first four; row label ``model/variant``):

* ``warp``: warp only — random warp on, no lr dropout, no GAN for the whole budget (``recast run``
  before its recipe);
* ``regular``: + dfl's regular phase (random warp off) without lr dropout, no GAN;
* ``lrd``: + lr dropout in the regular phase (dfl without its GAN phase);
* ``dfl``: + GAN: the whole ``dfl`` recipe;
* ``dfl+prio``, ``dfl+yaw``, ``dfl+mouth``: dfl with eyes/mouth priority, uniform yaw sampling, or src
  faces sampled to match the dst's mouth openness (``match_mouth``), throughout.

The table:

* identity: share of frames whose result face is verified as the src person (within 0.6 of the
  src centroid and closer to it than to the dst's);
* pose error (degrees), mouth and eye landmark error (÷ inter-ocular distance);
* eye-region sharpness and brightness, result ÷ dst;
* jitter ratio (result landmark motion ÷ dst's);
* detail (result ÷ dst edge crispness at matched content), its ceiling (what a perfect model of the
  trained size gives through the merger's warp) and convergence (detail ÷ ceiling); sharpness: the
  older Laplacian-energy ratio (counts content too: an open mouth raises it);
* coverage of the dst faces by the src faces; the model's final resolution and iterations;
* budget: training minutes used of those given, and the whole run's wall minutes.

``--json`` keeps every figure of ``recast eval``'s summary (pitch/yaw/roll errors, the ceiling at
64…512 px, …), the recipe's phases with the iteration each began at, and the variant's settings.

With ``--enhance-minutes M`` each case also trains the identity-specific enhancer for M minutes
(``recast train-enhancer``), merges again with ``--enhance`` and is scored as ``<label>+enh``.

Pairs whose clips are absent are skipped with a note. Workspaces go to a temporary folder that
is deleted afterwards (``--keep DIR`` keeps them there); results made from ../shared/data must not
be committed. The numbers depend on the machine and its load: run it on an otherwise idle machine
and say which (the first line prints the CPU and its same-run fp32 GEMM peak).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model, gemm_peak
from measure import SHARED_DATA, print_table
from recast.atomic import atomic_write_text
from recast.eval.evaluate import evaluate
from recast.faces.facetype import FaceType
from recast.merge.stage import merge_to_video
from recast.models.checkpoint import read_model_config, read_state
from recast.pipeline.run import AUTO_MODEL, RUN_MERGE_SETTINGS, RunOptions, extraction_face_type, run
from recast.provenance.writer import EncodeOptions
from recast.train.enhance import train_enhancer
from recast.train.recipe import Recipe, get_recipe
from recast.workspace import Workspace

PAIRS = {
    "A→B": ("person_A__sadtalker_WDA_AlexandriaOcasioCortez_000.mp4", "person_B__sadtalker_WDA_KatieHill_000.mp4"),
    "C→D": ("person_C__liveportrait_d3.mp4", "person_D__liveportrait_d9.mp4"),
    "G→J": ("person_G__videoretalking_face_4.mp4", "person_J__liveportrait_s32.mp4"),
}
HEADERS = ["pair", "model", "res", "iters", "verified %", "pose °", "mouth err", "eye err", "eye sharp",
           "eye bright", "jitter ratio", "detail", "ceiling", "converg.", "sharpness", "coverage %", "train min",
           "wall min"]


@dataclass(frozen=True)
class Variant:
    """One arm of the phase ablation: the recipe trained in — a registered recipe's name, or a :class:`Recipe`
    declared here (not a ``--recipe`` choice) — and overrides of the preset's training settings."""

    recipe: str | Recipe
    summary: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def recipe_name(self) -> str:
        return self.recipe.name if isinstance(self.recipe, Recipe) else self.recipe

    def run_fields(self) -> dict[str, Any]:
        """The :class:`RunOptions` fields that train this variant."""
        recipe = {"custom_recipe": self.recipe} if isinstance(self.recipe, Recipe) else {"recipe": self.recipe}
        return {**recipe, "train_settings": dict(self.settings)}


_DFL = get_recipe("dfl")
_WARP, _REGULAR = _DFL.phases[0], _DFL.phases[1]
VARIANTS: dict[str, Variant] = {
    "warp": Variant(Recipe("warp", (_WARP,), "dfl's warp phase throughout"),
                    "warp only: random warp on, no lr dropout, no GAN for the whole budget (recast run before "
                    "its recipe)"),
    "regular": Variant(Recipe("warp-regular", (_WARP, dataclasses.replace(_REGULAR, lr_dropout=1.0)),
                              "dfl's warp phase, then its regular phase without lr dropout"),
                       f"+regular: random warp off from {_REGULAR.start:g} of the budget (no lr dropout, no GAN)"),
    "lrd": Variant(Recipe("warp-regular-lrd", (_WARP, _REGULAR), "dfl without its GAN phase"),
                   f"+lr dropout: the regular phase with lr dropout {_REGULAR.lr_dropout:g} (no GAN)"),
    "dfl": Variant("dfl", f"+GAN: the whole dfl recipe (GAN from {_DFL.phases[-1].start:g} of the budget)"),
    "dfl+prio": Variant("dfl", "dfl with eyes/mouth priority throughout", {"eyes_mouth_prio": True}),
    "dfl+yaw": Variant("dfl", "dfl with uniform yaw sampling throughout", {"uniform_yaw": True}),
    "dfl+mouth": Variant("dfl", "dfl with src faces sampled to match the dst's mouth openness", {"match_mouth": True}),
}
"""The ablation's variants by name (declared once; ``--variant NAME``)."""
ABLATION = ("warp", "regular", "lrd", "dfl")
"""``--ablation``: the issue's ablation, each variant adding one phase or option to the one before."""


@dataclass
class Extracted:
    """The pairs' aligned faces already extracted, by (pair, face type): the workspace holding them; and
    the preset the first ``auto`` case was given (every later ``auto`` case trains it too)."""

    workspaces: dict[tuple[str, FaceType], Workspace] = field(default_factory=dict)
    auto_model: str | None = None


def parse_model(text: str) -> tuple[str, dict[str, object]]:
    """``"cpu:archi=liae-ud,ae_dims=96"`` → ``("cpu", {"archi": "liae-ud", "ae_dims": 96})``: a preset and
    overrides of its model config (numbers parsed as JSON, anything else kept as text)."""
    name, _, rest = text.partition(":")
    overrides: dict[str, object] = {}
    for item in filter(None, rest.split(",")):
        key, equals, value = item.partition("=")
        if not equals:
            raise SystemExit(f"--model {text}: write overrides as key=value")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    return name, overrides


def run_case(pair: str, src: Path, dst: Path, model: str, variant: str | None, minutes: float, every: int,
             root: Path, extracted: Extracted, iterations: int | None = None) -> dict[str, object]:
    """Run the pipeline on one pair with one model (a preset, optionally ``name:key=value,…``) and variant
    (None: ``recast run``'s defaults) for ``minutes`` (or up to ``iterations``, whichever comes first) and
    evaluate it; returns the row's values."""
    label = model if variant is None else f"{model}/{variant}"
    case = root / "".join(c if c.isalnum() or c in "-." else "_" for c in f"{pair}_{label}")
    name, overrides = parse_model(model)
    if name == AUTO_MODEL and extracted.auto_model is not None:
        name = extracted.auto_model
    chosen = VARIANTS[variant].run_fields() if variant is not None else {}
    options = RunOptions(src=src, dst=dst, output=case / "result.mp4", workspace=case / "ws", model=name,
                         model_config=overrides, minutes=minutes, iterations=iterations, overwrite=True, **chosen)
    face_type = extraction_face_type(options, name) if name != AUTO_MODEL else None
    reused = extracted.workspaces.get((pair, face_type)) if face_type is not None else None
    if reused is not None:
        workspace = Workspace(options.workspace_dir)
        shutil.copytree(reused.src_aligned, workspace.src_aligned)
        shutil.copytree(reused.dst_aligned, workspace.dst_aligned)
    started = time.perf_counter()
    summary = run(options)
    wall = time.perf_counter() - started
    if name == AUTO_MODEL:
        extracted.auto_model = summary.model
    extracted.workspaces.setdefault((pair, extraction_face_type(options, summary.model)), summary.workspace)
    model_dir = summary.model_dir
    registry_name, config = read_model_config(model_dir)
    state = read_state(model_dir) or {}
    report = evaluate(summary.encode.output, dst, summary.workspace.src_aligned, summary.workspace.dst_aligned,
                      every=every)
    return {
        "pair": pair, "model": model, "variant": variant, "label": label, "registry_name": registry_name,
        "recipe": state.get("recipe"), "train_settings": chosen.get("train_settings", {}),
        "extraction_reused_from": None if reused is None else str(reused.root),
        "resolution": _resolution(config, state), "iterations": summary.iterations,
        "train_minutes": round(float(state.get("elapsed_seconds", 0.0)) / 60, 2),
        "budget_minutes": minutes, "wall_minutes": round(wall / 60, 2),
        "coverage": None if report.coverage is None else round(report.coverage.score, 4),
        "model_dir": str(model_dir), "src_aligned": str(summary.workspace.src_aligned),
        "dst_aligned": str(summary.workspace.dst_aligned), **report.summary(),
    }


def run_enhanced(values: dict[str, object], dst: Path, enhance_minutes: float, every: int) -> dict[str, object]:
    """Train the identity-specific enhancer of a finished case for ``enhance_minutes``, merge again with it and
    evaluate; returns that row's values (label ``<label>+enh``; budget = training + enhancer minutes)."""
    model_dir, src_aligned, dst_aligned = (Path(str(values[key])) for key in ("model_dir", "src_aligned",
                                                                               "dst_aligned"))
    started = time.perf_counter()
    enhancer = train_enhancer(model_dir, src_aligned, model_dir.with_name(model_dir.name + "_enhancer"),
                              minutes=enhance_minutes)
    output = model_dir.parent.parent.parent / "result_enhanced.mp4"
    merged = merge_to_video(model_dir, dst, dst_aligned, output, RUN_MERGE_SETTINGS,
                            EncodeOptions(audio_from=dst, overwrite=True), enhance=enhancer.folder)
    scores = evaluate(output, dst, src_aligned, dst_aligned, every=every).summary()
    return {**values, **scores, "label": f"{values['label']}+enh", "enhanced": True,
            "resolution": f"{values['resolution']}→{enhancer.size}",
            "enhancer_l1": [round(enhancer.before, 4), round(enhancer.after, 4)], "merged": merged.frames_merged,
            "train_minutes": round(float(str(values["train_minutes"])) + enhancer.seconds / 60, 2),
            "budget_minutes": float(str(values["budget_minutes"])) + enhance_minutes,
            "wall_minutes": round(float(str(values["wall_minutes"])) + (time.perf_counter() - started) / 60, 2)}


def _resolution(config: dict[str, object], state: dict[str, object]) -> object:
    """The model's output resolution now: the growth stage's size for a growing model, else the config's."""
    growth = state.get("growth")
    if isinstance(growth, dict) and "resolution" in growth:
        return growth["resolution"]
    return config.get("resolution")


def row(values: dict[str, object]) -> list[object]:
    def number(key: str, fmt: str = "{:.3f}", scale: float = 1.0) -> str:
        value = values.get(key)
        return "n/a" if not isinstance(value, (int, float)) else fmt.format(value * scale)

    label = str(values["label"])
    if values["model"] == AUTO_MODEL:
        label = label.replace(AUTO_MODEL, f"{AUTO_MODEL}={values['registry_name']}", 1)
    return [values["pair"], label, values["resolution"], values["iterations"],
            number("identity_same_person", "{:.1f}", 100), number("pose_error_deg", "{:.2f}"),
            number("mouth_error", "{:.4f}"), number("eyes_error", "{:.4f}"), number("eye_sharpness", "{:.2f}"),
            number("eye_brightness", "{:.2f}"), number("jitter_ratio", "{:.2f}"), number("detail", "{:.3f}"),
            number("detail_ceiling", "{:.3f}"), number("convergence", "{:.2f}"), number("sharpness", "{:.2f}"),
            number("coverage", "{:.1f}", 100), f"{values['train_minutes']}/{values['budget_minutes']:g}",
            values["wall_minutes"]]


def main() -> None:
    epilog = "variants:\n" + "\n".join(f"  {name}: {variant.summary}" for name, variant in VARIANTS.items())
    parser = argparse.ArgumentParser(description=__doc__, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="training minutes per run (default 60)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="stop each run at this iteration (whichever of it and --minutes comes first): the same "
                             "training for every variant whatever the machine's load")
    parser.add_argument("--model", action="append", default=None,
                        help="registry name, 'auto', or name:key=value,… with model config overrides "
                             "(repeatable; default: auto and cpu)")
    parser.add_argument("--variant", action="append", default=None, choices=list(VARIANTS),
                        help="train this ablation variant (repeatable; default: recast run's own recipe)")
    parser.add_argument("--ablation", action="store_true", help=f"the variants {', '.join(ABLATION)} "
                                                                 "(after any --variant)")
    parser.add_argument("--pairs", nargs="*", choices=list(PAIRS), default=list(PAIRS))
    parser.add_argument("--every", type=int, default=2, help="evaluate every N-th frame")
    parser.add_argument("--enhance-minutes", type=float, default=0.0,
                        help="also train the identity-specific enhancer this long and score merge --enhance")
    parser.add_argument("--keep", type=Path, default=None, help="keep the workspaces in this folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    models = args.model or ["auto", "cpu"]
    chosen = [*(args.variant or []), *(v for v in ABLATION if args.ablation and v not in (args.variant or []))]
    variants: list[str | None] = list(chosen) or [None]
    print(f"machine: {cpu_model()}, fp32 GEMM peak {gemm_peak():.0f} GFLOP/s (same run)\n")
    root = args.keep or Path(tempfile.mkdtemp(prefix="recast-quality-"))
    rows, extracted = [], Extracted()
    try:
        for pair in args.pairs:
            src, dst = (SHARED_DATA / "videos" / name for name in PAIRS[pair])
            if not (src.is_file() and dst.is_file()):
                print(f"skipped {pair}: {src.name} or {dst.name} is not in {SHARED_DATA / 'videos'}")
                continue
            for model in models:
                for variant in variants:
                    values = run_case(pair, src, dst, model, variant, args.minutes, args.every, root, extracted,
                                      args.iterations)
                    rows.append(values)
                    print_table(HEADERS, [row(values)])
                    if args.enhance_minutes > 0:
                        rows.append(run_enhanced(values, dst, args.enhance_minutes, args.every))
                        print_table(HEADERS, [row(rows[-1])])
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    if rows:
        print(f"swap quality after {args.minutes:g} training minutes per run:")
        print_table(HEADERS, [row(values) for values in rows])
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
