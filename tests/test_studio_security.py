"""The studio's request gate and path handling: token, Host, Origin, traversal, sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from recast.errors import InputError
from recast.studio.app import status_for
from recast.studio.files import NotInWorkspace, faceset_dir, inside
from recast.studio.security import COOKIE, allowed_hosts
from studio_support import asgi_client


@pytest.fixture
def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    with asgi_client(tmp_path) as client:
        yield client


def test_token_is_required(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/state").status_code == 200
    for headers in ({"x-recast-token": ""}, {"x-recast-token": "wrong"}):
        response = client.get("/api/state", headers=headers)
        assert response.status_code == 401 and "token" in response.text
    assert client.get("/", headers={"x-recast-token": "nope"}).status_code == 401
    assert client.get("/static/app.js", headers={"x-recast-token": "nope"}).status_code == 401


def test_token_in_url_becomes_a_strict_cookie(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/?token=test-token&x=1", headers={"x-recast-token": ""})
    assert response.status_code == 303 and response.headers["location"] == "/?x=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=test-token") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/api/state", headers={"x-recast-token": "", "cookie": f"{COOKIE}=test-token"}).status_code == 200
    assert client.get("/api/state", headers={"x-recast-token": "", "cookie": f"{COOKIE}=bad"}).status_code == 401
    client.cookies.clear()
    assert client.get("/?token=wrong", headers={"x-recast-token": ""}).status_code == 401


@pytest.mark.parametrize("host", ["evil.example:8765", "127.0.0.1:9999", "attacker.test", ""])
def test_foreign_host_is_refused(client, host: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/state", headers={"host": host})
    assert response.status_code == 400 and "Host" in response.text


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:9999", "null", "https://127.0.0.1:8765"])
def test_foreign_origin_is_refused(client, origin: str) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/jobs", json={"task": "train"}, headers={"origin": origin}).status_code == 403
    assert client.get("/api/state", headers={"origin": origin}).status_code == 403


def test_own_origin_and_local_names_pass(client) -> None:  # type: ignore[no-untyped-def]
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
        assert client.get("/api/state", headers={"host": host, "origin": f"http://{host}"}).status_code == 200


def test_allowed_hosts() -> None:
    assert allowed_hosts("127.0.0.1", 80) == {"127.0.0.1:80", "localhost:80", "[::1]:80"}
    assert "192.168.1.5:80" in allowed_hosts("192.168.1.5", 80)
    assert not any(h.startswith("0.0.0.0") for h in allowed_hosts("0.0.0.0", 80))


@pytest.mark.parametrize("parts", [("..",), ("..", "etc"), ("/etc/passwd",), ("a", "..", "..", "b"), ("",), ("a\x00",)])
def test_inside_refuses_escapes(tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(InputError, match="no such file in the workspace") as caught:
        inside(tmp_path, *parts)
    assert isinstance(caught.value, NotInWorkspace) and status_for(caught.value) == 404
    assert str(tmp_path) not in str(caught.value)  # the studio never names server paths


def test_inside_refuses_symlinks_out(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "link").symlink_to(tmp_path)
    with pytest.raises(NotInWorkspace):
        inside(tmp_path / "ws", "link", "x")
    assert inside(tmp_path / "ws", "data_src", "aligned") == (tmp_path / "ws" / "data_src" / "aligned").resolve()
    with pytest.raises(NotInWorkspace):
        faceset_dir(tmp_path / "ws", "../x")


@pytest.mark.parametrize("url", ["/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2fapp.py",
                                 "/api/forms/..%2f..%2fx", "/api/jobs/..%2f1"])
def test_traversal_urls_find_nothing(client, url: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code in (404, 422) and "root:" not in response.text


def test_unknown_task_and_huge_options(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/jobs", json={"task": "rm -rf /"}).status_code == 404
    big = {"settings": {"x": "a" * 70_000}}
    assert client.post("/api/jobs", json={"task": "train", "options": big}).status_code == 413


def test_forms_come_from_the_option_declarations(client) -> None:  # type: ignore[no-untyped-def]
    from recast.options import json_schema
    from recast.train.options import TrainSettings

    assert set(client.get("/api/forms").json()) >= {"extract", "train", "merge"}
    assert client.get("/api/forms/train").json() == json_schema(TrainSettings)
    assert client.get("/api/forms/nope").status_code == 404
