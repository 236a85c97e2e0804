"""Shared pieces of the studio tests: a served workspace, an API client with the token, and a real
headless Chromium (Debian's ``chromium``; ``RECAST_CHROMIUM`` overrides the path).

Screenshots go to ``test-artifacts/studio/`` in the project (``RECAST_ARTIFACTS`` overrides), so a
person can look at every page after a run.
"""

from __future__ import annotations

import os
import shutil
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
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
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
