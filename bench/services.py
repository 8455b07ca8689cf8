"""The processes a benchmark run starts, all on 127.0.0.1, and stops again.

A private PostgreSQL cluster and Redis (never the shared ones on 5432/6379),
the API under gunicorn, a Celery worker and the receiver. Every process is the
leader of its own session; ``stop`` ends each by the pid it was started with.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path(os.environ.get("BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


class Process:
    """A child in a session of its own, its output in ``<tmp>/<name>.log``."""

    def __init__(self, name: str, args: list[str], tmp: Path,
                 env: dict[str, str] | None = None, user: str | None = None) -> None:
        self.name = name
        self.log_path = tmp / f"{name}.log"
        log = open(self.log_path, "wb")
        if user:
            args = ["runuser", "-u", user, "--", *args]
        self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree_rss(self) -> int:
        """Resident memory of the process and its children, in bytes."""
        try:
            parent = psutil.Process(self.pid)
            members = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for member in members:
            try:
                total += member.memory_info().rss
            except psutil.Error:
                pass
        return total

    def cpu_seconds(self) -> float:
        """CPU time of the process and its children, living or reaped."""
        try:
            parent = psutil.Process(self.pid)
            members = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for member in members:
            try:
                times = member.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
            if member is parent:
                total += times.children_user + times.children_system
        return total

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.popen.poll() is not None:
            return
        # The child leads its own session: its group id is its pid.
        os.killpg(self.pid, signum)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


class Services:
    """Everything a run needs; use as a context manager."""

    def __init__(self, *, worker_pool: str, worker_concurrency: int,
                 web_workers: int, web_threads: int) -> None:
        self.worker_pool = worker_pool
        self.worker_concurrency = worker_concurrency
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.tmp = Path(tempfile.mkdtemp(prefix="modelhooks-bench-"))
        self.processes: list[Process] = []
        self.env: dict[str, str] = {}

    def __enter__(self) -> Services:
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def _start_all(self) -> None:
        pg_port, redis_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg_port}/modelhooks",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "MODELHOOKS_ALLOW_PRIVATE_TARGETS": "true",
            "PYTHONUNBUFFERED": "1",
        }
        self._start_postgres(pg_port)
        self._start("redis", ["redis-server", "--port", str(redis_port), "--bind",
                              "127.0.0.1", "--save", "", "--appendonly", "no"])
        wait_for_port(redis_port)

        subprocess.run([str(BIN / "modelhooks"), "migrate"], env=self.env, check=True,
                       cwd=ROOT, capture_output=True)
        self.receiver_port = free_port()
        self.receiver = self._start("receiver", [sys.executable, "-m",
                                                 "bench.receiver",
                                                 str(self.receiver_port)])
        self.web_port = free_port()
        self.web = self._start("web", [
            str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.web_port}",
            "--workers", str(self.web_workers), "--threads", str(self.web_threads),
            "--backlog", "1024", "--no-control-socket", "app:create_app()"],
            env=self.env)
        self.worker = self._start("worker", [
            str(BIN / "celery"), "-A", "workers", "worker",
            "--pool", self.worker_pool, "--concurrency", str(self.worker_concurrency),
            "--loglevel", "INFO",
            "--without-heartbeat", "--without-mingle", "--without-gossip"],
            env=self.env)
        wait_for_port(self.receiver_port)
        wait_for_port(self.web_port)
        self._wait_for_log(self.worker, "ready.")

    def _start_postgres(self, port: int) -> None:
        data, sockets = self.tmp / "pg", self.tmp / "pg-sockets"
        sockets.mkdir()
        user = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            user = "postgres"
            owner = pwd.getpwnam(user)
            os.chown(self.tmp, owner.pw_uid, owner.pw_gid)
            os.chown(sockets, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", user, "--"] if user else []
        subprocess.run([*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust",
                        "-U", "postgres", "--no-sync"], check=True,
                       capture_output=True)
        self._start("postgres", [
            str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={sockets}",
            "-c", "max_connections=300"], user=user)
        wait_for_port(port)
        deadline = time.monotonic() + 30
        while True:
            created = subprocess.run(
                [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                 "-U", "postgres", "modelhooks"], capture_output=True)
            if created.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"createdb failed: {created.stderr.decode()}")
            time.sleep(0.2)

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None,
               user: str | None = None) -> Process:
        process = Process(name, args, self.tmp, env or self.env, user)
        self.processes.append(process)
        return process

    @staticmethod
    def _wait_for_log(process: Process, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited; see {process.log_path}")
            if text in process.log_path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{process.name} not ready within {timeout} s")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each service, by name."""
        return {process.name: process.cpu_seconds() for process in self.processes
                if not process.name.startswith("py-spy")}

    def stop(self) -> None:
        for process in reversed(self.processes):
            # PostgreSQL's "fast" shutdown is SIGINT.
            signum = signal.SIGINT if process.name == "postgres" else signal.SIGTERM
            process.stop(signum)
        self.processes.clear()
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
