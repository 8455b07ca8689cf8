"""Run the whole home_rentals story with one command, and say how it went.

Starts ``modelhooks dev`` on a free loopback port with its own SQLite file in a
scratch directory, starts the receiver, trains version 1, and waits for the
receiver to retrain (version 2) and predict with it. With ``--fail``, version 1
fails instead and the story waits for the ``error`` callback. Every process
started here is stopped again by its pid. Exit status 0 when the story ends as
expected, 1 otherwise.

    .venv/bin/python examples/home_rentals/run_story.py [--fail] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).parent
STARTUP_SECONDS = 30
TRAINER_SECONDS = 120
STORY_SECONDS = 60
STOP_SECONDS = 10
POLL_SECONDS = 0.2


class StoryFailed(Exception):
    """The story did not end as expected; the message says where it stopped."""


class Processes:
    """The processes this story starts, by name; each is stopped by its pid."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], env: dict, cwd: Path) -> None:
        # The output goes to <name>.log, shown only when the story fails.
        with (self.workdir / f"{name}.log").open("w") as log_file:
            self.running[name] = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise StoryFailed(f"{name} exited early with status {process.poll()}")

    def stop_all(self) -> None:
        # A SIGTERM that arrives while stopping must not cut the stopping short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # The last started first: the receiver deletes its callback on the way out.
        for process in reversed(self.running.values()):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(STOP_SECONDS)


def free_port() -> int:
    # Free now; another program could take it before ours binds it, which is rare
    # enough on a developer's machine to accept.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what: str, found, processes: Processes, seconds: float):
    """Poll ``found()`` until it returns something truthy, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        processes.check_alive()
        result = found()
        if result:
            return result
        time.sleep(POLL_SECONDS)
    raise StoryFailed(f"waited {seconds} s for {what} in vain")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def start_service(processes: Processes, workdir: Path) -> dict:
    """``modelhooks dev`` in its own directory; the environment that reaches it."""
    modelhooks = Path(sys.executable).with_name("modelhooks")
    if not modelhooks.exists():
        raise StoryFailed(f"{modelhooks} is missing: install modelhooks in this venv")

    service_dir = workdir / "service"
    service_dir.mkdir(exist_ok=True)
    port = free_port()
    database_url = f"sqlite:///{service_dir / 'dev.db'}"
    env = {**os.environ, "PORT": str(port), "DATABASE_URL": database_url}
    processes.start("service", [str(modelhooks), "dev"], env, cwd=service_dir)

    base_url = f"http://127.0.0.1:{port}"
    wait_for(
        "modelhooks dev to answer",
        lambda: answers(f"{base_url}/healthz"),
        processes,
        STARTUP_SECONDS,
    )
    # `modelhooks dev` writes the key file in its working directory.
    key = (service_dir / ".modelhooks-dev-key").read_text().strip()
    return {**os.environ, "MODELHOOKS_URL": base_url, "MODELHOOKS_API_KEY": key}


def start_receiver(processes: Processes, workdir: Path, env: dict) -> None:
    port = free_port()
    command = [
        sys.executable,
        str(HERE / "receiver.py"),
        "--port",
        str(port),
        "--workdir",
        str(workdir),
    ]
    processes.start("receiver", command, env, cwd=workdir)
    # The receiver registers its callback before it starts answering.
    wait_for(
        "the receiver to answer",
        lambda: answers(f"http://127.0.0.1:{port}/healthz"),
        processes,
        STARTUP_SECONDS,
    )


def train_version_1(workdir: Path, env: dict, fail: bool) -> None:
    command = [
        sys.executable,
        str(HERE / "trainer.py"),
        "--version",
        "1",
        "--workdir",
        str(workdir),
    ] + (["--fail"] if fail else [])
    with (workdir / "trainer-v1.log").open("w") as log_file:
        trainer = subprocess.run(
            command,
            env=env,
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            timeout=TRAINER_SECONDS,
        )

    expected = 1 if fail else 0
    if trainer.returncode != expected:
        raise StoryFailed(
            f"the trainer of version 1 exited with status "
            f"{trainer.returncode}, not {expected}"
        )


def deliveries(workdir: Path) -> list[dict]:
    journal = workdir / "deliveries.jsonl"
    lines = journal.read_text().splitlines() if journal.exists() else []
    return [json.loads(line) for line in lines]


def error_delivery(workdir: Path) -> dict | None:
    for delivery in deliveries(workdir):
        if delivery["verified"] and delivery["change"]["new_status"] == "error":
            return delivery
    return None


def predictions(workdir: Path) -> dict | None:
    path = workdir / "predictions.json"
    return json.loads(path.read_text()) if path.exists() else None


def tell_story(workdir: Path, fail: bool) -> None:
    processes = Processes(workdir)
    try:
        env = start_service(processes, workdir)
        start_receiver(processes, workdir, env)
        train_version_1(workdir, env, fail)
        if fail:
            wait_for(
                "the error callback",
                lambda: error_delivery(workdir),
                processes,
                STORY_SECONDS,
            )
        else:
            wait_for(
                "predictions of version 2",
                lambda: predictions(workdir),
                processes,
                STORY_SECONDS,
            )
    finally:
        processes.stop_all()


def print_summary(workdir: Path, kept: bool) -> None:
    print("Callbacks the receiver got:")
    for delivery in deliveries(workdir):
        change = delivery.get("change", {})
        checks = "signature verified" if delivery["verified"] else "REJECTED"
        checks += ", duplicate dropped" if delivery["duplicate"] else ""
        print(
            f"  {delivery['webhook_id']}: {change.get('name')} "
            f"v{change.get('version')} {change.get('old_status')} -> "
            f"{change.get('new_status')} ({checks})"
        )

    predicted = predictions(workdir)
    if predicted:
        values = ", ".join(f"{value:.1f}" for value in predicted["predictions"])
        print(f"Predictions of {predicted['name']} v{predicted['version']}: {values}")
    if kept:
        print(f"Logs and outputs: {workdir}")


def print_log_tails(workdir: Path, lines: int = 15) -> None:
    for log_path in sorted(workdir.glob("*.log")):
        tail = log_path.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- last lines of {log_path.name}", *tail, sep="\n", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--fail",
        action="store_true",
        help="make version 1 fail and wait for the error callback",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep logs and outputs here (default: a temporary "
        "directory, removed at the end)",
    )
    args = parser.parse_args(argv)
    if args.workdir and args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir must be new or empty; {args.workdir} is not")

    # SIGTERM unwinds like Ctrl-C, so the processes started here are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with tempfile.TemporaryDirectory(prefix="home-rentals-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            tell_story(workdir, args.fail)
        except (StoryFailed, subprocess.TimeoutExpired) as failure:
            print_log_tails(workdir)
            print(f"home_rentals story FAILED: {failure}", file=sys.stderr)
            return 1
        print_summary(workdir, kept=args.workdir is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
