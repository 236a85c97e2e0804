"""Swap-quality benchmark: ``recast run`` on a fixed time budget, measured by ``recast eval``.

    python benchmarks/quality.py                          # 60 training minutes per pair and model
    python benchmarks/quality.py --minutes 2 --every 4    # smoke run
    python benchmarks/quality.py --model auto --model cpu --json quality.json
    python benchmarks/quality.py --model cpu --model cpu:archi=liae-ud   # a preset with config overrides

Two pairs from ../shared/data (see its MANIFEST.md): person_A → person_B and person_C → person_D
(src → dst; person_A's SadTalker clip). For each pair and each ``--model`` (a registry name, or
``auto``: what ``recast run --minutes N`` chooses), the whole pipeline runs in a fresh workspace —
extract both clips, train for ``--minutes``, merge into the result video — and ``recast eval``
scores the result against the dst clip (with both facesets, so coverage is measured too). The table:

* identity: share of frames whose result face is verified as the src person (within 0.6 of the
  src centroid and closer to it than to the dst's);
* pose error (degrees), mouth and eye landmark error (÷ inter-ocular distance);
* eye-region sharpness and brightness, result ÷ dst;
* jitter ratio (result landmark motion ÷ dst's) and face sharpness (result ÷ dst detail);
* coverage of the dst faces by the src faces; the model's final resolution and iterations;
* budget: training minutes used of those given, and the whole run's wall minutes.

With ``--enhance-minutes M`` each case also trains the identity-specific enhancer for M minutes
(``recast train-enhancer``), merges again with ``--enhance`` and is scored as ``<model>+enh``.

Pairs whose clips are absent are skipped with a note. Workspaces go to a temporary folder that
is deleted afterwards (``--keep DIR`` keeps them there); results made from ../shared/data must not
be committed. The numbers depend on the machine and its load: run it on an otherwise idle machine
and say which (the first line prints the CPU and its same-run fp32 GEMM peak).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model, gemm_peak
from measure import SHARED_DATA, print_table
from recast.atomic import atomic_write_text
from recast.eval.evaluate import evaluate
from recast.merge.stage import merge_to_video
from recast.models.checkpoint import read_model_config, read_state
from recast.pipeline.run import RUN_MERGE_SETTINGS, RunOptions, run
from recast.provenance.writer import EncodeOptions
from recast.train.enhance import train_enhancer

PAIRS = {
    "A→B": ("person_A__sadtalker_WDA_AlexandriaOcasioCortez_000.mp4", "person_B__sadtalker_WDA_KatieHill_000.mp4"),
    "C→D": ("person_C__liveportrait_d3.mp4", "person_D__liveportrait_d9.mp4"),
}
HEADERS = ["pair", "model", "res", "iters", "verified %", "pose °", "mouth err", "eye err", "eye sharp",
           "eye bright", "jitter ratio", "sharpness", "coverage %", "train min", "wall min"]


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


def run_case(pair: str, src: Path, dst: Path, model: str, minutes: float, every: int, root: Path) -> dict[str, object]:
    """Run the pipeline on one pair with one model (a preset, optionally ``name:key=value,…``) and evaluate
    it; returns the row's values."""
    workspace = root / f"{pair.replace('→', '_to_')}_{model.replace(':', '_').replace(',', '_')}"
    name, overrides = parse_model(model)
    started = time.perf_counter()
    summary = run(RunOptions(src=src, dst=dst, output=workspace / "result.mp4", workspace=workspace / "ws",
                             model=name, model_config=overrides, minutes=minutes, overwrite=True))
    wall = time.perf_counter() - started
    model_dir = summary.model_dir
    name, config = read_model_config(model_dir)
    state = read_state(model_dir) or {}
    report = evaluate(summary.encode.output, dst, summary.workspace.src_aligned, summary.workspace.dst_aligned,
                      every=every)
    scores = report.summary()
    return {
        "pair": pair, "model": model, "registry_name": name, "resolution": _resolution(config, state),
        "iterations": summary.iterations, "train_minutes": round(float(state.get("elapsed_seconds", 0.0)) / 60, 2),
        "budget_minutes": minutes, "wall_minutes": round(wall / 60, 2),
        "coverage": None if report.coverage is None else round(report.coverage.score, 4),
        "model_dir": str(model_dir), "src_aligned": str(summary.workspace.src_aligned),
        "dst_aligned": str(summary.workspace.dst_aligned), **scores,
    }


def run_enhanced(values: dict[str, object], dst: Path, enhance_minutes: float, every: int) -> dict[str, object]:
    """Train the identity-specific enhancer of a finished case for ``enhance_minutes``, merge again with it and
    evaluate; returns that row's values (model ``<model>+enh``; budget = training + enhancer minutes)."""
    model_dir, src_aligned, dst_aligned = (Path(str(values[key])) for key in ("model_dir", "src_aligned",
                                                                               "dst_aligned"))
    started = time.perf_counter()
    enhancer = train_enhancer(model_dir, src_aligned, model_dir.with_name(model_dir.name + "_enhancer"),
                              minutes=enhance_minutes)
    output = model_dir.parent.parent.parent / "result_enhanced.mp4"
    merged = merge_to_video(model_dir, dst, dst_aligned, output, RUN_MERGE_SETTINGS,
                            EncodeOptions(audio_from=dst, overwrite=True), enhance=enhancer.folder)
    scores = evaluate(output, dst, src_aligned, dst_aligned, every=every).summary()
    return {**values, **scores, "model": f"{values['model']}+enh",
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

    return [values["pair"], values["model"], values["resolution"], values["iterations"],
            number("identity_same_person", "{:.1f}", 100), number("pose_error_deg", "{:.2f}"),
            number("mouth_error", "{:.4f}"), number("eyes_error", "{:.4f}"), number("eye_sharpness", "{:.2f}"),
            number("eye_brightness", "{:.2f}"), number("jitter_ratio", "{:.2f}"), number("sharpness", "{:.2f}"),
            number("coverage", "{:.1f}", 100), f"{values['train_minutes']}/{values['budget_minutes']:g}",
            values["wall_minutes"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="training minutes per run (default 60)")
    parser.add_argument("--model", action="append", default=None,
                        help="registry name, 'auto', or name:key=value,… with model config overrides "
                             "(repeatable; default: auto and cpu)")
    parser.add_argument("--pairs", nargs="*", choices=list(PAIRS), default=list(PAIRS))
    parser.add_argument("--every", type=int, default=2, help="evaluate every N-th frame")
    parser.add_argument("--enhance-minutes", type=float, default=0.0,
                        help="also train the identity-specific enhancer this long and score merge --enhance")
    parser.add_argument("--keep", type=Path, default=None, help="keep the workspaces in this folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    models = args.model or ["auto", "cpu"]
    print(f"machine: {cpu_model()}, fp32 GEMM peak {gemm_peak():.0f} GFLOP/s (same run)\n")
    root = args.keep or Path(tempfile.mkdtemp(prefix="recast-quality-"))
    rows = []
    try:
        for pair in args.pairs:
            src, dst = (SHARED_DATA / "videos" / name for name in PAIRS[pair])
            if not (src.is_file() and dst.is_file()):
                print(f"skipped {pair}: {src.name} or {dst.name} is not in {SHARED_DATA / 'videos'}")
                continue
            for model in models:
                values = run_case(pair, src, dst, model, args.minutes, args.every, root)
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
