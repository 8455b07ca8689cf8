"""Inputs at the edge of what the storage can hold answer 4xx, never 500."""

from __future__ import annotations

import pytest

BASE = "/cloud/callback/model_status"
HUGE = "9" * 23


def test_an_id_larger_than_64_bits_is_404(client, auth):
    answer = client.get(f"{BASE}/{HUGE}", headers=auth)

    assert answer.status_code == 404
    assert answer.get_json()["error"]["message"] == f"no callback with id {HUGE}"


def test_an_offset_beyond_the_bound_is_400_naming_offset(client, auth):
    created = client.post(BASE, json={"url": "http://127.0.0.1:9/h"}, headers=auth)

    answer = client.get(f"{BASE}/{created.get_json()['id']}/deliveries?offset={HUGE}",
                        headers=auth)

    assert answer.status_code == 400
    assert list(answer.get_json()["error"]["fields"]) == ["offset"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://127.0.0.1:9/h", "filter": {"model_name": "a\x00"}},
         "filter.model_name"),
        ({"url": "http://127.0.0.1:9/\x00"}, "url"),
    ],
    ids=["pattern", "url"],
)
def test_a_nul_character_in_a_callback_is_400(client, auth, body, field):
    answer = client.post(BASE, json=body, headers=auth)

    assert answer.status_code == 400
    assert answer.get_json()["error"]["fields"][field] == [
        "Must not contain a NUL character (\\u0000)."]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"name": "m\x00"}, "name"),
        ({"changed_at": "9999-12-31T23:00:00-05:00"}, "changed_at"),
        ({"predictor_created_at": "9999-12-31T23:00:00-05:00"},
         "predictor_created_at"),
    ],
    ids=["nul-name", "changed-at-overflow", "created-at-overflow"],
)
def test_a_status_report_beyond_what_can_be_stored_is_400(client, auth, extra, field):
    body = {"project_name": "p", "name": "m", "version": 1, "status": "complete",
            **extra}

    answer = client.post("/cloud/model_status", json=body, headers=auth)

    assert answer.status_code == 400
    assert list(answer.get_json()["error"]["fields"]) == [field]


def test_a_request_without_a_key_is_401_whatever_its_body(client, database):
    answer = client.post(BASE, data="not json", headers={"Content-Type": "text/plain"})

    assert answer.status_code == 401


def test_an_unknown_path_is_404_whatever_its_body(client, database):
    answer = client.post("/nowhere", data="x", headers={"Content-Type": "text/plain"})

    assert answer.status_code == 404
