"""A Flask receiver that retrains on version 1 and predicts with version 2.

One command, against a running ``modelhooks dev`` (run it from the directory
where ``modelhooks dev`` was started, so that ``.modelhooks-dev-key`` is found,
or set MODELHOOKS_API_KEY)::

    .venv/bin/python examples/python_flask_receiver/receiver.py

It serves a receiver on 127.0.0.1, registers it through the SDK, then plays the
trainer itself: it reports version 1 of ``home_rentals`` going generating ->
training -> complete. When modelhooks calls back with version 1 complete, the
receiver "retrains" by reporting version 2 the same way; when version 2 is
complete it "predicts" with it, removes its callback and exits. By default the
training and the prediction are stand-ins; with ``--trainer`` each version is
really trained by ``examples/home_rentals/trainer.py`` (scikit-learn), which
reports its own statuses. The prediction stays a stand-in.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from modelhooks_sdk import Client, ModelhooksError, ModelStatusChange, webhook_handler
from werkzeug.serving import make_server

MODEL = "home_rentals"
TRAINER = Path(__file__).resolve().parents[1] / "home_rentals" / "trainer.py"
STEPS = ("generating", "training", "complete")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--service", default=os.environ.get("MODELHOOKS_URL", "http://127.0.0.1:5000")
    )
    parser.add_argument("--port", type=int, default=0, help="receiver port (0: any)")
    parser.add_argument(
        "--trainer",
        action="store_true",
        help="train with the scikit-learn trainer of examples/home_rentals",
    )
    parser.add_argument(
        "--timeout", type=float, default=60, help="seconds to wait for both callbacks"
    )
    return parser.parse_args()


def api_key() -> str:
    given = os.environ.get("MODELHOOKS_API_KEY")
    key_file = Path(".modelhooks-dev-key")
    if given:
        return given
    if key_file.exists():
        return key_file.read_text().strip()
    sys.exit(
        "set MODELHOOKS_API_KEY, or run where `modelhooks dev` wrote "
        ".modelhooks-dev-key"
    )


def train(client: Client, project: str, version: int) -> None:
    """Stand-in for a trainer: report each step of one model version."""
    for status in STEPS:
        client.report_status(
            project, MODEL, version, status, active=status == "complete"
        )
        time.sleep(0.1)


def train_with_sklearn(service: str, key: str, project: str, version: int) -> None:
    """Run the real trainer of ``examples/home_rentals``; it reports each step."""
    workdir = Path(tempfile.gettempdir()) / f"{project}_models"
    env = {**os.environ, "MODELHOOKS_URL": service, "MODELHOOKS_API_KEY": key}
    subprocess.run(
        [
            sys.executable,
            str(TRAINER),
            "--version",
            str(version),
            "--project",
            project,
            "--name",
            MODEL,
            "--workdir",
            str(workdir),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def predict(change: ModelStatusChange) -> float:
    """Stand-in for a prediction: a fixed formula per version, for one flat."""
    rooms, square_metres = 2, 80
    return round(900 + 350 * rooms + 12.5 * square_metres * change.version / 2, 2)


class Receiver:
    """Reacts to each verified change once, whatever the number of deliveries."""

    def __init__(self, trainer: Callable[[int], None]) -> None:
        self.trainer = trainer
        self.seen: set[str] = set()
        self.done = threading.Event()
        self.predicted = False

    def on_change(self, change: ModelStatusChange) -> tuple[str, int]:
        # At-least-once delivery: the same webhook-id may come twice.
        if change.webhook_id in self.seen:
            return "", 204
        self.seen.add(change.webhook_id)
        print(
            f"received {change.webhook_id}: {change.name} v{change.version} "
            f"{change.old_status} -> {change.new_status}",
            flush=True,
        )

        if change.new_status == "complete" and change.version == 1:
            print("retraining: reporting version 2", flush=True)
            # Answer at once; the work goes on after the answer.
            threading.Thread(target=self.retrain).start()
        elif change.new_status == "complete" and change.version == 2:
            print(f"predicting with version 2: {predict(change)}", flush=True)
            self.predicted = True
            self.done.set()
        return "", 204

    def retrain(self) -> None:
        try:
            self.trainer(2)
        except (ModelhooksError, subprocess.CalledProcessError) as error:
            print(f"retraining failed: {error}", flush=True)
            self.done.set()


def main() -> int:
    args = parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    project = f"flask_demo_{int(time.time() * 1000)}"
    key = api_key()
    client = Client(args.service, key)
    app = Flask("python_flask_receiver")
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    url = f"http://127.0.0.1:{server.port}/hooks/models"

    callback = client.add_callback(
        url, model_name=MODEL, project_name=project, count=3, interval=1
    )
    print(f"registered callback {callback.id} -> {url}", flush=True)
    if args.trainer:
        receiver = Receiver(lambda v: train_with_sklearn(args.service, key, project, v))
    else:
        receiver = Receiver(lambda version: train(client, project, version))
    app.add_url_rule(
        "/hooks/models",
        "on_change",
        webhook_handler(callback.secret or "")(receiver.on_change),
        methods=["POST"],
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()

    try:
        print("training version 1", flush=True)
        receiver.trainer(1)
        receiver.done.wait(args.timeout)
    finally:
        client.delete_callback(callback.id)
        server.shutdown()

    if not receiver.predicted:
        print(f"no prediction: version 2 did not call back within {args.timeout} s")
        return 1
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
