"""Fixtures of the end-to-end suite: a running service and a receiver."""

from __future__ import annotations

import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.e2e.receiver import Receiver
from tests.e2e.stack import CeleryStack, DevStack


@pytest.fixture(scope="module", params=["celery", "dev"])
def stack(request, tmp_path_factory):
    """The service, once with Celery on Redis and PostgreSQL, once as ``dev``."""
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "celery":
        service = CeleryStack(POSTGRES_URL, REDIS_URL, tmp)
        service.start_worker()
    else:
        service = DevStack(tmp)
    yield service
    service.stop()


@pytest.fixture
def service(stack):
    """The module's service with a fresh account; its callbacks go at the end."""
    stack.new_account()
    yield stack
    stack.delete_all_callbacks()


@pytest.fixture
def receiver():
    listening = Receiver()
    yield listening
    listening.stop()
