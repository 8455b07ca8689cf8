"""Fixtures: a real ``modelhooks dev`` for the session, and loopback HTTP servers.

``modelhooks dev`` comes from the project's virtualenv: the one running pytest,
or the executable named by ``MODELHOOKS_BIN``. It runs in a temporary directory
so that its ``.modelhooks-dev-key`` and SQLite file land there, and it is
stopped by its pid when the session ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from modelhooks_sdk import Client

STARTUP_SECONDS = 30
REPO_ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def modelhooks_executable() -> str:
    named = os.environ.get("MODELHOOKS_BIN")
    beside_python = Path(sys.executable).with_name("modelhooks")
    found = named or (str(beside_python) if beside_python.exists() else None)
    found = found or shutil.which("modelhooks")
    if not found:
        pytest.fail(
            "modelhooks is not installed: run `.venv/bin/pip install -e .` "
            "at the repository root, or set MODELHOOKS_BIN"
        )
    return found


@dataclass
class DevServer:
    base_url: str
    api_key: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_until_healthy(base_url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"modelhooks dev exited with {process.returncode}")
        try:
            if requests.get(base_url + "/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"modelhooks dev did not answer within {STARTUP_SECONDS} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    workdir = tmp_path_factory.mktemp("modelhooks-dev")
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{workdir}/dev.db",
    }
    log_path = workdir / "dev.log"

    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [modelhooks_executable(), "dev"],
            cwd=workdir,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, process)
        api_key = (workdir / ".modelhooks-dev-key").read_text().strip()
        yield DevServer(base_url, api_key, process, log_path)
    finally:
        _stop(process)


@pytest.fixture
def client(dev_server: DevServer) -> Iterator[Client]:
    """A client on the dev server; every callback is deleted after each test."""
    with Client(dev_server.base_url, dev_server.api_key) as sdk_client:
        yield sdk_client
        for callback in sdk_client.list_callbacks():
            sdk_client.delete_callback(callback.id)


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StubServer:
    """A loopback HTTP server whose every answer comes from ``respond``."""

    respond: Callable[[Captured], tuple[int, dict[str, str], bytes]]
    requests: list[Captured] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def wait_for(self, count: int, timeout: float) -> list[Captured]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)


def _handler_for(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            captured = Captured(
                self.command,
                self.path,
                dict(self.headers.items()),
                self.rfile.read(length),
            )
            with stub.arrived:
                stub.requests.append(captured)
                stub.arrived.notify_all()

            status, headers, body = stub.respond(captured)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    return Handler


Respond = Callable[[Captured], tuple[int, dict[str, str], bytes]]


@contextmanager
def serving(respond: Respond) -> Iterator[StubServer]:
    """A loopback server answering with ``respond`` for the time of the block."""
    stub = StubServer(respond)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stub_server() -> Iterator[Callable[[Respond], StubServer]]:
    """Start loopback servers answering with a given function; all stop afterwards."""
    with ExitStack() as stack:
        yield lambda respond: stack.enter_context(serving(respond))


@pytest.fixture
def receiver(stub_server: Callable[..., StubServer]) -> StubServer:
    """A loopback receiver that takes every callback request with 204."""
    return stub_server(lambda captured: (204, {}, b""))
