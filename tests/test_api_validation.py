"""Every input bound of the callbacks API is a 400 naming the field."""

from __future__ import annotations

import pytest

BASE = "/cloud/callback/model_status"
URL = "http://127.0.0.1:9000/hook"


def post(client, auth, body):
    return client.post(BASE, json=body, headers=auth)


def bad_field(answer) -> dict:
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_input"
    return error["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": ""}, "url"),
        ({"url": 42}, "url"),
        ({"url": "http://h.example/" + "a" * 2040}, "url"),
        ({"url": "ftp://127.0.0.1/h"}, "url"),
        ({"url": "http:///nohost"}, "url"),
        ({"url": URL, "filter": {"model_name": "("}}, "filter.model_name"),
        ({"url": URL, "filter": {"project_name": "[z-a]"}}, "filter.project_name"),
        ({"url": URL, "filter": {"model_name": "a" * 257}}, "filter.model_name"),
        ({"url": URL, "filter": {"model_name": 7}}, "filter.model_name"),
        ({"url": URL, "filter": {"model_name": "a\x00b"}}, "filter.model_name"),
        ({"url": URL, "filter": {"project_name": "\ud800"}}, "filter.project_name"),
        ({"url": URL, "filter": "x"}, "filter"),
        ({"url": URL, "attempt": {"count": True}}, "attempt.count"),
        ({"url": URL, "attempt": {"count": 2.9}}, "attempt.count"),
        ({"url": URL, "attempt": {"count": "3"}}, "attempt.count"),
        ({"url": URL, "attempt": {"count": 0}}, "attempt.count"),
        ({"url": URL, "attempt": {"count": 26}}, "attempt.count"),
        ({"url": URL, "attempt": {"interval": -5}}, "attempt.interval"),
        ({"url": URL, "attempt": {"interval": 3601}}, "attempt.interval"),
        ({"url": URL, "attempt": {"interval": "10"}}, "attempt.interval"),
        ({"url": URL, "attempt": {"http_timeout": 0}}, "attempt.http_timeout"),
        ({"url": URL, "attempt": {"http_timeout": 0.05}}, "attempt.http_timeout"),
        ({"url": URL, "attempt": {"http_timeout": 61}}, "attempt.http_timeout"),
        ({"url": URL, "attempt": {"http_timeout": False}}, "attempt.http_timeout"),
        ({"url": URL, "attempt": {"intervall": 3}}, "attempt.intervall"),
        ({"url": URL, "filter": {"model": "x"}}, "filter.model"),
        ({"url": URL, "colour": "red"}, "colour"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_create_rejects_the_bad_field_by_name(client, auth, body, field):
    fields = bad_field(post(client, auth, body))

    assert list(fields) == [field]
    assert fields[field] and all(isinstance(m, str) for m in fields[field])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "gopher://127.0.0.1/"}, "url"),
        ({"attempt": {"count": 26}}, "attempt.count"),
        ({"attempt": {"intervall": 1}}, "attempt.intervall"),
        ({"filter": {"model_name": "("}}, "filter.model_name"),
        ({"enabled": "yes"}, "enabled"),
        ({"secret": "whsec_x"}, "secret"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_edit_rejects_the_bad_field_and_changes_nothing(client, auth, changes, field):
    created = post(client, auth, {"url": URL}).get_json()
    before = client.get(f"{BASE}/{created['id']}", headers=auth).get_json()

    fields = bad_field(client.put(f"{BASE}/{created['id']}", json=changes,
                                  headers=auth))

    assert list(fields) == [field]
    assert client.get(f"{BASE}/{created['id']}", headers=auth).get_json() == before


def test_the_bounds_themselves_are_accepted(client, auth):
    longest = "https://h.example/" + "a" * (2048 - len("https://h.example/"))
    high = {"url": longest, "filter": {"model_name": "a" * 256},
            "attempt": {"count": 25, "interval": 3600, "http_timeout": 60}}
    low = {"url": URL, "attempt": {"count": 1, "interval": 0, "http_timeout": 0.1}}

    assert post(client, auth, high).status_code == 200
    assert post(client, auth, low).status_code == 200


def test_a_body_that_is_not_json_is_415(client, auth):
    answer = client.post(BASE, data="url=x", headers={**auth,
                         "Content-Type": "application/x-www-form-urlencoded"})

    assert answer.status_code == 415
    assert answer.get_json()["error"]["code"] == "unsupported_media_type"


def test_malformed_json_is_400_naming_the_body(client, auth):
    answer = client.post(BASE, data="{not json", headers={**auth,
                         "Content-Type": "application/json"})

    assert answer.status_code == 400
    assert answer.get_json()["error"]["fields"] == {"body": ["Not valid JSON."]}


def test_a_json_array_is_400(client, auth):
    answer = client.post(BASE, json=[{"url": URL}], headers=auth)

    assert answer.status_code == 400
    assert answer.get_json()["error"]["fields"] == {"body": ["Must be a JSON object."]}


def test_a_body_over_64_kib_is_413(client, auth):
    padding = "x" * (64 * 1024)

    answer = client.post(BASE, json={"url": URL, "pad": padding}, headers=auth)

    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("attempt", "field"),
    [
        ('{"interval": NaN}', "attempt.interval"),
        ('{"interval": Infinity}', "attempt.interval"),
        ('{"http_timeout": -Infinity}', "attempt.http_timeout"),
        ('{"interval": 1e400}', "attempt.interval"),
        ('{"count": 1e400}', "attempt.count"),
        ('{"interval": true}', "attempt.interval"),
        ('{"count": 3.0}', "attempt.count"),
    ],
    ids=lambda v: v if v.startswith("{") else None,
)
def test_numbers_json_does_not_allow_are_refused_by_name(client, auth, attempt, field):
    # Python's JSON parser accepts NaN and Infinity, and reads 1e400 as infinity.
    body = f'{{"url": "{URL}", "attempt": {attempt}}}'

    answer = client.post(BASE, data=body,
                         headers={**auth, "Content-Type": "application/json"})

    assert list(bad_field(answer)) == [field]
