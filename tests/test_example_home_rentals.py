"""The home_rentals example, run end to end as a user would run it.

Each story starts its own ``modelhooks dev``, receiver and trainers on loopback
ports and stops them again; the test reads what the receiver wrote down.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.signing import new_secret, signature_headers

EXAMPLE = Path(__file__).parents[1] / "examples" / "home_rentals"
STORY = EXAMPLE / "run_story.py"
# The story waits at most about two minutes in all for its own steps.
STORY_TIMEOUT_SECONDS = 240


def run_story(workdir: Path, *flags: str) -> tuple[int, str]:
    command = [sys.executable, str(STORY), "--workdir", str(workdir), *flags]
    story = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = story.communicate(timeout=STORY_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the story then stops the processes it started.
        story.terminate()
        output, _ = story.communicate(timeout=30)
        pytest.fail(f"the story took over {STORY_TIMEOUT_SECONDS} s:\n{output}")
    return story.returncode, output


def accepted_changes(workdir: Path) -> list[tuple[int, str, str]]:
    """(version, old status, new status) of each verified, first-seen delivery."""
    lines = (workdir / "deliveries.jsonl").read_text().splitlines()
    deliveries = [json.loads(line) for line in lines]
    assert all(delivery["verified"] for delivery in deliveries), deliveries

    changes = [d["change"] for d in deliveries if not d["duplicate"]]
    return sorted((c["version"], c["old_status"], c["new_status"]) for c in changes)


@pytest.mark.e2e
def test_version_1_complete_leads_to_retraining_and_predictions(tmp_path):
    status, output = run_story(tmp_path)

    assert status == 0, output
    assert accepted_changes(tmp_path) == [
        (1, "training", "complete"),
        (2, "training", "complete"),
    ]
    predicted = json.loads((tmp_path / "predictions.json").read_text())
    assert predicted["version"] == 2
    assert len(predicted["predictions"]) == 5
    assert all(math.isfinite(value) for value in predicted["predictions"])


@pytest.mark.e2e
def test_failed_training_is_delivered_as_an_error(tmp_path):
    status, output = run_story(tmp_path, "--fail")

    assert status == 0, output
    assert accepted_changes(tmp_path) == [(1, "training", "error")]
    assert not (tmp_path / "predictions.json").exists()


@pytest.fixture
def receiver(monkeypatch):
    """The example's receiver module, imported the way its script imports it."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import receiver

    yield receiver
    # Its sibling modules have generic names: keep them out of other tests.
    for name in ("receiver", "service", "trainer"):
        sys.modules.pop(name, None)


def test_receiver_acts_once_per_webhook_id_and_only_on_valid_signatures(
    receiver, tmp_path
):
    secret = new_secret()
    reacted = []
    done = threading.Event()
    journal = receiver.Journal(tmp_path / "deliveries.jsonl")
    client = receiver.build_app(
        secret, journal, lambda c: (reacted.append(c), done.set())
    ).test_client()
    body = json.dumps(
        {
            "name": "home_rentals",
            "version": 1,
            "new_status": "error",
            "old_status": "training",
        }
    ).encode()
    headers = signature_headers(secret, "msg_1", body, int(time.time()))

    first = client.post("/hooks/model_status", data=body, headers=headers)
    again = client.post("/hooks/model_status", data=body, headers=headers)
    forged = client.post("/hooks/model_status", data=body + b" ", headers=headers)

    assert (first.status_code, again.status_code, forged.status_code) == (200, 200, 401)
    assert done.wait(5)
    assert len(reacted) == 1
