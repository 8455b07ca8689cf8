"""The processes a benchmark run starts, all on 127.0.0.1, and stops again.

A private PostgreSQL cluster and Redis (never the shared ones on 5432/6379),
the API under gunicorn, a Celery worker and the receiver; with ``peer``, also
django-webhook (``bench/peer``) under gunicorn and its Celery worker, with the
same options, a database of its own in that cluster and a database number of
its own in that Redis. Every process is the leader of its own session;
``stop`` ends each by the pid it was started with.
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
PEER_DIR = ROOT / "bench" / "peer"
# The receiver counts the peer's deliveries under this tag.
PEER_TAG = "peer"
# modelhooks' queue and its unacknowledged messages live in database 0.
PEER_REDIS_DB = 1


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
                 env: dict[str, str] | None = None, user: str | None = None,
                 system: str | None = None) -> None:
        self.name = name
        # The webhook system the process belongs to; None if deliveries of
        # every system go through it (PostgreSQL, Redis, the receiver).
        self.system = system
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
                 web_workers: int, web_threads: int, peer: bool = False) -> None:
        self.peer = peer
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
        self.web = self._start("web", self._gunicorn(self.web_port, "app:create_app()"),
                               system="modelhooks")
        self.worker = self._start("worker", self._celery_worker("workers"),
                                  system="modelhooks")
        if self.peer:
            self._start_peer(pg_port, redis_port)
        wait_for_port(self.receiver_port)
        wait_for_port(self.web_port)
        self._wait_for_log(self.worker, "ready.")
        if self.peer:
            wait_for_port(self.peer_web_port)
            self._wait_for_log(self.peer_worker, "ready.")

    def _gunicorn(self, port: int, app: str) -> list[str]:
        return [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}",
                "--workers", str(self.web_workers), "--threads", str(self.web_threads),
                "--backlog", "1024", "--no-control-socket", app]

    def _celery_worker(self, app: str) -> list[str]:
        return [str(BIN / "celery"), "-A", app, "worker", "--pool", self.worker_pool,
                "--concurrency", str(self.worker_concurrency), "--loglevel", "INFO",
                "--without-heartbeat", "--without-mingle", "--without-gossip"]

    def _start_peer(self, pg_port: int, redis_port: int) -> None:
        """django-webhook, subscribed to the receiver's ``ok`` mode under PEER_TAG."""
        self._create_database(pg_port, "peer")
        env = {**self.env,
               "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg_port}/peer",
               "REDIS_URL": f"redis://127.0.0.1:{redis_port}/{PEER_REDIS_DB}",
               "DJANGO_SETTINGS_MODULE": "peer_site.settings",
               "PYTHONPATH": str(PEER_DIR)}
        admin = str(BIN / "django-admin")
        _run([admin, "migrate"], env)
        # A process of its own: django_webhook makes its topics as the app
        # starts, which needs its tables to exist already.
        _run([admin, "add_webhook",
              f"http://127.0.0.1:{self.receiver_port}/ok/{PEER_TAG}"], env)
        self.peer_web_port = free_port()
        self.peer_web = self._start("peer-web", self._gunicorn(
            self.peer_web_port, "peer_site.wsgi"), env=env, system="django-webhook")
        self.peer_worker = self._start("peer-worker", self._celery_worker("peer_site"),
                                       env=env, system="django-webhook")

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
        self._create_database(port, "modelhooks")

    @staticmethod
    def _create_database(port: int, name: str) -> None:
        # PostgreSQL listens a little before it takes connections.
        deadline = time.monotonic() + 30
        while True:
            created = subprocess.run(
                [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                 "-U", "postgres", name], capture_output=True)
            if created.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"createdb failed: {created.stderr.decode()}")
            time.sleep(0.2)

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None,
               user: str | None = None, system: str | None = None) -> Process:
        process = Process(name, args, self.tmp, env or self.env, user, system)
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

    def cpu_seconds(self, system: str = "modelhooks") -> dict[str, float]:
        """CPU time used so far by each service ``system``'s deliveries go through.

        By name: PostgreSQL, Redis, the receiver and the system's own processes.
        """
        return {process.name: process.cpu_seconds() for process in self.processes
                if process.system in (None, system)
                and not process.name.startswith("py-spy")}

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


def _run(args: list[str], env: dict[str, str]) -> None:
    """Run a set-up command to its end; its output is the error if it fails."""
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: "
                           f"{done.stdout.decode()}{done.stderr.decode()}")
