"""The stored domain: accounts and their keys, callbacks, model versions,
events, deliveries and attempts.

Times are naive datetimes in UTC. Public ids of events and deliveries are
prefixed strings (``evt_…``, ``msg_…``) because they travel in headers and logs;
callbacks keep integer ids, as in MindsDB Cloud's API.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import TypeVar

import peewee

from app.db import database

ModelT = TypeVar("ModelT", bound=peewee.Model)


def utcnow() -> datetime:
    """The current time as a naive UTC datetime, the form every row stores."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def loaded(model: type[ModelT], **values) -> ModelT:
    """An instance of ``model`` for a row read from the database.

    Made as Peewee makes the rows of its own queries: the defaults of the
    fields left out are not computed (they were the database's to apply).
    A fan-out makes thousands, and computing their defaults (times among
    them) cost half of each.
    """
    return model(__no_default__=True, **values)


def new_stamp() -> int:
    """A random 62-bit number, to mark one state of something (see ``Account``)."""
    return secrets.randbits(62)


def new_id(prefix: str) -> str:
    """A random, URL-safe public id such as ``msg_2Jc9…`` (128 bits)."""
    return f"{prefix}_{secrets.token_hex(16)}"


class NeverReusedId(peewee.AutoField):
    """An integer id that is never handed out twice, even after a delete.

    PostgreSQL sequences already behave so; SQLite needs AUTOINCREMENT, or a
    new callback could take the id of the last one deleted, and a client still
    holding that id would edit the wrong callback.
    """

    def ddl(self, ctx):
        node = super().ddl(ctx)
        if isinstance(self.model._meta.database.obj, peewee.SqliteDatabase):
            return peewee.NodeList((node, peewee.SQL("AUTOINCREMENT")))
        return node


class BaseModel(peewee.Model):
    class Meta:
        database = database


class Account(BaseModel):
    """A tenant: nothing of one account is visible to another."""

    name = peewee.CharField(max_length=256, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)
    # Drawn anew by every change to the account's callbacks, in the
    # transaction that makes it (``app.callbacks``, and migration 4's
    # triggers for any other writer): a worker keeps the callbacks it matched
    # for as long as the stamp stays the same. Random, not counted, so that
    # an account made again under an id used before (SQLite, a restored
    # backup, a test's truncated tables) never meets the stamp of the one
    # before. Rows written without Peewee start at 0.
    callbacks_stamp = peewee.BigIntegerField(default=new_stamp,
                                             constraints=[peewee.SQL("DEFAULT 0")])

    class Meta:
        table_name = "accounts"


class ApiKey(BaseModel):
    """A bearer key of an account, stored only as its SHA-256 hash."""

    id = NeverReusedId()
    account = peewee.ForeignKeyField(Account, backref="keys", on_delete="CASCADE")
    prefix = peewee.CharField(max_length=16)
    key_hash = peewee.CharField(max_length=64, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)
    revoked_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "api_keys"


class Callback(BaseModel):
    """A URL to POST to when a model version matching both patterns changes."""

    id = NeverReusedId()
    account = peewee.ForeignKeyField(Account, backref="callbacks", on_delete="CASCADE")
    url = peewee.CharField(max_length=2048)
    model_name_pattern = peewee.CharField(max_length=256, default=".*")
    project_name_pattern = peewee.CharField(max_length=256, default=".*")
    attempt_count = peewee.IntegerField(default=5)
    attempt_interval = peewee.FloatField(default=10.0)
    attempt_http_timeout = peewee.FloatField(default=10.0)
    secret = peewee.CharField(max_length=128)
    enabled = peewee.BooleanField(default=True)
    disabled_reason = peewee.CharField(max_length=512, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "callbacks"


class ModelVersion(BaseModel):
    """One version of one model of one project, with its last known status."""

    account = peewee.ForeignKeyField(Account, on_delete="CASCADE")
    project_name = peewee.CharField(max_length=256)
    name = peewee.CharField(max_length=256)
    version = peewee.IntegerField()
    predictor_id = peewee.BigIntegerField(null=True)
    active = peewee.BooleanField(default=True)
    status = peewee.CharField(max_length=64, null=True)
    predictor_created_at = peewee.DateTimeField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "model_versions"
        indexes = ((("account", "project_name", "name", "version"), True),)


class Event(BaseModel):
    """One status change, stored before it is published (the outbox).

    ``body`` is the exact JSON document every delivery of this event sends.
    ``fanned_out_at`` stays null until a worker has made its deliveries, which
    is how the sweep finds events whose task never ran.
    """

    id = peewee.CharField(primary_key=True, max_length=40)
    account = peewee.ForeignKeyField(Account, on_delete="CASCADE")
    model_version = peewee.ForeignKeyField(ModelVersion, on_delete="CASCADE")
    old_status = peewee.CharField(max_length=64, null=True)
    new_status = peewee.CharField(max_length=64)
    changed_at = peewee.DateTimeField()
    triggered = peewee.BooleanField()
    body = peewee.TextField()
    created_at = peewee.DateTimeField(default=utcnow)
    # Indexed for the drain by migration 2 (only the events still waiting).
    fanned_out_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "events"


class DeliveryState:
    """The life of a delivery: pending -> sending -> succeeded | failed.

    A failed attempt puts it back to pending with a later ``next_attempt_at``;
    ``dropped`` means its callback was disabled (410 Gone) before it was done.
    """

    PENDING = "pending"
    SENDING = "sending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DROPPED = "dropped"

    FINAL = frozenset({SUCCEEDED, FAILED, DROPPED})


class Delivery(BaseModel):
    """One event for one callback; its id is the ``webhook-id`` of every attempt."""

    id = peewee.CharField(primary_key=True, max_length=40)
    # Not indexed alone: the indexes below begin with each, and every index is
    # paid for by every delivery made and every attempt recorded.
    event = peewee.ForeignKeyField(Event, backref="deliveries", on_delete="CASCADE",
                                   index=False)
    callback = peewee.ForeignKeyField(
        Callback, backref="deliveries", on_delete="CASCADE", index=False
    )
    state = peewee.CharField(max_length=16, default=DeliveryState.PENDING)
    attempts_made = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DateTimeField(default=utcnow)
    # While an attempt runs: when its worker must be presumed dead.
    lease_until = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    finished_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "deliveries"
        indexes = (
            (("event", "callback"), True),
            (("state", "next_attempt_at"), False),
            (("callback", "created_at"), False),
        )


class Attempt(BaseModel):
    """One POST of a delivery, as it went."""

    # Not indexed alone: the unique index of (delivery, number) begins with it.
    delivery = peewee.ForeignKeyField(Delivery, backref="attempts", on_delete="CASCADE",
                                      index=False)
    number = peewee.IntegerField()
    started_at = peewee.DateTimeField()
    duration_ms = peewee.FloatField()
    status_code = peewee.IntegerField(null=True)
    error = peewee.TextField(null=True)
    response_excerpt = peewee.TextField(default="")
    response_truncated = peewee.BooleanField(default=False)

    class Meta:
        table_name = "attempts"
        indexes = ((("delivery", "number"), True),)


ALL_MODELS = (Account, ApiKey, Callback, ModelVersion, Event, Delivery, Attempt)
