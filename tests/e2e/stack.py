"""The service as a user runs it, started for end-to-end tests.

``CeleryStack``: the API served from this process on a real port, publishing to
the real Redis, with real ``celery -A workers worker`` (and ``beat``) processes
on the real PostgreSQL. ``DevStack``: ``modelhooks dev`` in a subprocess, on
SQLite with its in-memory broker. Both are driven over HTTP only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis
import requests
from werkzeug.serving import make_server

from app import accounts, db, migrations
from app.api import build_app
from app.broker import Broker
from app.config import from_env
from app.models import ALL_MODELS

ROOT = Path(__file__).resolve().parents[2]
FAST_SWEEPS = {"MODELHOOKS_SWEEP_INTERVAL": "1", "MODELHOOKS_SWEEP_GRACE": "2",
               "PYTHONUNBUFFERED": "1"}


def wait_until(check: Callable[[], object], timeout: float = 20.0,
               interval: float = 0.05, what: str = "condition") -> object:
    """Poll ``check`` until it answers something true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """What tests need of a running service: its URL, a key, an HTTP session."""

    base_url: str
    key: str

    def __init__(self) -> None:
        self.http = requests.Session()

    def call(self, method: str, path: str, json=None, key: str | None = None):
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return self.http.request(method, self.base_url + path, json=json,
                                 headers=headers, timeout=10)

    def add_callback(self, url: str, **body) -> dict:
        answer = self.call("POST", "/cloud/callback/model_status", {"url": url, **body})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def report(self, name: str, status: str, version: int = 1,
               project: str = "mindsdb", **extra) -> dict:
        body = {"project_name": project, "name": name, "version": version,
                "status": status, **extra}
        answer = self.call("POST", "/cloud/model_status", body)
        assert answer.status_code == 202, answer.text
        return answer.json()

    def deliveries(self, callback_id: int) -> list[dict]:
        answer = self.call("GET", f"/cloud/callback/model_status/{callback_id}"
                                  "/deliveries?limit=100")
        assert answer.status_code == 200, answer.text
        return answer.json()["deliveries"]

    def delete_all_callbacks(self) -> None:
        for callback in self.call("GET", "/cloud/callback/model_status").json():
            self.call("DELETE", f"/cloud/callback/model_status/{callback['id']}")

    def new_account(self) -> None:
        """Tests that need an account of their own (no-op where there is one)."""


class Process:
    """A child process whose output goes to a log file we can read."""

    def __init__(self, name: str, args: list[str], env: dict[str, str],
                 cwd: Path, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(args, env=env, cwd=cwd, stdout=self._log,
                                      stderr=subprocess.STDOUT,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        def seen() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log()[-3000:]}")
            return text in self.log()
        wait_until(seen, timeout, what=f"{text!r} in the log of {self.name}")

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signum)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class CeleryStack(Stack):
    """API in this process, Celery workers and beat as real processes."""

    mode = "celery"

    def __init__(self, database_url: str, redis_url: str, tmp: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.tmp = tmp
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "MODELHOOKS_ALLOW_PRIVATE_TARGETS": "true", **FAST_SWEEPS,
                    **(extra_env or {})}
        self.redis = redis.Redis.from_url(redis_url)
        self.processes: list[Process] = []
        self.settings = from_env(self.env)

        self._reset_storage()
        self._serve_api()
        self.new_account()

    def new_account(self) -> None:
        self.account_count = getattr(self, "account_count", 0) + 1
        with db.connection():
            self.key = accounts.create_account(f"e2e-{self.account_count}").secret

    def start_worker(self, name: str = "w1", pool: str = "threads",
                     concurrency: int = 8, app: str = "workers") -> Process:
        args = [sys.executable, "-m", "celery", "-A", app, "worker",
                "--pool", pool, "--concurrency", str(concurrency), "-n", f"{name}@%h",
                "--loglevel", "INFO", "--without-heartbeat", "--without-mingle",
                "--without-gossip"]
        worker = Process(name, args, self.env, ROOT, self.tmp)
        self.processes.append(worker)
        worker.wait_for_log("ready.")
        return worker

    def start_beat(self) -> Process:
        args = [sys.executable, "-m", "celery", "-A", "workers", "beat",
                "--loglevel", "INFO", "-s", str(self.tmp / "beat-schedule")]
        beat = Process("beat", args, self.env, ROOT, self.tmp)
        self.processes.append(beat)
        beat.wait_for_log("beat: Starting")
        return beat

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self._server.shutdown()
        self.redis.flushdb()

    def _reset_storage(self) -> None:
        self.redis.flushdb()
        db.open_database(self.settings.database_url)
        with db.connection():
            db.database.drop_tables(
                [*ALL_MODELS, migrations.SchemaMigration], safe=True,
                cascade=not self.settings.is_sqlite)
            migrations.migrate()

    def _serve_api(self) -> None:
        app = build_app(self.settings, broker=Broker(self.settings.redis_url))
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()


class DevStack(Stack):
    """``modelhooks dev`` in a subprocess: no Redis, no PostgreSQL."""

    mode = "dev"

    def __init__(self, tmp: Path) -> None:
        super().__init__()
        port = free_port()
        env = {**os.environ, "PORT": str(port),
               "DATABASE_URL": f"sqlite:///{tmp / 'dev.db'}", **FAST_SWEEPS}
        env.pop("REDIS_URL", None)
        command = [str(Path(sys.executable).with_name("modelhooks")), "dev"]
        self.process = Process("dev", command, env, tmp, tmp)
        self.process.wait_for_log("ready.")
        self.base_url = f"http://127.0.0.1:{port}"
        self.key = (tmp / ".modelhooks-dev-key").read_text().strip()
        wait_until(lambda: self.http.get(self.base_url + "/healthz").ok,
                   what="dev /healthz")

    def stop(self) -> None:
        self.process.stop()
