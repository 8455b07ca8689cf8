"""Status changes become signed POSTs that follow the attempt policy.

Every test here runs twice: against Celery workers on Redis and PostgreSQL,
and against ``modelhooks dev``. Each builds its own receiver and callbacks.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.e2e.stack import wait_until

pytestmark = pytest.mark.e2e

KEYS = ["name", "version", "active", "predictor_id", "project_name",
        "predictor_created_at", "old_status", "new_status", "changed_at"]
HTTP_DATE = r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def delivered(receiver, path, count=1, timeout=20.0):
    wait_until(lambda: len(receiver.at(path)) >= count, timeout,
               what=f"{count} requests at {path}")
    return receiver.at(path)


def settled(service, callback_id, timeout=20.0):
    """The callback's deliveries once none is pending or being sent."""
    def done():
        found = service.deliveries(callback_id)
        return found if found and all(
            d["state"] not in ("pending", "sending") for d in found) else None
    return wait_until(done, timeout, what=f"deliveries of callback {callback_id}")


def test_a_completed_model_is_posted_with_the_exact_body_and_headers(
    service, receiver
):
    model = unique("home_rentals")
    service.add_callback(receiver.script("/exact", 200))
    service.report(model, "training", predictor_created_at="2026-12-04T09:00:00Z")

    change = service.report(model, "complete", changed_at="2026-12-04T10:00:00+02:00")

    request = delivered(receiver, "/exact")[0]
    body = json.loads(request.body)
    assert list(body) == KEYS
    assert body == {
        "name": model, "version": 1, "active": True,
        "predictor_id": body["predictor_id"], "project_name": "mindsdb",
        "predictor_created_at": "Fri, 04 Dec 2026 09:00:00 GMT",
        "old_status": "training", "new_status": "complete",
        "changed_at": "Fri, 04 Dec 2026 08:00:00 GMT",
    }
    assert isinstance(body["predictor_id"], int)
    assert request.body == json.dumps(body, separators=(",", ":")).encode()
    assert request.headers["Content-Type"] == "application/json"
    assert re.fullmatch(r"modelhooks/\d+\.\d+\.\d+", request.headers["User-Agent"])
    assert request.headers["webhook-id"].startswith("msg_")
    assert change["triggered"] is True and change["old_status"] == "training"


def test_the_signature_verifies_with_the_standardwebhooks_package(service, receiver):
    callback = service.add_callback(receiver.script("/signed", 200))

    service.report(unique("m"), "complete")

    request = delivered(receiver, "/signed")[0]
    verified = Webhook(callback["secret"]).verify(request.body, request.headers)
    assert verified["new_status"] == "complete"
    with pytest.raises(WebhookVerificationError):
        Webhook(callback["secret"]).verify(request.body + b" ", request.headers)


def test_a_version_never_seen_has_old_status_null(service, receiver):
    service.add_callback(receiver.script("/new", 200))

    answer = service.report(unique("m"), "error")

    body = json.loads(delivered(receiver, "/new")[0].body)
    assert answer["old_status"] is None
    assert body["old_status"] is None and body["new_status"] == "error"


@pytest.mark.parametrize(
    ("model_filter", "project_filter", "expected"),
    [
        (".*", ".*", ["home_rentals", "home", "other"]),
        ("home", ".*", ["home"]),
        ("home.*", ".*", ["home_rentals", "home"]),
        (".*", "sales{}", ["other"]),
    ],
    ids=["match-all", "full-match-only", "prefix-pattern", "project-filter"],
)
def test_filters_match_the_whole_model_and_project_names(
    service, receiver, model_filter, project_filter, expected
):
    suffix = uuid.uuid4().hex[:6]
    service.add_callback(receiver.script(f"/f{suffix}", 200),
                         filter={"model_name": model_filter,
                                 "project_name": project_filter.format(suffix)})
    canary = service.add_callback(receiver.script(f"/c{suffix}", 200))

    service.report("home_rentals", "complete", project=f"mindsdb{suffix}")
    service.report("home", "complete", project=f"mindsdb{suffix}")
    service.report("other", "complete", project=f"sales{suffix}")

    delivered(receiver, f"/c{suffix}", 3)
    settled(service, canary["id"])
    names = sorted(json.loads(r.body)["name"] for r in receiver.at(f"/f{suffix}"))
    assert names == sorted(expected)


def test_repeated_and_non_terminal_statuses_send_nothing(service, receiver):
    model = unique("m")
    canary_model = unique("canary")
    service.add_callback(receiver.script("/quiet", 200))

    answers = [service.report(model, s)
               for s in ("generating", "training", "training")]
    service.report(model, "complete")
    repeat = service.report(model, "complete")
    service.report(canary_model, "complete")

    delivered(receiver, "/quiet", 2)
    names = [json.loads(r.body)["name"] for r in receiver.at("/quiet")]
    assert sorted(names) == sorted([model, canary_model])
    assert [a["triggered"] for a in answers] == [False, False, False]
    assert answers[2]["event_id"] is None
    assert repeat == {"event_id": None, "old_status": "complete",
                      "new_status": "complete", "triggered": False}


def test_a_receiver_that_always_fails_gets_exactly_count_attempts_an_interval_apart(
    service, receiver
):
    callback = service.add_callback(receiver.script("/down", 500),
                                    attempt={"count": 3, "interval": 1})

    service.report(unique("m"), "complete")

    requests = delivered(receiver, "/down", 3)
    [delivery] = settled(service, callback["id"])
    assert delivery["state"] == "failed"
    assert [a["number"] for a in delivery["attempts"]] == [1, 2, 3]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500]
    gaps = [b.at - a.at for a, b in zip(requests, requests[1:], strict=False)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    assert len({r.headers["webhook-signature"] for r in requests}) == 3
    assert len(receiver.at("/down")) == 3


def test_success_after_failures_stops_the_attempts(service, receiver):
    callback = service.add_callback(receiver.script("/flaky", 503, 500, 204),
                                    attempt={"count": 5, "interval": 0.2})

    service.report(unique("m"), "complete")

    [delivery] = settled(service, callback["id"])
    assert delivery["state"] == "succeeded"
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 500, 204]
    assert len(receiver.at("/flaky")) == 3


def test_a_slow_receiver_is_cut_at_http_timeout(service, receiver):
    callback = service.add_callback(receiver.script("/slow", 200, delay=3),
                                    attempt={"count": 1, "http_timeout": 0.5})

    service.report(unique("m"), "complete")

    [delivery] = settled(service, callback["id"])
    [attempt] = delivery["attempts"]
    assert delivery["state"] == "failed"
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("Timeout")
    assert 400 <= attempt["duration_ms"] < 1500


def test_a_redirect_is_a_failure_and_is_not_followed(service, receiver):
    target = receiver.script("/target", 200)
    callback = service.add_callback(
        receiver.script("/moved", 302, headers={"Location": target}),
        attempt={"count": 1})

    service.report(unique("m"), "complete")

    [delivery] = settled(service, callback["id"])
    assert delivery["state"] == "failed"
    assert delivery["attempts"][0]["status_code"] == 302
    assert receiver.at("/target") == []


def test_an_edit_applies_to_later_events(service, receiver):
    callback = service.add_callback(receiver.script("/before", 200))
    after = receiver.script("/after", 200)
    service.report(unique("m"), "complete")
    delivered(receiver, "/before")

    service.call("PUT", f"/cloud/callback/model_status/{callback['id']}",
                 {"url": after, "filter": {"model_name": "kept_.*"}})
    service.report(unique("dropped"), "complete")
    kept = unique("kept")
    service.report(kept, "complete")

    [request] = delivered(receiver, "/after")
    assert json.loads(request.body)["name"] == kept
    assert len(receiver.at("/before")) == 1


def test_a_deleted_callback_gets_nothing_more(service, receiver):
    doomed = service.add_callback(receiver.script("/doomed", 200))
    service.add_callback(receiver.script("/canary", 200))

    service.call("DELETE", f"/cloud/callback/model_status/{doomed['id']}")
    service.report(unique("m"), "complete")

    delivered(receiver, "/canary")
    assert receiver.at("/doomed") == []


def test_the_deliveries_log_shows_every_attempt(service, receiver):
    callback = service.add_callback(receiver.script("/logged", 500, 200),
                                    attempt={"count": 2, "interval": 0.2})

    event = service.report(unique("m"), "complete")

    [delivery] = settled(service, callback["id"])
    requests = receiver.at("/logged")
    assert delivery["id"] == requests[0].headers["webhook-id"]
    assert delivery["event_id"] == event["event_id"]
    assert delivery["state"] == "succeeded" and delivery["attempts_made"] == 2
    first, second = delivery["attempts"]
    assert (first["number"], first["status_code"], first["error"]) == (1, 500, None)
    assert (second["number"], second["status_code"]) == (2, 200)
    assert first["response_excerpt"] == "ok" and first["response_truncated"] is False
    assert first["started_at"] < second["started_at"]


def test_410_gone_disables_the_callback_after_one_post(service, receiver):
    callback = service.add_callback(receiver.script("/gone", 410),
                                    attempt={"count": 5, "interval": 0.2})

    service.report(unique("m"), "complete")
    [delivery] = settled(service, callback["id"])
    service.report(unique("m"), "complete")
    canary = service.add_callback(receiver.script("/alive", 200))
    service.report(unique("m"), "complete")
    delivered(receiver, "/alive")

    shown = service.call("GET", f"/cloud/callback/model_status/{callback['id']}").json()
    assert len(receiver.at("/gone")) == 1
    assert delivery["state"] == "failed"
    assert shown["enabled"] is False
    assert shown["disabled_reason"] == "the receiver answered 410 Gone"
    assert canary["enabled"] is True
