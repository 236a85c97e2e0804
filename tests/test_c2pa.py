"""C2PA Content Credentials beside recast's own label: signed with a local key, read back by verify."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from recast.cli.main import app
from recast.errors import InputError
from recast.provenance import contentcred
from recast.provenance.verify import verify
from recast.provenance.writer import EncodeOptions, encode_video

pytest.importorskip("c2pa", reason="the optional c2pa-python package is not installed")


@pytest.fixture()
def key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "keys"
    monkeypatch.setenv("RECAST_C2PA_DIR", str(folder))
    return folder


def _frames(folder: Path, count: int = 6) -> Path:
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i + 1:05d}.png"), np.full((64, 96, 3), 40 + 20 * i, np.uint8))
    return folder


def test_result_video_carries_a_c2pa_manifest_verify_reads(tmp_path: Path, key_dir: Path) -> None:
    output = tmp_path / "result.mp4"
    summary = encode_video(_frames(tmp_path / "merged"), output, EncodeOptions())
    assert summary.c2pa and (key_dir / contentcred.KEY_FILE).is_file() and (key_dir / contentcred.CERT_FILE).is_file()
    assert (key_dir / contentcred.KEY_FILE).stat().st_mode & 0o077 == 0
    report = verify(output)
    assert report.c2pa is not None and report.c2pa.synthetic and report.c2pa.signature_valid
    assert report.c2pa.digital_source_types == [contentcred.DIGITAL_SOURCE_TYPE]
    assert report.c2pa.generator == "recast" and "recast signer" in report.c2pa.signer
    assert report.result_hash == "ok" and report.container_tag and report.watermark  # recast's labels survive
    assert "C2PA manifest" in report.verdict
    printed = CliRunner().invoke(app, ["verify", str(output)], env={"COLUMNS": "300"})
    assert printed.exit_code == 0 and "compositeWithTrainedAlgorithmicMedia" in printed.output

    edited = tmp_path / "edited.mp4"
    data = bytearray(output.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the video changed after signing
    edited.write_bytes(bytes(data))
    tampered = contentcred.read_manifest(edited)
    assert tampered is not None and not tampered.signature_valid


def test_the_user_key_is_used_and_half_a_key_is_refused(tmp_path: Path, key_dir: Path) -> None:
    chain, key = contentcred.signing_credentials()
    assert contentcred.signing_credentials() == (chain, key)  # created once, then reused
    (key_dir / contentcred.CERT_FILE).unlink()
    with pytest.raises(InputError, match=r"signer\.pem"):
        contentcred.signing_credentials()


def test_no_c2pa_and_unsignable_containers(tmp_path: Path, key_dir: Path) -> None:
    frames = _frames(tmp_path / "merged")
    plain = encode_video(frames, tmp_path / "plain.mp4", EncodeOptions(c2pa=False))
    assert not plain.c2pa and contentcred.read_manifest(tmp_path / "plain.mp4") is None
    assert not encode_video(frames, tmp_path / "result.mkv", EncodeOptions()).c2pa
    outcome = CliRunner().invoke(app, ["video", str(frames), "-o", str(tmp_path / "asked.mkv"), "--c2pa"])
    assert outcome.exit_code != 0 and "C2PA" in str(outcome.exception)
    assert not (tmp_path / "asked.mkv").exists()
