"""Shared pieces of the studio tests: a served workspace, an API client with the token, and a real
headless Chromium (Debian's ``chromium``; ``RECAST_CHROMIUM`` overrides the path).

Screenshots go to ``test-artifacts/studio/`` in the project (``RECAST_ARTIFACTS`` overrides), so a
person can look at every page after a run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from recast.studio.app import StudioConfig, create_app
from recast.studio.server import BackgroundStudio, free_port

ARTIFACTS = Path(os.environ.get("RECAST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts")) / "studio"


def chromium_path() -> str | None:
    """The Chromium to drive, or None when none is installed."""
    return os.environ.get("RECAST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def asgi_client(workspace: Path, token: str = "test-token", port: int = 8765) -> TestClient:
    """An in-process client for the app of ``workspace`` that sends the token and a local Host
    (no redirects followed, so the token's 303 can be seen)."""
    config = StudioConfig(workspace=workspace, port=port, token=token)
    return TestClient(create_app(config), base_url=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
                      headers={"x-recast-token": token}, follow_redirects=False)


@contextmanager
def served(workspace: Path) -> Iterator[tuple[BackgroundStudio, httpx.Client]]:
    """The studio on a free port for ``workspace``, and a client for it (token header set)."""
    config = StudioConfig(workspace=workspace, port=free_port())
    studio = BackgroundStudio(config).start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{config.port}", headers={"x-recast-token": config.token},
                          timeout=60)
    try:
        yield studio, client
    finally:
        client.close()
        studio.stop()


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (Playwright ``Browser``); skips the test when none is installed."""
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium installed (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        env: dict[str, str | float | bool] = dict(os.environ)
        if len(tempfile.gettempdir()) > 60:  # Chromium's singleton socket goes in TMPDIR: an AF_UNIX path
            env["TMPDIR"] = "/tmp"
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"], env=env)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot of ``page`` as ``test-artifacts/studio/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


REAL_SRC = "videos/person_B__sadtalker_WDA_KatieHill_000.mp4"
REAL_DST = "videos/person_A__sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"


def build_real_workspace(root: Path, shared_data: Path, seconds: float = 0.5, train_iterations: int = 0) -> Path:
    """A workspace from the first ``seconds`` of two real clips (person_B → person_A, 512², 25 fps):
    short clips as ``data_src.mp4``/``data_dst.mp4``, their frames, aligned faces (256 px, dlib), and
    when ``train_iterations`` > 0 a ``cpu`` model trained that far in ``model/default``."""
    from recast.extract.stage import ExtractOptions, extract
    from recast.media.video import extract_frames
    from recast.media.video_encode import cut
    from recast.workspace import init_workspace

    ws = init_workspace(root)
    for clip, video, frames, aligned in ((REAL_SRC, ws.src_video, ws.src_frames, ws.src_aligned),
                                         (REAL_DST, ws.dst_video, ws.dst_frames, ws.dst_aligned)):
        cut(shared_data / clip, video, 0, seconds)
        extract_frames(video, frames)
        extract(frames, aligned, ExtractOptions(size=256, workers=1))
    if train_iterations:
        from recast.train import TrainOptions, train

        train(TrainOptions(ws.src_aligned, ws.dst_aligned, ws.model_dir(), model="cpu", iterations=train_iterations,
                           workers=0, threads=2, preview_every=train_iterations, autosave_minutes=0))
    return root
