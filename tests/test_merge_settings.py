"""Merge settings: validation, JSON round trip, keyframed sessions."""

from __future__ import annotations

import json

import pytest

from recast.errors import InputError, OptionError
from recast.merge.settings import (
    MergeSession,
    MergeSettings,
    load_session,
    save_session,
    settings_for_frame,
)


def test_defaults_are_valid_and_round_trip_through_json():
    settings = MergeSettings(mode="seamless", color="idt-m", erode=-20, blur=60, morph=0.75, sharpen_mode="box")
    assert MergeSettings.from_json(settings.to_json()) == settings
    assert MergeSettings.from_dict({"blur": 10}).blur == 10
    assert MergeSettings().mask_mode == "dst"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "paste"}, "mode='paste' is not one of"),
        ({"erode": 500}, "outside -400…400"),
        ({"blur": -1}, "outside 0…400"),
        ({"blur": 2.5}, "must be an integer"),
        ({"masked_hist_match": 1}, "must be true or false"),
        ({"morph": 1.5}, "outside 0.0…1.0"),
        ({"color": "foo"}, "color='foo' is not one of"),
        ({"size": 3}, "unknown merge setting 'size'"),
    ],
)
def test_invalid_settings_name_the_field(changes, message):
    with pytest.raises(OptionError, match=message):
        MergeSettings.from_dict(changes)


def test_bad_json_is_an_option_error():
    with pytest.raises(OptionError, match="not valid JSON"):
        MergeSettings.from_json("{")


def test_keyframes_interpolate_numbers_and_hold_the_rest():
    session = MergeSession(
        base=MergeSettings(blur=10),
        keyframes={
            1: {"erode": 0, "color": "rct"},
            11: {"erode": 40, "mode": "seamless"},
            21: {"erode": 10, "morph": 0.5},
        },
    )
    assert settings_for_frame(session, 1).erode == 0
    assert settings_for_frame(session, 6).erode == 20
    assert settings_for_frame(session, 11).erode == 40
    assert settings_for_frame(session, 16).erode == 25
    assert settings_for_frame(session, 500).erode == 10
    assert settings_for_frame(session, 10).mode == "overlay"  # held until the keyframe that sets it
    assert settings_for_frame(session, 11).mode == "seamless"
    assert settings_for_frame(session, 30).mode == "seamless"
    assert settings_for_frame(session, 5).blur == 10  # never keyed: the base value
    assert settings_for_frame(session, 11).morph == 1.0  # before its first keyframe: the base value
    assert settings_for_frame(session, 21).morph == 0.5
    plain = MergeSettings(erode=5)
    assert settings_for_frame(plain, 99) is plain


def test_session_files_round_trip_and_are_validated(tmp_path):
    session = MergeSession(base=MergeSettings(color="mkl-m"), keyframes={1: {"blur": 0}, 120: {"blur": 80}})
    path = tmp_path / "session.json"
    save_session(session, path)
    data = json.loads(path.read_text())
    assert data["keyframes"] == {"1": {"blur": 0}, "120": {"blur": 80}}
    loaded = load_session(path)
    assert loaded == session
    assert settings_for_frame(loaded, 60).blur == 40

    path.write_text(json.dumps({"keyframes": {"1": {"blur": 900}}}))
    with pytest.raises(InputError, match="keyframe 1: merge setting blur=900"):
        load_session(path)
    path.write_text(json.dumps({"keyframes": {"first": {}}}))
    with pytest.raises(InputError, match="not a frame number"):
        load_session(path)
    path.write_text("not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_session(path)
    with pytest.raises(InputError, match="cannot read"):
        load_session(tmp_path / "missing.json")


def test_a_keyframe_makes_its_settings_hold_at_its_frame():
    session = MergeSession(base=MergeSettings(blur=10), keyframes={1: {"erode": 0}})
    wanted = MergeSettings(blur=10, erode=40, color="none")
    keyed = session.with_keyframe(11, wanted)
    assert keyed.keyframes == {1: {"erode": 0}, 11: {"erode": 40, "color": "none"}}  # changed, or animated elsewhere
    assert settings_for_frame(keyed, 11) == wanted
    assert settings_for_frame(keyed, 6).erode == 20
    back = keyed.with_keyframe(11, MergeSettings(blur=10))  # replaced: erode is still animated, so it is kept
    assert back.keyframes[11] == {"erode": 0}
    assert settings_for_frame(back, 11) == MergeSettings(blur=10)
    assert keyed.without_keyframe(11) == session
    with pytest.raises(KeyError):
        session.without_keyframe(5)
