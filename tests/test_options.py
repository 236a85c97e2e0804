"""Option schemas: tests generated from every declared option of every settings class.

Each option must have help, a default that validates, out-of-range / unknown-choice / wrong-type values
refused with a message naming it, and (where a command exposes it) a flag that parses back to the field.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

import pytest
import typer

import recast
from recast.cli.main import app
from recast.errors import InputError, OptionError
from recast.eval.options import EvalOptions
from recast.extract.stage import ExtractOptions
from recast.faceset.sort import SortOptions
from recast.live.engine import LIVE_FLAGS, LIVE_SETTINGS, LiveOptions
from recast.merge.settings import MERGE_COMPUTE, MergeSettings
from recast.models.amp_config import AMPConfig
from recast.models.registry import config_options
from recast.models.saehd_config import SAEHDConfig
from recast.options import OptionField, from_mapping, json_schema, load_toml, option_fields, select, validate
from recast.options.describe import help_text
from recast.options.spec import SPEC_KEY, label
from recast.pipeline.run import RUN_COMPUTE, RunOptions
from recast.provenance.verify import VerifyOptions
from recast.provenance.writer import EncodeOptions
from recast.runtime.options import ComputeOptions, Limits, parse_device
from recast.train.options import (
    TRAIN_COMPUTE,
    EnhancerOptions,
    TrainOptions,
    TrainSettings,
    read_config_file,
    resolve_settings,
)


def _spec_classes() -> list[type]:
    """Every dataclass in recast whose fields carry option specs, found by importing every module."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(recast.__path__, "recast."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module.__name__
                    and any(SPEC_KEY in item.metadata for item in dataclasses.fields(value))):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


SCHEMAS: list[type] = _spec_classes()

OPTIONS = [pytest.param(cls, item, id=f"{cls.__name__}.{item.name}") for cls in SCHEMAS for item in option_fields(cls)]

# command → (required arguments, the option groups whose flags it generates: a class, or a class and some names)
COMMANDS: dict[str, tuple[list[str], list[Any]]] = {
    "train": (["--src", "s", "--dst", "d", "--model-dir", "m"],
              [TrainSettings, SAEHDConfig, AMPConfig, Limits, TrainOptions,
               (ComputeOptions, (*TRAIN_COMPUTE, "nproc"))]),
    "merge": (["-m", "m", "-f", "f", "-a", "a", "-o", "o"], [MergeSettings, (ComputeOptions, MERGE_COMPUTE)]),
    "extract": (["video.mp4", "out"], [ExtractOptions]),
    "live": (["-m", "m", "-i", "0", "-o", "o.mp4"], [(MergeSettings, LIVE_SETTINGS), (LiveOptions, LIVE_FLAGS),
                                                      (ComputeOptions, ("device", "precision"))]),
    "run": (["--src", "s", "--dst", "d", "-o", "o.mp4"], [RunOptions, (Limits, ("iterations",)),
                                                         (ComputeOptions, RUN_COMPUTE)]),
    "train-enhancer": (["-m", "m", "--src-faces", "f"], [EnhancerOptions, (ComputeOptions, ("device",))]),
    "sort": (["folder"], [SortOptions]),
    "eval": (["--result", "r", "--dst", "d", "--src-faces", "f"], [EvalOptions]),
    "verify": (["path"], [VerifyOptions]),
}


def _group(group: Any) -> tuple[type, tuple[OptionField, ...]]:
    cls, names = group if isinstance(group, tuple) else (group, None)
    return cls, option_fields(cls) if names is None else select(cls, *names)


def _instance(cls: type, **values: Any) -> Any:
    """An instance of ``cls``; required fields that are not options get a path."""
    required = {item.name: Path("x") for item in dataclasses.fields(cls) if item.init
                and item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING}
    return cls(**{**required, **values})


def _valid_other(item: OptionField) -> Any:
    """A valid value different from the default."""
    spec = item.spec
    if spec.parse is parse_device:
        return "cuda:1"
    if item.kind is bool:
        return not item.default
    allowed = spec.allowed()
    if allowed is not None:
        return next(c for c in reversed(allowed) if c != str(item.default))
    if item.is_list:
        if item.kind in (int, float):
            return [_valid_other(dataclasses.replace(item, is_list=False, default=None))]
        return [item.kind("x")]
    if spec.le is not None:
        return item.kind(spec.le)
    if spec.gt is not None and spec.lt is not None:
        return item.kind((spec.gt + spec.lt) / 2)
    low = spec.ge if spec.ge is not None else spec.gt if spec.gt is not None else 0
    return item.kind(low + (spec.multiple_of or 2) * 4)


def _out_of_range(item: OptionField) -> list[Any]:
    spec = item.spec
    values = [b for b in (spec.gt, spec.lt) if b is not None]
    values += [spec.ge - 1] if spec.ge is not None else []
    values += [spec.le + 1] if spec.le is not None else []
    return [item.kind(v) for v in values]


@pytest.mark.parametrize(("cls", "item"), OPTIONS)
def test_option_has_help_and_a_valid_default(cls: type, item: OptionField) -> None:
    assert item.spec.help and not item.spec.help.endswith(".")
    text = help_text(item)
    assert text.endswith("].") and "[" in text
    validate(_instance(cls))


@pytest.mark.parametrize(("cls", "item"), OPTIONS)
def test_option_refuses_bad_values_naming_it(cls: type, item: OptionField) -> None:
    name = label(cls, item)
    bad: list[Any] = _out_of_range(item) + ([] if item.kind is str else ["text"])
    if item.spec.allowed() is not None:
        bad.append("no-such-choice")
    if item.kind in (int, float):
        bad += [True] + ([float("nan")] if item.kind is float else [2.5])
    for value in bad:
        with pytest.raises(OptionError) as error:
            validate(_instance(cls, **{item.name: value}))
        assert str(error.value).startswith(name), (value, str(error.value))


@pytest.mark.parametrize(("cls", "item"), OPTIONS)
def test_option_accepts_another_valid_value(cls: type, item: OptionField) -> None:
    if cls is SAEHDConfig and item.name == "archi":
        value: Any = "df-udtc"
    else:
        value = _valid_other(item)
    validate(_instance(cls, **{item.name: value}))


def _command(name: str) -> Any:
    group = typer.main.get_command(app)
    return group.commands[name]  # type: ignore[attr-defined]


FLAGS = [pytest.param(command, cls, item, id=f"{command}.{item.name}")
         for command, (_, groups) in COMMANDS.items()
         for cls, items in map(_group, groups) for item in items
         if cls is not AMPConfig or item.name not in {i.name for i in option_fields(SAEHDConfig)}]


@pytest.mark.parametrize(("command", "cls", "item"), FLAGS)
def test_flag_round_trips_to_the_field(command: str, cls: type, item: OptionField) -> None:
    required, _ = COMMANDS[command]
    value = "df-udtc" if item.name == "archi" else _valid_other(item)
    if item.kind is bool:
        args = [f"--{item.flag}" if value else f"--no-{item.flag}"]
    elif item.is_list:
        args = [a for v in value for a in (f"--{item.flag}", str(v))]
    else:
        args = [f"--{item.flag}", str(value)]
    cmd = _command(command)
    ctx = cmd.make_context(command, [*required, *args])
    parsed = ctx.params[item.name]
    assert (list(parsed) if item.is_list else parsed) == value
    untouched = cmd.make_context(command, list(required))
    assert untouched.params[item.name] in (None, [], ())


def test_every_generated_flag_is_a_declared_option() -> None:
    declared = {item.name for _, groups in COMMANDS.values() for group in groups for item in _group(group)[1]}
    train_flags = {p.name for p in _command("train").params}
    assert {item.name for item in config_options()} | {i.name for i in option_fields(TrainSettings)} <= train_flags
    encode = {i.name for i in option_fields(EncodeOptions)}
    assert {i.name for i in option_fields(MergeSettings)} | encode <= {p.name for p in _command("merge").params} <= (
        declared | encode | {"model_dir", "frames", "aligned", "out", "mask_out", "session", "export_rgba",
                             "export_dir", "workers", "batch_size", "device", "precision", "force", "help", "xseg",
                             "enhance", "audio_from", "fps"})


def test_unknown_keys_and_non_tables_name_the_problem() -> None:
    with pytest.raises(OptionError, match="unknown training setting 'batch'; known: "):
        resolve_settings({"batch": 2})
    with pytest.raises(OptionError, match="unknown merge setting 'size'"):
        from_mapping(MergeSettings, {"size": 3})
    with pytest.raises(OptionError, match="unknown model option 'colour'"):
        SAEHDConfig.from_dict({"colour": 1})
    with pytest.raises(OptionError, match="must be a table"):
        from_mapping(MergeSettings, [1, 2])
    assert from_mapping(MergeSettings, {"blur": 4}, MergeSettings(erode=3)) == MergeSettings(erode=3, blur=4)


def test_toml_config_splits_model_and_settings_and_names_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('batch_size = 4\n[model]\nresolution = 96\narchi = "df"\n[train]\nlr = 1e-4\n')
    assert load_toml(path, ("model", "train")) == {"batch_size": 4, "resolution": 96, "archi": "df", "lr": 1e-4}
    model, settings = read_config_file(path, [item.name for item in option_fields(SAEHDConfig)])
    assert model == {"resolution": 96, "archi": "df"} and settings == {"batch_size": 4, "lr": 1e-4}
    path.write_text("batch_sizes = 4\n")
    with pytest.raises(InputError, match=r"run\.toml: unknown training setting 'batch_sizes'"):
        read_config_file(path, [])
    path.write_text("batch_size = \n")
    with pytest.raises(InputError, match=r"run\.toml: cannot read TOML config"):
        load_toml(path)


def test_relations_beyond_single_options_are_still_checked() -> None:
    with pytest.raises(OptionError, match="resolution=80 must be a multiple of 32 for archi 'liae-ud'"):
        SAEHDConfig.from_dict({"resolution": 80})
    assert SAEHDConfig.from_dict({"resolution": 80, "archi": "df"}).resolution == 80
    assert SAEHDConfig.from_dict({"face_type": "wf"}).face_type == "whole"
    with pytest.raises(OptionError, match="not both"):
        TrainOptions("s", "d", "m", iterations=2, more=1).validate()


@pytest.mark.parametrize("cls", SCHEMAS)
def test_json_schema_describes_every_option(cls: type) -> None:
    schema = json.loads(json.dumps(json_schema(cls)))
    assert set(schema["properties"]) == {item.name for item in option_fields(cls)}
    for item in option_fields(cls):
        entry = schema["properties"][item.name]
        assert entry["description"] == item.spec.help and entry["x-flag"] == f"--{item.flag}"
        if item.spec.allowed() is not None:
            assert entry["enum"] == list(item.spec.allowed() or ())
    assert schema["properties"].get("lr_dropout", {"exclusiveMinimum": 0})["exclusiveMinimum"] == 0


def test_video_options_need_a_video_output(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["merge", "-m", str(tmp_path), "-f", str(tmp_path), "-a", str(tmp_path),
                                      "-o", str(tmp_path / "merged"), "--crf", "20"])
    assert result.exit_code != 0 and "--crf: video options need a video --output" in str(result.exception)


def test_every_run_knob_class_is_discovered() -> None:
    assert {ComputeOptions, Limits, LiveOptions, RunOptions, SortOptions, EnhancerOptions, EvalOptions,
            VerifyOptions} <= set(SCHEMAS)


CHANGED_DEFAULT = r'''
import inspect, json, sys, tempfile
from pathlib import Path

import recast.options
import recast.options.spec as spec

declared = spec.option


def option(default=spec.dataclasses.MISSING, help="", **keywords):
    if help.startswith("Faces per model batch when merging"):
        default = 13
    return declared(default, help, **keywords)


spec.option = recast.options.option = option  # the one declaration of merge's batch size now says 13

from typer.testing import CliRunner

from recast.cli.main import app
from recast.merge.stage import merge_to_video
from recast.options import from_mapping
from recast.runtime.options import ComputeOptions
from recast.studio.forms import form_schema
from recast.studio.tasks.runs import check_render

help_text = CliRunner().invoke(app, ["merge", "--help"], env={"COLUMNS": "200"}).output
workspace = Path(tempfile.mkdtemp())
print(json.dumps({
    "help": " ".join(help_text.replace("│", " ").split()),
    "form": form_schema("render")["properties"]["batch_size"]["default"],
    "checked": check_render(workspace, {}).compute.batch_size,
    "validated": from_mapping(ComputeOptions, {}).batch_size,
    "library": inspect.signature(merge_to_video).parameters["batch_size"].default,
}))
'''


def test_a_changed_default_changes_the_cli_the_form_and_validation() -> None:
    """Merge's batch size is declared once: change that declaration and the CLI help, the studio's render
    form, the studio's check of a render job, validation and the library's default all follow."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", CHANGED_DEFAULT], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "--batch-size <int> Faces per model batch when merging; 1…256 [13]." in seen["help"], seen["help"]
    assert seen["form"] == seen["checked"] == seen["validated"] == seen["library"] == 13
    assert ComputeOptions().batch_size == 8  # this process kept the real declaration
