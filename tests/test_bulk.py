"""Bulk inserts store exactly what Peewee's own inserts store, on both databases."""

from __future__ import annotations

from datetime import datetime

import pytest

from app import accounts, bulk, db
from app.models import Account, ApiKey


def test_bulk_rows_read_back_like_rows_peewee_inserted(database):
    account = accounts.create_account("acme").account
    moment = datetime(2026, 12, 4, 18, 0, 0, 125000)
    whole_second = datetime(2026, 12, 4, 18, 0, 1)

    with db.connection():
        db.atomic(lambda: bulk.insert(
            ApiKey, ("account", "prefix", "key_hash", "created_at", "revoked_at"),
            [(account.id, "mh_bulk01", "h1", moment, None),
             (account.id, "mh_bulk02", "h2", whole_second, moment)]))
        ApiKey.create(account=account, prefix="mh_peewee", key_hash="h3",
                      created_at=moment)
        stored = {k.prefix: (k.created_at, k.revoked_at) for k in ApiKey.select()
                  .where(ApiKey.key_hash.in_(["h1", "h2", "h3"]))}
        found = ApiKey.select().where(ApiKey.created_at == moment).count()

    assert stored == {"mh_bulk01": (moment, None), "mh_bulk02": (whole_second, moment),
                      "mh_peewee": (moment, None)}
    assert found == 2


NOW = datetime(2026, 12, 4, 18, 0, 0)


def test_existing_rows_are_skipped_and_only_new_ones_returned(database):
    with db.connection():
        Account.create(name="taken")
        returned = db.atomic(lambda: bulk.insert(
            Account, ("name", "created_at"), [("taken", NOW), ("fresh", NOW)],
            skip_existing=True, returning=("name",)))
        names = sorted(a.name for a in Account.select())

    assert returned == [("fresh",)]
    assert names == ["fresh", "taken"]


def test_more_rows_than_one_statement_takes_are_all_inserted(database):
    rows = [(f"account-{n}", NOW) for n in range(bulk.CHUNK * 2 + 7)]

    with db.connection():
        returned = db.atomic(lambda: bulk.insert(Account, ("name", "created_at"), rows,
                                                 returning=("name",)))
        count = Account.select().count()

    assert len(returned) == len(rows) == count


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_array_literal_reads_back_as_the_values_it_was_made_of(database):
    values = ["msg_plain", 'a "quoted" word', "back\\slash", "comma, {brace}",
              "NULL", "", " spaced ", "ünïcode", None]
    moments = [datetime(2026, 12, 4, 9, 0), datetime(2026, 12, 4, 9, 0, 0, 1), None]

    with db.connection():
        [(strings,)] = db.execute("SELECT %s::varchar[]",
                                  (bulk.array_literal(values),)).fetchall()
        [(numbers,)] = db.execute("SELECT %s::integer[]",
                                  (bulk.array_literal([3, None, 2]),)).fetchall()
        [(floats,)] = db.execute("SELECT %s::double precision[]",
                                 (bulk.array_literal([0.001, 1e-05, 12.5]),)
                                 ).fetchall()
        [(flags,)] = db.execute("SELECT %s::boolean[]",
                                (bulk.array_literal([True, False, None]),)).fetchall()
        [(times,)] = db.execute("SELECT %s::timestamp[]",
                                (bulk.array_literal(moments),)).fetchall()

    assert strings == values
    assert numbers == [3, None, 2]
    assert floats == [0.001, 1e-05, 12.5]
    assert flags == [True, False, None]
    assert times == moments
