"""Serving the studio with uvicorn: in the foreground (the CLI) or on a thread (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from recast.studio.app import StudioConfig, create_app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _server(config: StudioConfig) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(create_app(config), host=config.host, port=config.port,
                                         log_level="warning", access_log=False, lifespan="on"))


def serve(config: StudioConfig) -> None:
    """Run the studio until Ctrl-C (running jobs are stopped as Ctrl-C would stop them)."""
    _server(config).run()


class BackgroundStudio:
    """The studio on a daemon thread: ``start()`` returns once it answers, ``stop()`` shuts it down."""

    def __init__(self, config: StudioConfig) -> None:
        self.config = config
        self.server = _server(config)
        self.thread = threading.Thread(target=self.server.run, name="recast-studio", daemon=True)

    def start(self, timeout: float = 30.0) -> BackgroundStudio:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the studio server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
