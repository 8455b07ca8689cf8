"""The Flask receiver example, end to end against ``modelhooks dev``.

Needs the delivery engine: the receiver acts only on the callbacks it receives.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT
from modelhooks_sdk import Client

pytestmark = pytest.mark.delivery

EXAMPLE = REPO_ROOT / "examples" / "python_flask_receiver" / "receiver.py"


def test_the_flask_receiver_retrains_on_version_1_and_predicts_with_version_2(
    dev_server,
    tmp_path,
):
    env = {
        **os.environ,
        "MODELHOOKS_URL": dev_server.base_url,
        "MODELHOOKS_API_KEY": dev_server.api_key,
    }

    finished = subprocess.run(
        [sys.executable, str(EXAMPLE), "--timeout", "45"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )

    lines = finished.stdout.splitlines()
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert re.fullmatch(
        r"registered callback \d+ -> http://127\.0\.0\.1:\d+/hooks/models", lines[0]
    )
    assert re.fullmatch(
        r"received msg_\w+: home_rentals v1 training -> complete", lines[2]
    )
    assert lines[3] == "retraining: reporting version 2"
    assert re.fullmatch(
        r"received msg_\w+: home_rentals v2 training -> complete", lines[4]
    )
    assert lines[5:] == ["predicting with version 2: 2600.0", "done"]


def test_the_flask_receiver_removes_its_callback_when_done(dev_server, tmp_path):
    env = {
        **os.environ,
        "MODELHOOKS_URL": dev_server.base_url,
        "MODELHOOKS_API_KEY": dev_server.api_key,
    }
    finished = subprocess.run(
        [sys.executable, str(EXAMPLE), "--timeout", "45"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr

    with Client(dev_server.base_url, dev_server.api_key) as client:
        urls = [callback.url for callback in client.list_callbacks()]
    assert not [url for url in urls if url.endswith("/hooks/models")]


def test_the_flask_receiver_drives_the_home_rentals_trainer_with_trainer_flag(
    dev_server, tmp_path
):
    env = {
        **os.environ,
        "MODELHOOKS_URL": dev_server.base_url,
        "MODELHOOKS_API_KEY": dev_server.api_key,
    }

    finished = subprocess.run(
        [sys.executable, str(EXAMPLE), "--trainer", "--timeout", "90"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )

    lines = finished.stdout.splitlines()
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert re.fullmatch(
        r"received msg_\w+: home_rentals v2 training -> complete", lines[4]
    )
    assert lines[-1] == "done"
