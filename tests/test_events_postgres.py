"""``events.record`` on PostgreSQL: one statement saves the version, and it
leaves exactly what the step-by-step path (the one SQLite takes) leaves."""

from __future__ import annotations

from datetime import datetime, timezone

import peewee
import pytest

from app import db, events
from app.models import Account, Event, ModelVersion
from app.statement import Statement
from tests.conftest import POSTGRES_URL

TRIGGERS = frozenset({"complete"})
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NOW = datetime(2026, 2, 3, 4, 5, 6)
# Every field a report may give or leave out, in an order that takes each
# branch: a new version, an update, a repeat, given and assigned values.
REPORTS = [
    {"status": "training"},
    {"status": "training"},
    {"status": "complete", "active": False},
    {"status": "error", "predictor_id": 77},
    {"status": "complete", "predictor_created_at": CREATED},
    {"status": "training", "old_status": "queued"},
    {"status": "complete", "active": True, "predictor_id": 5, "version": 2},
    {"status": "complete", "predictor_created_at": CREATED, "version": 3},
    {"status": "training", "version": 3},
]


@pytest.fixture
def database_url() -> str:
    return POSTGRES_URL


@pytest.fixture
def postgres(database):
    return database


def _record_all(account: Account) -> list[tuple]:
    changes = []
    for changes_of_report in REPORTS:
        report = {"project_name": "p", "name": "m", "version": 1, **changes_of_report}
        change = events.record(account, report, TRIGGERS)
        changes.append((change.old_status, change.new_status, change.triggered,
                        change.event_id is not None))
    return changes


def _stored() -> tuple[list, list]:
    versions = list(ModelVersion.select(
        ModelVersion.id, ModelVersion.version, ModelVersion.predictor_id,
        ModelVersion.active, ModelVersion.status, ModelVersion.predictor_created_at,
    ).order_by(ModelVersion.id).tuples())
    bodies = [(e.old_status, e.new_status, e.triggered, e.body)
              for e in Event.select().order_by(Event.body)]
    return versions, bodies


def test_one_statement_leaves_what_the_steps_leave(postgres, monkeypatch):
    results = []
    for path in ("_saved_in_one_statement", "_saved_step_by_step"):
        with db.connection():
            ModelVersion.delete().execute()
            db.database.execute_sql(
                "ALTER SEQUENCE model_versions_id_seq RESTART WITH 1")
            Account.delete().execute()
            account = Account.create(name="acme")
            monkeypatch.setattr(events, "_save_version", getattr(events, path))
            monkeypatch.setattr(events, "utcnow", lambda: NOW)
            results.append((_record_all(account), _stored()))
            monkeypatch.undo()

    assert results[0] == results[1]
    changes, (versions, _bodies) = results[0]
    assert [v[1:3] for v in versions] == [(1, 77), (2, 5), (3, 3)]
    assert changes[1] == ("training", "training", False, False)


def test_an_update_takes_no_id_from_the_sequence(postgres):
    with db.connection():
        account = Account.create(name="acme")
        report = {"project_name": "p", "name": "m", "version": 1}
        for status in ("a", "b", "c", "d"):
            events.record(account, {**report, "status": status}, TRIGGERS)
        events.record(account, {**report, "version": 2, "status": "a"}, TRIGGERS)

        ids = [v.id for v in ModelVersion.select().order_by(ModelVersion.id)]
    assert ids == [1, 2]


ANSWER = Statement("select_answer_plus_one", "SELECT %s + 1", ("integer",))


def test_a_statement_is_prepared_again_on_a_new_backend(postgres):
    with db.connection():
        first_backend = db.database.connection().info.backend_pid
        assert ANSWER.run((41,)).fetchone() == (42,)
        assert ANSWER.name in db.database.connection().prepared
    db.database.obj.close_all()

    with db.connection():
        assert db.database.connection().info.backend_pid != first_backend
        assert ANSWER.run((1,)).fetchone() == (2,)


def test_a_statement_prepared_in_a_rolled_back_transaction_stays_prepared(postgres):
    with db.connection():
        with pytest.raises(RuntimeError), db.database.atomic():
            ANSWER.run((1,))
            raise RuntimeError("the transaction fails")
        assert ANSWER.run((2,)).fetchone() == (3,)


RATIO = Statement("select_test_ratio", "SELECT 10 / %s", ("integer",))


def test_a_statement_whose_first_run_failed_runs_on_that_connection_after(postgres):
    # The PREPARE sent with the failed EXECUTE stays on the backend, although
    # the transaction rolled back: it must not be sent a second time.
    with db.connection():
        with pytest.raises(peewee.DataError), db.database.atomic():
            RATIO.run((0,))

        assert RATIO.run((2,)).fetchone() == (5,)
        assert RATIO.run((5,)).fetchone() == (2,)


def test_a_statement_whose_prepare_failed_is_prepared_when_it_can_be(postgres):
    with db.connection():
        db.database.execute_sql("CREATE TABLE test_later (n integer)")
        later = Statement("select_test_later", "SELECT count(*) FROM test_later"
                          " WHERE n = %s", ("integer",))
        db.database.execute_sql("DROP TABLE test_later")
        with pytest.raises(peewee.ProgrammingError):
            later.run((1,))

        db.database.execute_sql("CREATE TABLE test_later (n integer)")
        try:
            assert later.run((1,)).fetchone() == (0,)
        finally:
            db.database.execute_sql("DROP TABLE test_later")
