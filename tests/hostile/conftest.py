"""Fixtures of the hostile suite's end-to-end tests.

One Celery stack serves the whole session: its worker runs under
``TZ=America/Chicago`` (times must not depend on the local zone) and with a
maximum retry interval of 3 s, so that a Retry-After of two minutes can be
seen to be capped without waiting for it.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.e2e.receiver import Receiver
from tests.e2e.stack import CeleryStack, DevStack

MAX_RETRY_INTERVAL = 3
STACK_ENV = {
    "TZ": "America/Chicago",
    "MODELHOOKS_MAX_RETRY_INTERVAL": str(MAX_RETRY_INTERVAL),
}


@pytest.fixture(scope="session")
def celery_stack(tmp_path_factory):
    """API in this process; one real ``celery -A workers worker`` process."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in STACK_ENV.items():
            patch.setenv(name, value)
        stack = CeleryStack(POSTGRES_URL, REDIS_URL, tmp_path_factory.mktemp("celery"))
    try:
        stack.start_worker("hostile")
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def service(celery_stack):
    """The Celery stack with a fresh account; its callbacks go at the end."""
    celery_stack.new_account()
    yield celery_stack
    celery_stack.delete_all_callbacks()


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory):
    """``modelhooks dev`` in a subprocess under the same time zone."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in STACK_ENV.items():
            patch.setenv(name, value)
        stack = DevStack(tmp_path_factory.mktemp("dev"))
    yield stack
    stack.stop()


@pytest.fixture
def local_zone_chicago():
    """This process (the in-process API) in Chicago time too, restored after."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", STACK_ENV["TZ"])
        time.tzset()
        yield
    time.tzset()


@pytest.fixture
def receiver():
    listening = Receiver()
    yield listening
    listening.stop()


@pytest.fixture(params=["celery", "dev"])
def any_service(request):
    """Each test that asks runs on the Celery stack and on ``modelhooks dev``."""
    if request.param == "celery":
        request.getfixturevalue("local_zone_chicago")
        stack = request.getfixturevalue("celery_stack")
        stack.new_account()
    else:
        stack = request.getfixturevalue("dev_stack")
    yield stack
    stack.delete_all_callbacks()


def sending_process_pid(stack) -> int:
    """The pid of the process that makes the stack's POSTs."""
    if isinstance(stack, DevStack):
        return stack.process.pid
    [worker] = [p for p in stack.processes if p.name == "hostile"]
    return worker.pid
