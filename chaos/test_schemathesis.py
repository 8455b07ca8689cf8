"""Schemathesis against ``/openapi.json``: no endpoint answers 500.

The API is served on loopback, on this suite's PostgreSQL and Redis, with a
valid key. No worker runs, so the callback URLs it invents are never called;
with private targets allowed, nothing is looked up in DNS either.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.conftest import size

pytestmark = pytest.mark.chaos

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_generated_requests_never_get_a_500(pg_stack, figures):
    examples = size("SCHEMATHESIS_EXAMPLES", 30)
    command = [str(SCHEMATHESIS), "run", pg_stack.base_url + "/openapi.json",
               "-H", f"Authorization: Bearer {pg_stack.key}",
               "--checks", "not_a_server_error", "--max-examples", str(examples),
               "--workers", "1", "--request-timeout", "10", "--seed", "20261204",
               "--no-color"]

    run = subprocess.run(command, capture_output=True, text=True, timeout=300)

    output = run.stdout + run.stderr
    cases = re.search(r"(\d+) generated, (.*)", output)
    figures.update(examples_per_operation=examples, exit_code=run.returncode,
                   test_cases=cases.group(0) if cases else None)
    print(output[-4000:])
    assert run.returncode == 0, output[-4000:]
