"""``modelhooks migrate`` makes the schema once and is safe to run again."""

from __future__ import annotations

from app import accounts, db, migrations, outbox
from app.db import database as db_proxy
from app.models import ALL_MODELS, Account


def test_migrate_creates_every_table_and_records_itself(database):
    tables = set(db_proxy.get_tables())

    assert {model._meta.table_name for model in ALL_MODELS} <= tables
    assert migrations.pending() == []
    assert [m.version for m in migrations.SchemaMigration.select()] == [
        number for number, _, _ in migrations.MIGRATIONS]


def test_migrate_again_applies_nothing(database):
    assert migrations.migrate() == []
    assert migrations.migrate() == []


def test_the_drain_finds_waiting_events_through_their_own_index(database):
    with db.connection():
        if db.is_postgres():
            db.database.execute_sql("SET enable_seqscan = off")
            plan = db.database.execute_sql(
                "EXPLAIN " + outbox.SELECT_WAITING + outbox.POSTGRES_LOCKING,
                (50,)).fetchall()
            db.database.execute_sql("RESET enable_seqscan")
        else:
            plan = db.database.execute_sql(
                "EXPLAIN QUERY PLAN " + outbox.SELECT_WAITING.replace("%s", "?"),
                (50,)).fetchall()

    assert "events_waiting" in " ".join(str(row) for row in plan)


def test_no_foreign_key_is_indexed_twice(database):
    with db.connection():
        names = {index.name for table in ("deliveries", "attempts")
                 for index in db_proxy.get_indexes(table)}

    assert names.isdisjoint(migrations.REDUNDANT_INDEXES)
    assert {"delivery_event_id_callback_id", "delivery_callback_id_created_at",
            "attempt_delivery_id_number"} <= names


def test_a_first_release_schema_loses_its_redundant_indexes(database):
    # A database made by the first release: the foreign keys indexed alone.
    with db.connection():
        for name, table, column in (("delivery_event_id", "deliveries", "event_id"),
                                    ("delivery_callback_id", "deliveries",
                                     "callback_id"),
                                    ("attempt_delivery_id", "attempts",
                                     "delivery_id")):
            db_proxy.execute_sql(f"CREATE INDEX {name} ON {table} ({column})")
        migrations.SchemaMigration.delete().where(
            migrations.SchemaMigration.version == 3).execute()

    assert migrations.migrate() == [3]
    with db.connection():
        names = {index.name for table in ("deliveries", "attempts")
                 for index in db_proxy.get_indexes(table)}
    assert names.isdisjoint(migrations.REDUNDANT_INDEXES)


def test_a_third_release_schema_gains_the_callbacks_stamp(database):
    # A database made by the third release: accounts without the stamp.
    with db.connection():
        account = accounts.create_account("acme").account
        db_proxy.execute_sql("ALTER TABLE accounts DROP COLUMN callbacks_stamp")
        migrations.SchemaMigration.delete().where(
            migrations.SchemaMigration.version == 4).execute()

    assert migrations.migrate() == [4]
    with db.connection():
        columns = {column.name: column for column in db_proxy.get_columns("accounts")}
        stamp = Account.get_by_id(account.id).callbacks_stamp
    assert columns["callbacks_stamp"].null is False
    assert isinstance(stamp, int)
