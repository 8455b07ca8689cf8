"""Schema migrations, applied in order by ``modelhooks migrate``.

Each migration has a number and runs once: the numbers applied so far are kept
in ``schema_migrations``, so running ``migrate`` again changes nothing. A new
migration is a function appended to ``MIGRATIONS`` that alters the schema with
``playhouse.migrate`` operations; the ones already released are never edited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import peewee

from app import models
from app.db import database

log = logging.getLogger("modelhooks.migrations")


class SchemaMigration(peewee.Model):
    version = peewee.IntegerField(primary_key=True)
    description = peewee.CharField(max_length=256)
    applied_at = peewee.DateTimeField(default=models.utcnow)

    class Meta:
        database = database
        table_name = "schema_migrations"


def _initial_schema() -> None:
    database.create_tables(models.ALL_MODELS, safe=True)


def _index_waiting_events() -> None:
    # The drain and the sweep look for triggered events not yet fanned out,
    # oldest first. Events that trigger nothing keep fanned_out_at null for
    # ever, so the first schema's index of fanned_out_at grew with every one
    # of them; this one holds only the events waiting, in the drain's order.
    database.execute_sql("DROP INDEX IF EXISTS event_fanned_out_at")
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS events_waiting ON events (created_at)"
        " WHERE triggered AND fanned_out_at IS NULL")


def _drop_prefix_indexes() -> None:
    # The first schema indexed each foreign key of deliveries and attempts on
    # its own, beside an index that begins with the same column and serves
    # the same lookups. Every delivery made and every attempt recorded paid
    # for each index, and a fan-out makes thousands at once.
    for name in REDUNDANT_INDEXES:
        database.execute_sql(f"DROP INDEX IF EXISTS {name}")


def _stamp_callback_changes() -> None:
    # Databases made by an earlier release (the first schema of a new one
    # already has the column). The accounts there start with one stamp
    # between them: a worker keeps callbacks per account, so sharing it is
    # harmless.
    #
    # One ALTER with its default, never playhouse's add_column: on SQLite that
    # adds NOT NULL by copying the table and dropping the original, and inside
    # this transaction PRAGMA foreign_keys=0 is ignored, so the drop's implicit
    # DELETE cascaded to every key, callback, version, event and delivery.
    columns = {column.name for column in database.get_columns("accounts")}
    if "callbacks_stamp" not in columns:
        database.execute_sql("ALTER TABLE accounts ADD COLUMN callbacks_stamp"
                             " BIGINT NOT NULL DEFAULT 0")
        database.execute_sql(
            f"UPDATE accounts SET callbacks_stamp = {database.param}",
            (models.new_stamp(),))

    # Every write to callbacks draws its account a new stamp, whoever writes:
    # app.callbacks draws one first anyway (so that the account is the first
    # row a change locks), but a web process of an earlier release, or a row
    # written by hand, must not leave workers using what they kept.
    postgres = isinstance(database.obj, peewee.PostgresqlDatabase)
    for statement in POSTGRES_STAMP_TRIGGERS if postgres else SQLITE_STAMP_TRIGGERS:
        database.execute_sql(statement)


# Each write to callbacks: the trigger's name, and the rows it sees (the new
# ones, or the old ones of a delete).
CALLBACK_WRITES = (("INSERT", "callbacks_inserted", "NEW"),
                   ("UPDATE", "callbacks_updated", "NEW"),
                   ("DELETE", "callbacks_deleted", "OLD"))
# PostgreSQL: once per statement, for all the accounts whose callbacks it wrote
# (a bulk insert of thousands of callbacks draws once, not once a row).
POSTGRES_STAMP_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION callbacks_changed() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " UPDATE accounts SET callbacks_stamp = (random() * 4611686018427387903)::bigint"
    " WHERE id IN (SELECT DISTINCT account_id FROM changed);"
    " RETURN NULL; END $$",
    # DROP and CREATE rather than CREATE OR REPLACE TRIGGER (PostgreSQL 14+).
    *(statement
      for operation, name, rows in CALLBACK_WRITES
      for statement in (
          f"DROP TRIGGER IF EXISTS {name} ON callbacks",
          f"CREATE TRIGGER {name} AFTER {operation} ON callbacks"
          f" REFERENCING {rows} TABLE AS changed"
          " FOR EACH STATEMENT EXECUTE FUNCTION callbacks_changed()")),
)
# SQLite has triggers for each row only.
SQLITE_STAMP_TRIGGERS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {operation} ON callbacks BEGIN"
    " UPDATE accounts SET callbacks_stamp = abs(random() % 4611686018427387903)"
    f" WHERE id = {rows}.account_id; END"
    for operation, name, rows in CALLBACK_WRITES
)


REDUNDANT_INDEXES = ("delivery_event_id", "delivery_callback_id", "attempt_delivery_id")

MIGRATIONS: list[tuple[int, str, Callable[[], None]]] = [
    (1, "accounts, keys, callbacks, model versions, events, deliveries, attempts",
     _initial_schema),
    (2, "index of the events waiting to be fanned out", _index_waiting_events),
    (3, "no index of a foreign key that another index begins with",
     _drop_prefix_indexes),
    (4, "a stamp of each account's callbacks, drawn anew by every change",
     _stamp_callback_changes),
]


def pending() -> list[int]:
    """Numbers of the migrations this database has not applied yet."""
    database.create_tables([SchemaMigration], safe=True)
    applied = {row.version for row in SchemaMigration.select(SchemaMigration.version)}
    return [number for number, _, _ in MIGRATIONS if number not in applied]


def migrate() -> list[int]:
    """Apply every pending migration, each in its own transaction; return them."""
    applied_now = []
    for number, description, apply in MIGRATIONS:
        if number not in pending():
            continue

        with database.atomic():
            _lock_for_migration()
            if number not in pending():
                continue
            apply()
            SchemaMigration.create(version=number, description=description)

        log.info("applied migration %d: %s", number, description)
        applied_now.append(number)
    return applied_now


def _lock_for_migration() -> None:
    # Two releases migrating at once on PostgreSQL wait for each other instead of
    # both creating the same tables; SQLite's write lock already serialises them.
    if isinstance(database.obj, peewee.PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_xact_lock(4242)")
