"""examples/print_receiver.py, the receiver the README starts for `make dev`."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.e2e.stack import free_port, wait_until

RECEIVER = Path(__file__).parents[1] / "examples" / "print_receiver.py"


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def test_it_answers_204_and_prints_the_delivery_with_its_id():
    port = free_port()
    receiver = subprocess.Popen([sys.executable, str(RECEIVER), "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    try:
        wait_until(lambda: listening(port), timeout=10, what="the receiver")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/hook", method="POST",
            data=b'{"name": "home_rentals", "new_status": "complete"}',
            headers={"Content-Type": "application/json", "webhook-id": "msg_1",
                     "webhook-timestamp": "1764840000"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            status = answer.status
    finally:
        receiver.terminate()
        output, _ = receiver.communicate(timeout=10)

    assert status == 204
    assert output.splitlines()[:6] == [
        f"listening on http://127.0.0.1:{port}/hook",
        "POST /hook  webhook-id: msg_1",
        "webhook-timestamp: 1764840000",
        "{",
        '  "name": "home_rentals",',
        '  "new_status": "complete"',
    ]
