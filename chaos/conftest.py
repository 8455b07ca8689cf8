"""Fixtures of the fault suite: servers of its own, a service, a receiver.

Every case runs against a Redis and a PostgreSQL started for this session on
free loopback ports (see ``chaos.services``), never the shared ones: the
cases stop, empty and restart them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from chaos.services import OwnPostgres, OwnRedis
from tests.e2e.receiver import Receiver
from tests.e2e.stack import CeleryStack


def size(name: str, default: int) -> int:
    """A case's size, from ``CHAOS_<NAME>`` so that a long run can ask for more."""
    return int(os.environ.get(f"CHAOS_{name}", default))


@pytest.fixture(scope="session")
def own_redis(tmp_path_factory):
    server = OwnRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def own_postgres():
    # Not under pytest's temporary directory: that one is private to us, and
    # the cluster may have to run as another user.
    root = Path(tempfile.mkdtemp(prefix="modelhooks-chaos-pg-"))
    server = OwnPostgres(root)
    server.initialise()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def stack_factory(own_redis, tmp_path):
    """Make a service on our Redis; it is stopped after the test."""
    made: list[CeleryStack] = []

    def make(database_url: str, **extra_env: str) -> CeleryStack:
        service = CeleryStack(database_url, own_redis.url, tmp_path, extra_env)
        made.append(service)
        return service

    yield make
    for service in made:
        if not own_redis.is_up():
            own_redis.start()
        service.stop()


@pytest.fixture
def pg_stack(stack_factory, own_postgres):
    """The service on our PostgreSQL, with nothing started yet."""
    return stack_factory(own_postgres.url)


@pytest.fixture
def receiver():
    listening = Receiver()
    yield listening
    listening.stop()


@pytest.fixture
def figures(request):
    """What a case measured: printed at its end and kept for docs/reliability.md."""
    found: dict[str, object] = {}
    yield found
    line = json.dumps({"case": request.node.name, **found})
    print(f"\nFIGURES {line}")
    path = os.environ.get("CHAOS_FIGURES")
    if path:
        with open(path, "a") as out:
            out.write(line + "\n")


def wall_clock(monotonic_at: float) -> float:
    """A receiver's monotonic arrival time as Unix seconds."""
    return monotonic_at + (time.time() - time.monotonic())
