"""``POST /cloud/model_status``: what a producer's report records and publishes."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta

import pytest

from app.models import Event, ModelVersion, utcnow
from app.payload import http_date

PATH = "/cloud/model_status"
TRAINING = {
    "project_name": "mindsdb",
    "name": "home_rentals",
    "version": 1,
    "status": "training",
}


def report(**changes: object) -> dict[str, object]:
    """A valid report of ``home_rentals`` v1, with ``changes`` applied."""
    return {**TRAINING, **changes}


def post(client, auth, body):
    return client.post(PATH, json=body, headers=auth)


def event_of(answer) -> Event:
    return Event.get_by_id(answer.get_json()["event_id"])


class RefusingBroker:
    """A broker that is down: every publish is refused, as ``Broker`` reports it."""

    def __init__(self) -> None:
        self.fan_outs: list[str] = []

    def publish_fan_out(self, event_id: str) -> bool:
        self.fan_outs.append(event_id)
        return False

    def ping(self) -> None:
        return None


@pytest.fixture
def chicago(monkeypatch):
    """Run the test with the process's local zone set to America/Chicago."""
    monkeypatch.setenv("TZ", "America/Chicago")
    time.tzset()
    assert datetime(2026, 12, 4).astimezone().utcoffset() == -timedelta(hours=6)

    yield

    monkeypatch.undo()
    time.tzset()


# The answer


def test_the_first_report_of_a_version_is_202_with_a_null_old_status(client, auth):
    answer = post(client, auth, report())

    assert answer.status_code == 202
    body = answer.get_json()
    assert set(body) == {"event_id", "old_status", "new_status", "triggered"}
    assert re.fullmatch(r"evt_[0-9a-f]{32}", body["event_id"])
    assert body["old_status"] is None
    assert body["new_status"] == "training"
    assert body["triggered"] is False


def test_old_status_is_the_last_status_known_for_the_version(client, auth):
    post(client, auth, report(status="generating"))

    answer = post(client, auth, report(status="training"))

    assert answer.get_json()["old_status"] == "generating"
    assert answer.get_json()["new_status"] == "training"


def test_old_status_given_in_the_body_wins_over_the_last_known_one(client, auth):
    post(client, auth, report(status="generating"))

    answer = post(client, auth, report(status="complete", old_status="training"))

    assert answer.get_json()["old_status"] == "training"
    assert event_of(answer).old_status == "training"


def test_a_repeated_status_records_no_event_and_publishes_nothing(client, auth, broker):
    first = post(client, auth, report(status="complete"))

    again = post(client, auth, report(status="complete"))

    assert again.status_code == 202
    assert again.get_json() == {
        "event_id": None,
        "old_status": "complete",
        "new_status": "complete",
        "triggered": False,
    }
    assert Event.select().count() == 1
    assert broker.fan_outs == [first.get_json()["event_id"]]


def test_a_non_terminal_change_records_an_event_but_publishes_nothing(
    client, auth, broker
):
    post(client, auth, report(status="generating"))

    answer = post(client, auth, report(status="training"))

    event = event_of(answer)
    assert answer.get_json()["triggered"] is False
    assert (event.old_status, event.new_status) == ("generating", "training")
    assert event.triggered is False
    assert broker.fan_outs == []


@pytest.mark.parametrize("status", ["complete", "error"], ids=["complete", "error"])
def test_a_terminal_status_publishes_exactly_one_fan_out_of_its_event(
    client, auth, broker, status
):
    post(client, auth, report(status="training"))

    answer = post(client, auth, report(status=status))

    body = answer.get_json()
    assert answer.status_code == 202
    assert body["triggered"] is True
    assert broker.fan_outs == [body["event_id"]]
    assert event_of(answer).triggered is True


def test_a_failed_publish_still_answers_202_and_leaves_the_event_for_the_sweep(
    settings, database, auth
):
    from app.api import build_app

    refusing = RefusingBroker()
    client = build_app(settings, broker=refusing).test_client()

    answer = post(client, auth, report(status="complete"))

    assert answer.status_code == 202
    assert answer.get_json()["triggered"] is True
    assert refusing.fan_outs == [answer.get_json()["event_id"]]
    assert event_of(answer).fanned_out_at is None


# The stored event body


def test_the_event_body_is_the_exact_compact_document_in_the_designed_order(
    client, auth
):
    post(client, auth, report(predictor_id=123))
    body = report(
        status="complete",
        predictor_id=123,
        active=False,
        predictor_created_at="2023-09-09T11:50:27Z",
        changed_at="Sat, 09 Sep 2023 11:59:00 GMT",
    )

    answer = post(client, auth, body)

    assert event_of(answer).body == (
        '{"name":"home_rentals","version":1,"active":false,"predictor_id":123,'
        '"project_name":"mindsdb",'
        '"predictor_created_at":"Sat, 09 Sep 2023 11:50:27 GMT",'
        '"old_status":"training","new_status":"complete",'
        '"changed_at":"Sat, 09 Sep 2023 11:59:00 GMT"}'
    )


def test_an_omitted_predictor_id_is_assigned_once_and_kept_for_the_version(
    client, auth
):
    first = post(client, auth, report(status="generating"))
    second = post(client, auth, report(status="training"))
    third = post(client, auth, report(status="complete"))

    ids = [json.loads(event_of(a).body)["predictor_id"] for a in (first, second, third)]
    assert isinstance(ids[0], int)
    assert ids == [ids[0]] * 3
    assert ModelVersion.get().predictor_id == ids[0]


def test_a_different_version_of_the_same_model_gets_its_own_predictor_id(client, auth):
    one = post(client, auth, report(version=1))
    two = post(client, auth, report(version=2))

    first = json.loads(event_of(one).body)["predictor_id"]
    second = json.loads(event_of(two).body)["predictor_id"]
    assert first != second


def test_a_predictor_id_given_by_the_producer_is_kept(client, auth):
    post(client, auth, report(status="generating", predictor_id=987654321))

    answer = post(client, auth, report(status="complete"))

    assert json.loads(event_of(answer).body)["predictor_id"] == 987654321


@pytest.mark.parametrize(
    "changed_at",
    [
        "2026-12-04T10:00:00+02:00",
        "2026-12-04T08:00:00",
        "2026-12-04T08:00:00Z",
        "Fri, 04 Dec 2026 08:00:00 GMT",
    ],
    ids=["iso-plus-two", "iso-naive-is-utc", "iso-z", "http-date"],
)
def test_changed_at_is_stored_and_sent_in_gmt_whatever_the_local_zone(
    client, auth, chicago, changed_at
):
    answer = post(client, auth, report(status="complete", changed_at=changed_at))

    event = event_of(answer)
    assert event.changed_at == datetime(2026, 12, 4, 8, 0, 0)
    assert json.loads(event.body)["changed_at"] == "Fri, 04 Dec 2026 08:00:00 GMT"


def test_changed_at_defaults_to_the_time_the_report_was_received(client, auth):
    before = utcnow()

    answer = post(client, auth, report(status="complete"))

    event = event_of(answer)
    assert before <= event.changed_at <= utcnow()
    assert json.loads(event.body)["changed_at"] == http_date(event.changed_at)


# Input bounds


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in TRAINING.items() if k != "project_name"}, "project_name"),
        ({k: v for k, v in TRAINING.items() if k != "name"}, "name"),
        ({k: v for k, v in TRAINING.items() if k != "version"}, "version"),
        ({k: v for k, v in TRAINING.items() if k != "status"}, "status"),
        (report(project_name="p" * 257), "project_name"),
        (report(name="n" * 257), "name"),
        (report(name=""), "name"),
        (report(version="1"), "version"),
        (report(version=True), "version"),
        (report(version=-1), "version"),
        (report(version=1.5), "version"),
        (report(status=""), "status"),
        (report(status=3), "status"),
        (report(colour="red"), "colour"),
        (report(changed_at="yesterday"), "changed_at"),
        (report(predictor_created_at="2026-13-01"), "predictor_created_at"),
        (report(predictor_id=1.5), "predictor_id"),
        (report(predictor_id="7"), "predictor_id"),
        (report(active="yes"), "active"),
    ],
    ids=[
        "project_name-missing",
        "name-missing",
        "version-missing",
        "status-missing",
        "project_name-257-chars",
        "name-257-chars",
        "name-empty",
        "version-string",
        "version-boolean",
        "version-negative",
        "version-fraction",
        "status-empty",
        "status-number",
        "unknown-field",
        "changed_at-not-a-time",
        "predictor_created_at-not-a-date",
        "predictor_id-fraction",
        "predictor_id-string",
        "active-string",
    ],
)
def test_a_bad_report_is_400_naming_the_field_and_records_nothing(
    client, auth, broker, body, field
):
    answer = post(client, auth, body)

    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"] == f"invalid input: {field}"
    assert list(error["fields"]) == [field]
    assert Event.select().count() == 0
    assert broker.fan_outs == []


def test_names_of_exactly_256_characters_are_accepted(client, auth):
    answer = post(client, auth, report(project_name="p" * 256, name="n" * 256))

    assert answer.status_code == 202


def test_a_bad_time_names_the_accepted_forms_and_echoes_the_value(client, auth):
    answer = post(client, auth, report(changed_at="yesterday"))

    assert answer.get_json()["error"]["fields"] == {
        "changed_at": [
            "a time must be ISO 8601 or an HTTP date, such as "
            "'2026-12-04T10:00:00Z' or 'Fri, 04 Dec 2026 10:00:00 GMT'; "
            "got 'yesterday'"
        ]
    }


def test_a_body_over_64_kib_is_413_and_records_nothing(client, auth):
    answer = post(client, auth, report(name="n" * 70_000))

    assert answer.status_code == 413
    assert answer.get_json()["error"] == {
        "code": "payload_too_large",
        "message": "the request body is larger than 65536 bytes",
        "fields": {},
    }
    assert Event.select().count() == 0


def test_a_report_without_a_key_is_401(client, database):
    answer = client.post(PATH, json=report())

    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "unauthorized"


# Accounts


def test_two_accounts_versions_with_the_same_names_are_independent(
    client, auth, other_account_key
):
    other = {"Authorization": f"Bearer {other_account_key}"}
    post(client, auth, report(status="generating", predictor_id=1))

    theirs = post(client, other, report(status="complete"))
    mine = post(client, auth, report(status="training"))

    assert theirs.get_json()["old_status"] is None
    assert mine.get_json()["old_status"] == "generating"
    assert json.loads(event_of(theirs).body)["predictor_id"] != 1
    assert event_of(theirs).account_id != event_of(mine).account_id
    assert ModelVersion.select().count() == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("project_name", "\x00", "Must not contain a NUL character (\\u0000)."),
        ("name", "a\x00b", "Must not contain a NUL character (\\u0000)."),
        ("status", "\udbc3", "Must be valid Unicode; got a lone surrogate."),
    ],
    ids=["nul-project", "nul-name", "surrogate-status"],
)
def test_a_string_no_database_can_store_is_400_naming_the_field(
    client, auth, field, value, message
):
    answer = post(client, auth, report(**{field: value}))

    assert answer.status_code == 400
    assert answer.get_json()["error"]["fields"] == {field: [message]}


# Concurrent reports


def test_concurrent_reports_of_one_version_take_turns(database, account_key):
    import threading

    from app import db, events
    from app.models import Account

    account = Account.get(Account.name == "acme")
    database.close()
    rounds, answers = 10, []
    start = threading.Barrier(2)

    def report_status(name: str, status: str) -> None:
        start.wait(5)
        with db.connection():
            change = events.record(account, report(name=name, status=status),
                                   frozenset({"complete"}))
        answers.append((name, status, change.old_status))

    threads = [threading.Thread(target=report_status, args=(f"m{n}", status))
               for n in range(rounds) for status in ("training", "complete")]
    for pair in range(0, len(threads), 2):
        for thread in threads[pair:pair + 2]:
            thread.start()
        for thread in threads[pair:pair + 2]:
            thread.join(10)

    for n in range(rounds):
        seen = {status: old for name, status, old in answers if name == f"m{n}"}
        # Whichever came second saw the first one's status as the old one.
        assert seen in ({"training": None, "complete": "training"},
                        {"complete": None, "training": "complete"})
    assert ModelVersion.select().count() == rounds
    assert Event.select().count() == 2 * rounds
