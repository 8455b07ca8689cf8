"""``modelhooks migrate`` makes the schema once and is safe to run again."""

from __future__ import annotations

from app import migrations
from app.db import database as db_proxy
from app.models import ALL_MODELS


def test_migrate_creates_every_table_and_records_itself(database):
    tables = set(db_proxy.get_tables())

    assert {model._meta.table_name for model in ALL_MODELS} <= tables
    assert migrations.pending() == []
    assert [m.version for m in migrations.SchemaMigration.select()] == [
        number for number, _, _ in migrations.MIGRATIONS]


def test_migrate_again_applies_nothing(database):
    assert migrations.migrate() == []
    assert migrations.migrate() == []
