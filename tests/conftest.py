"""Shared fixtures: one database per test, on SQLite and on the real PostgreSQL.

``MODELHOOKS_TEST_DATABASE_URL`` and ``MODELHOOKS_TEST_REDIS_URL`` name the
PostgreSQL database and Redis the suite may wipe; they default to the ones
``.ci/run`` checks on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import os
from urllib.parse import urlparse

import pytest

from app import accounts, db, migrations
from app.api import build_app
from app.config import Settings
from app.models import ALL_MODELS, Delivery, Event, new_id, utcnow

POSTGRES_URL = os.environ.get(
    "MODELHOOKS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MODELHOOKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unconsumed_database(url: str) -> str:
    parts = urlparse(url)
    number = int(parts.path.lstrip("/") or 0)
    return parts._replace(path=f"/{(number + 8) % 16}").geturl()


# The suite's end-to-end workers consume the queue of ``REDIS_URL`` while other
# tests run; tests that count the messages they publish use this database.
UNCONSUMED_REDIS_URL = _unconsumed_database(REDIS_URL)


class FakeBroker:
    """Records what the API publishes; for tests of the API alone."""

    def __init__(self) -> None:
        self.fan_outs: list[str] = []

    def publish_fan_out(self, event_id: str) -> bool:
        self.fan_outs.append(event_id)
        return True

    def ping(self) -> None:
        return None


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """Each test that asks runs twice: on a fresh SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'modelhooks.db'}"
    return POSTGRES_URL


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, redis_url=REDIS_URL,
                    allow_private_targets=True)


@pytest.fixture
def database(settings):
    db.open_database(settings.database_url)
    if settings.is_sqlite:
        migrations.migrate()
    else:
        _drop_all()
        migrations.migrate()
    yield db.database
    db.database.close()
    db.database.obj.close_all() if hasattr(db.database.obj, "close_all") else None


def _drop_all() -> None:
    with db.connection():
        db.database.drop_tables(
            list(ALL_MODELS) + [migrations.SchemaMigration], safe=True, cascade=True
        )


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def app(settings, database, broker):
    return build_app(settings, broker=broker)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def account_key(database) -> str:
    """The API key of a fresh account named ``acme``."""
    return accounts.create_account("acme").secret


@pytest.fixture
def other_account_key(database) -> str:
    return accounts.create_account("globex").secret


@pytest.fixture
def auth(account_key) -> dict[str, str]:
    return {"Authorization": f"Bearer {account_key}"}


def with_settings(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, **changes)


def make_pending_deliveries(event: Event, callback_ids: list[int]) -> None:
    """The event's deliveries, waiting for their first attempt, as a fan-out
    would leave them had its worker stopped before attempting any."""
    Delivery.insert_many([{"id": new_id("msg"), "event": event.id, "callback": c}
                          for c in callback_ids]).execute()
    Event.update(fanned_out_at=utcnow()).where(Event.id == event.id).execute()


def make_callback(account, model_name: str = ".*"):
    """A callback of ``account`` to a port nothing listens on: 3 attempts, 7 s apart."""
    from app import callbacks

    return callbacks.create(account, {"url": "http://127.0.0.1:9/h",
                                      "filter": {"model_name": model_name,
                                                 "project_name": ".*"},
                                      "attempt": {"count": 3, "interval": 7,
                                                  "http_timeout": 1}},
                            Settings(allow_private_targets=True))


@pytest.fixture
def queue_redis():
    """The Redis of ``UNCONSUMED_REDIS_URL``, its queue, drain flag and
    wake-ups cleared."""
    import redis

    from app.broker import DRAIN_QUEUED_KEY, DRAIN_WAKE_KEY

    client = redis.Redis.from_url(UNCONSUMED_REDIS_URL)
    client.delete("modelhooks", DRAIN_QUEUED_KEY, DRAIN_WAKE_KEY)
    yield client
    client.delete("modelhooks", DRAIN_QUEUED_KEY, DRAIN_WAKE_KEY)
    client.close()


def queued_tasks(client) -> list[str]:
    """The names of the tasks waiting in the ``modelhooks`` queue."""
    import json

    return [json.loads(raw)["headers"]["task"]
            for raw in client.lrange("modelhooks", 0, -1)]
