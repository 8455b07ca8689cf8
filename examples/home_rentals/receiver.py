"""Receive modelhooks callbacks for home_rentals and act on them.

The consumer's side of the story. At start the receiver registers its own URL
as a callback for this one model and keeps the signing secret from the answer.
Each request is then verified (Standard Webhooks signature), dropped if its
``webhook-id`` was seen before, answered at once, and acted on in a thread:

- version 1 ``complete``: retrain, by running the trainer for version 2;
- a later version ``complete``: predict a few rows with its saved model;
- ``error``: log it.

Every request is written to ``deliveries.jsonl`` and the predictions to
``predictions.json`` in the work directory, so that a script or a test can
check what happened. The callback is deleted again when the receiver stops.

    python examples/home_rentals/receiver.py --port 9000
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import joblib
from flask import Flask, request
from werkzeug.serving import make_server

from app.signing import SignatureError, verify

from service import Service, ServiceError
from trainer import DEFAULT_WORKDIR, housing_table, model_path, select

log = logging.getLogger("home_rentals.receiver")

TRAINER = Path(__file__).with_name("trainer.py")
TRAINER_TIMEOUT_SECONDS = 120
PREDICTION_ROWS = 5


class Journal:
    """The requests received, one JSON line each, and the ``webhook-id``s seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: set[str] = set()
        # Werkzeug serves each request in its own thread.
        self.lock = threading.Lock()

    def first_time(self, webhook_id: str) -> bool:
        with self.lock:
            if webhook_id in self.seen:
                return False
            self.seen.add(webhook_id)
            return True

    def write(self, entry: dict) -> None:
        with self.lock, self.path.open("a") as journal:
            journal.write(json.dumps(entry) + "\n")


class Reactions:
    """What the receiver does about one verified, first-seen status change."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.trainers: list[subprocess.Popen] = []

    def __call__(self, change: dict) -> None:
        # Runs in a thread of its own: a failure here is logged, not raised.
        try:
            self.react(change)
        except Exception:
            log.exception("reacting to %s failed", change)

    def react(self, change: dict) -> None:
        label = f"{change['name']} v{change['version']}"
        if change["new_status"] == "error":
            log.error("%s failed to train (was %s)", label, change["old_status"])
        elif change["new_status"] != "complete":
            log.info("%s is now %s; nothing to do", label, change["new_status"])
        elif change["version"] == 1:
            self.retrain(change)
        else:
            self.predict(change)

    def retrain(self, change: dict) -> None:
        version = change["version"] + 1
        log.info(
            "%s v%s is ready; retraining as v%s",
            change["name"],
            change["version"],
            version,
        )
        options = {
            "--version": version,
            "--name": change["name"],
            "--project": change["project_name"],
            "--workdir": self.workdir,
        }
        arguments = [str(part) for option in options.items() for part in option]
        trainer = subprocess.Popen([sys.executable, str(TRAINER), *arguments])
        self.trainers.append(trainer)
        try:
            trainer.wait(TRAINER_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("retraining took over %s s; stopping it", TRAINER_TIMEOUT_SECONDS)
            trainer.kill()
            trainer.wait()

    def predict(self, change: dict) -> None:
        saved = joblib.load(model_path(self.workdir, change["name"], change["version"]))
        columns, table = housing_table()
        rows = select(columns, table, saved["features"])[:PREDICTION_ROWS]
        predictions = [float(value) for value in saved["model"].predict(rows)]
        log.info(
            "%s v%s predicts %s",
            change["name"],
            change["version"],
            [round(value, 1) for value in predictions],
        )

        result = {
            "name": change["name"],
            "version": change["version"],
            "predictions": predictions,
        }
        # Written whole and then renamed, so a reader never sees half a file.
        partial = self.workdir / "predictions.json.partial"
        partial.write_text(json.dumps(result, indent=2))
        partial.replace(self.workdir / "predictions.json")

    def stop(self) -> None:
        for trainer in self.trainers:
            if trainer.poll() is None:
                trainer.terminate()


def build_app(secret: str, journal: Journal, react: Reactions) -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/hooks/model_status")
    def model_status():
        body = request.get_data()
        webhook_id = request.headers.get("webhook-id", "")
        entry = {"webhook_id": webhook_id, "received_at": time.time()}
        try:
            verify(body, request.headers, [secret])
        except SignatureError as error:
            journal.write({**entry, "verified": False, "duplicate": False})
            log.warning("rejected request %r: %s", webhook_id, error)
            return {"error": "signature verification failed"}, 401

        duplicate = not journal.first_time(webhook_id)
        change = json.loads(body)
        journal.write(
            {**entry, "verified": True, "duplicate": duplicate, "change": change}
        )
        if duplicate:
            log.info("dropped a second copy of delivery %s", webhook_id)
        else:
            # Answer now; the service counts a slow answer as a failed attempt.
            threading.Thread(target=react, args=(change,), daemon=True).start()
        return {"received": webhook_id}

    return app


def register(service: Service, url: str, model_name: str) -> dict:
    body = {"url": url, "filter": {"model_name": re.escape(model_name)}}
    callback = service.post("/cloud/callback/model_status", body)
    log.info(
        "registered callback %s for model %r -> %s", callback["id"], model_name, url
    )
    return callback


def unregister(service: Service, callback_id: int) -> None:
    try:
        service.delete(f"/cloud/callback/model_status/{callback_id}")
        log.info("deleted callback %s", callback_id)
    except ServiceError as error:
        log.warning("could not delete callback %s: %s", callback_id, error)


def fresh_outputs(workdir: Path) -> Path:
    """Clear the previous run's outputs, so that what is found there is this run's."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "predictions.json").unlink(missing_ok=True)
    journal = workdir / "deliveries.jsonl"
    journal.write_text("")
    return journal


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--name", default="home_rentals")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the callback is deleted on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    journal = Journal(fresh_outputs(args.workdir))
    reactions = Reactions(args.workdir)
    service = Service.from_env()
    url = f"http://127.0.0.1:{args.port}/hooks/model_status"
    callback = register(service, url, args.name)

    try:
        app = build_app(callback["secret"], journal, reactions)
        make_server("127.0.0.1", args.port, app, threaded=True).serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        reactions.stop()
        unregister(service, callback["id"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
