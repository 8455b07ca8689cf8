"""The fan-out's insert that carries its COMMIT, under lost connections and
refusals; the triggers that stamp callbacks' writes; an edit's answer."""

from __future__ import annotations

from datetime import timedelta

import peewee
import pytest

from app import accounts, callbacks, db, deliveries
from app.errors import DependencyUnavailable
from app.models import Callback, Delivery, DeliveryState, Event, utcnow
from tests.conftest import POSTGRES_URL, make_callback
from tests.test_outbox import SETTINGS, report
from tests.test_sender import ScriptedTransport, answer
from workers.sender import Sender

pg_only = pytest.mark.parametrize("database_url", [POSTGRES_URL])


@pytest.fixture
def acme(database):
    account = accounts.create_account("acme").account
    make_callback(account)
    return account


def lose_connection_at_commit(monkeypatch, *, committed: bool) -> list[str]:
    """The statement carrying the COMMIT loses its connection: after the server
    committed (``committed``) or before the COMMIT reached it."""
    pool_class = type(db.database.obj)
    original = pool_class._execute
    hit: list[str] = []

    def _execute(self, sql, params, rerunnable=True):
        if not sql.endswith("; COMMIT"):
            return original(self, sql, params, rerunnable)
        hit.append(sql)
        if committed:
            original(self, sql, params, rerunnable)
        else:
            original(self, sql[:-len("; COMMIT")], params, rerunnable)
        self._state.conn.close()
        raise peewee.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(pool_class, "_execute", _execute)
    # As in a worker: the batch checks out its own connection.
    if not db.database.is_closed():
        db.database.close()
    return hit


def armed() -> bool:
    return bool(getattr(db.database.obj._state, "commit_with_next", False))


def deliveries_of(event_id):
    with db.connection():
        return [(d.state, d.attempts_made) for d in
                Delivery.select().where(Delivery.event == event_id)]


@pg_only
def test_commit_lost_after_it_went_through_sends_once_via_the_sweep(acme,
                                                                    monkeypatch):
    event_id = report(acme, 1)
    transport = ScriptedTransport(answer(200))
    sender = Sender(SETTINGS, transport)
    hit = lose_connection_at_commit(monkeypatch, committed=True)

    with pytest.raises(DependencyUnavailable):
        sender.fan_out_waiting(10)
    monkeypatch.undo()

    assert len(hit) == 1 and transport.posts == 0 and not armed()
    assert deliveries_of(event_id) == [(DeliveryState.SENDING, 0)]
    # The drain does not take the event again: it is fanned out.
    assert sender.fan_out_waiting(10).events == 0 and transport.posts == 0
    # Once the lease has run out, the sweep hands it out: one POST in all.
    with db.connection():
        Delivery.update(lease_until=utcnow() - timedelta(seconds=1)).execute()
        reclaimed = deliveries.reclaim_abandoned()
    sender.attempt(reclaimed)
    sender.attempt(reclaimed)
    assert transport.posts == 1
    assert deliveries_of(event_id) == [(DeliveryState.SUCCEEDED, 1)]


@pg_only
def test_commit_lost_before_it_went_through_leaves_the_event_waiting(acme,
                                                                     monkeypatch):
    event_id = report(acme, 1)
    transport = ScriptedTransport(answer(200))
    sender = Sender(SETTINGS, transport)
    lose_connection_at_commit(monkeypatch, committed=False)

    with pytest.raises(DependencyUnavailable):
        sender.fan_out_waiting(10)
    monkeypatch.undo()

    assert transport.posts == 0 and not armed()
    assert deliveries_of(event_id) == []
    assert sender.fan_out_waiting(10).events == 1
    assert transport.posts == 1
    assert deliveries_of(event_id) == [(DeliveryState.SUCCEEDED, 1)]


@pg_only
def test_commit_is_not_left_armed_when_nothing_matches_or_the_insert_is_refused(
        database, monkeypatch):
    account = accounts.create_account("acme").account
    make_callback(account, model_name="other")  # matches nothing
    sender = Sender(SETTINGS, ScriptedTransport(answer(200)))
    report(account, 1)
    assert sender.fan_out_waiting(10).events == 1
    assert not armed()

    # A refused insert (duplicate) then a careful retry.
    with db.connection():
        callback = make_callback(account)
    event_id = report(account, 2)
    sender.fan_out_waiting(10)
    with db.connection():
        Event.update(fanned_out_at=None).where(Event.id == event_id).execute()
    assert sender.fan_out_waiting(10).events == 1
    assert not armed()
    # The next unrelated transaction still commits as a whole.
    with db.connection():
        with pytest.raises(RuntimeError):
            with db.database.atomic():
                Callback.update(url="http://127.0.0.1:9/x").where(
                    Callback.id == callback.id).execute()
                raise RuntimeError
        assert Callback.get_by_id(callback.id).url == "http://127.0.0.1:9/h"


@pg_only
def test_a_second_refusal_surfaces_and_the_retry_does_not_loop(acme, monkeypatch):
    report(acme, 1)
    calls = []

    def refused(*args, **kwargs):
        calls.append(kwargs.get("ends_transaction"))
        raise peewee.IntegrityError("refused")

    monkeypatch.setattr(deliveries, "create_claimed", refused)
    with pytest.raises(peewee.IntegrityError):
        Sender(SETTINGS, ScriptedTransport(answer(200))).fan_out_waiting(10)
    assert calls == [True, False]
    assert not armed()
    with db.connection():
        assert Event.select().where(Event.fanned_out_at.is_null()).count() == 1


# update() saves only the dirty fields: what is stored, and what is answered.

BASE = "/cloud/callback/model_status"


def stored(callback_id: int) -> dict:
    with db.connection():
        return callbacks.to_dict(Callback.get_by_id(callback_id))


def test_every_edit_is_stored_as_answered(client, auth):
    made = client.post(BASE, json={"url": "http://127.0.0.1:9000/a"},
                       headers=auth).get_json()
    url = f"{BASE}/{made['id']}"
    edits = [{"filter": {"model_name": "m.*"}},
             {"filter": {"project_name": "p"}},
             {"attempt": {"interval": 3}},
             {"attempt": {"count": 2, "http_timeout": 0.5}},
             {"url": "http://127.0.0.1:9000/b"},
             {"enabled": False}, {"enabled": False}, {"enabled": True},
             {"enabled": True}, {}]
    for edit in edits:
        answer = client.put(url, json=edit, headers=auth)
        assert answer.status_code == 200
        assert answer.get_json() == stored(made["id"]), edit
    final = stored(made["id"])
    assert final["filter"] == {"model_name": "m.*", "project_name": "p"}
    assert final["attempt"] == {"count": 2, "interval": 3, "http_timeout": 0.5}


def test_enabling_again_clears_the_reason_of_a_410(client, auth):
    made = client.post(BASE, json={"url": "http://127.0.0.1:9000/a"},
                       headers=auth).get_json()
    callbacks.disable(made["id"], "410 Gone")
    answer = client.put(f"{BASE}/{made['id']}", json={"enabled": True}, headers=auth)
    assert answer.get_json()["enabled"] is True
    assert stored(made["id"])["enabled"] is True
    assert stored(made["id"])["disabled_reason"] is None


def test_an_edit_racing_a_410_answers_what_it_stored(client, auth, monkeypatch):
    """A 410 Gone disables the callback after the edit read it: the edit keeps
    the disable, but its answer still says enabled, no reason."""
    made = client.post(BASE, json={"url": "http://127.0.0.1:9000/a"},
                       headers=auth).get_json()
    get = callbacks.get

    def read_then_gone(account, callback_id):
        callback = get(account, callback_id)
        callbacks.disable(callback_id, "410 Gone")
        return callback

    monkeypatch.setattr(callbacks, "get", read_then_gone)
    answer = client.put(f"{BASE}/{made['id']}",
                        json={"url": "http://127.0.0.1:9000/b"}, headers=auth)
    monkeypatch.undo()

    assert stored(made["id"])["enabled"] is False  # the disable is kept
    assert answer.get_json() == stored(made["id"])


def test_an_edit_racing_a_delete_answers_404_not_the_deleted_callback(
        client, auth, monkeypatch):
    made = client.post(BASE, json={"url": "http://127.0.0.1:9000/a"},
                       headers=auth).get_json()
    get = callbacks.get

    def read_then_deleted(account, callback_id):
        callback = get(account, callback_id)
        with db.connection():
            Callback.delete().where(Callback.id == callback_id).execute()
        return callback

    monkeypatch.setattr(callbacks, "get", read_then_deleted)
    answer = client.put(f"{BASE}/{made['id']}",
                        json={"url": "http://127.0.0.1:9000/b"}, headers=auth)
    monkeypatch.undo()

    assert answer.status_code == 404


# Migration 4's triggers: cascades, bulk writes, the stamp's range.

def test_triggers_survive_an_account_deletion_and_bulk_writes(database):
    with db.connection():
        kept = accounts.create_account("kept").account
        gone = accounts.create_account("gone").account
        for account in (kept, gone):
            make_callback(account)
        def stamp() -> int:
            return db.database.execute_sql(
                f"SELECT callbacks_stamp FROM accounts WHERE id = {kept.id}"
            ).fetchone()[0]

        before = stamp()
        with db.database.atomic():
            Callback.insert_many([dict(account=kept.id, url="http://127.0.0.1:9/b",
                                       secret="s")] * 3000).execute()
        drawn = {before, stamp()}
        for _ in range(300):  # bounded: 300 hand-written updates, each a draw
            Callback.update(url="http://127.0.0.1:9/c").where(
                Callback.account == kept.id).execute()
            drawn.add(stamp())
        assert len(drawn) == 302
        assert all(value is not None and 0 <= value < 2**62 for value in drawn)

        accounts_model = type(kept)
        accounts_model.delete().where(accounts_model.id == gone.id).execute()
        assert Callback.select().where(Callback.account == gone.id).count() == 0
        assert Callback.select().where(Callback.account == kept.id).count() == 3001
