"""Names outside Latin-1 and times in other zones survive the whole trip.

Both stacks run their processes under ``TZ=America/Chicago`` (see conftest),
and so does this process while the in-process API of the Celery stack serves.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.e2e.stack import wait_until
from tests.hostile.conftest import sending_process_pid

pytestmark = pytest.mark.e2e

MODEL = "модель-β"
PROJECT = "日本語 ✓"
# modelhooks dev has one account for all tests: each reports a version of its
# own, so that no report repeats an earlier status. (Callback ids will not do:
# SQLite hands a deleted callback's id to the next one.)
_versions = itertools.count(1)


def _one_request(receiver, path):
    [request] = wait_until(lambda: receiver.at(path), what=f"a request at {path}")
    return request


def test_the_processes_really_run_in_chicago_time(any_service):
    pid = sending_process_pid(any_service)

    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")

    assert b"TZ=America/Chicago" in environ


def test_names_outside_latin_1_are_delivered_as_compact_utf8_json(
    any_service, receiver
):
    any_service.add_callback(
        receiver.script("/unicode", 200),
        filter={"model_name": MODEL, "project_name": PROJECT},
    )

    any_service.report(MODEL, "complete", project=PROJECT, version=next(_versions))

    request = _one_request(receiver, "/unicode")
    body = json.loads(request.body.decode("utf-8"))
    assert (body["name"], body["project_name"]) == (MODEL, PROJECT)
    assert request.body == json.dumps(
        body, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert MODEL.encode("utf-8") in request.body
    assert PROJECT.encode("utf-8") in request.body


def test_the_signature_verifies_over_the_exact_utf8_bytes_sent(any_service, receiver):
    callback = any_service.add_callback(receiver.script("/signed", 200))

    any_service.report(MODEL, "complete", project=PROJECT, version=next(_versions))

    request = _one_request(receiver, "/signed")
    verified = Webhook(callback["secret"]).verify(request.body, request.headers)
    assert (verified["name"], verified["project_name"]) == (MODEL, PROJECT)
    with pytest.raises(Exception, match="No matching signature found"):
        reencoded = json.dumps(verified, separators=(",", ":")).encode("ascii")
        Webhook(callback["secret"]).verify(reencoded, request.headers)


def test_a_time_with_an_offset_arrives_in_gmt_whatever_the_local_zone(
    any_service, receiver
):
    callback = any_service.add_callback(receiver.script("/times", 200))

    any_service.report(
        "timed",
        "complete",
        version=next(_versions),
        changed_at="2026-12-04T10:00:00+02:00",
        predictor_created_at="2026-12-04T09:00:00",
    )

    body = json.loads(_one_request(receiver, "/times").body)
    [delivery] = any_service.deliveries(callback["id"])
    assert body["changed_at"] == "Fri, 04 Dec 2026 08:00:00 GMT"
    assert body["predictor_created_at"] == "Fri, 04 Dec 2026 09:00:00 GMT"
    assert delivery["changed_at"] == "2026-12-04T08:00:00.000Z"
