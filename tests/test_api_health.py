"""``/healthz`` and ``/readyz``, against a real Redis and a closed port."""

from __future__ import annotations

import re

import pytest

from app.api import build_app
from app.broker import Broker
from app.config import Settings
from tests.conftest import REDIS_URL, FakeBroker, with_settings

# Nothing listens on port 1 of the loopback: connecting is refused at once.
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"
CLOSED_POSTGRES_URL = "postgresql://postgres@127.0.0.1:1/nowhere"


def client_for(settings: Settings, broker) -> object:
    return build_app(settings, broker=broker).test_client()


def test_healthz_answers_ok_without_checking_anything():
    client = client_for(Settings(database_url=CLOSED_POSTGRES_URL), FakeBroker())

    answer = client.get("/healthz")

    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok", "checks": {}}


@pytest.mark.redis
def test_readyz_is_200_when_the_database_and_the_real_broker_answer(settings, database):
    client = client_for(settings, Broker(REDIS_URL))

    answer = client.get("/readyz")

    assert answer.status_code == 200
    assert answer.get_json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
    }


def test_readyz_is_503_naming_the_broker_when_nothing_listens_at_its_url(
    settings, database
):
    broken = with_settings(settings, redis_url=CLOSED_REDIS_URL)
    client = client_for(broken, Broker(CLOSED_REDIS_URL))

    answer = client.get("/readyz")

    assert answer.status_code == 503
    body = answer.get_json()
    broker_check = body["checks"].pop("broker")
    assert body == {"status": "unavailable", "checks": {"database": "ok"}}
    assert re.fullmatch(r"broker unavailable: .*127\.0\.0\.1:1\b.*", broker_check)


def test_readyz_is_503_naming_the_database_when_it_cannot_be_reached():
    client = client_for(Settings(database_url=CLOSED_POSTGRES_URL), FakeBroker())

    answer = client.get("/readyz")

    assert answer.status_code == 503
    body = answer.get_json()
    database_check = body["checks"].pop("database")
    assert body == {"status": "unavailable", "checks": {"broker": "ok"}}
    assert database_check.startswith("database unavailable: ")
