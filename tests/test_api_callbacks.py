"""The callbacks API: MindsDB-compatible paths, bodies and answers."""

from __future__ import annotations

import re

import pytest

BASE = "/cloud/callback/model_status"
URL = "http://127.0.0.1:9000/hook"


@pytest.fixture
def created(client, auth):
    answer = client.post(BASE, json={"url": URL}, headers=auth)
    assert answer.status_code == 200
    return answer.get_json()


def test_create_with_only_a_url_fills_in_the_defaults(client, auth):
    answer = client.post(BASE, json={"url": URL}, headers=auth)

    assert answer.status_code == 200
    body = answer.get_json()
    assert set(body) == {"id", "url", "filter", "attempt", "enabled",
                         "disabled_reason", "created_at", "updated_at", "secret"}
    assert isinstance(body["id"], int)
    assert body["url"] == URL
    assert body["filter"] == {"model_name": ".*", "project_name": ".*"}
    assert body["attempt"] == {"count": 5, "interval": 10, "http_timeout": 10}
    assert body["enabled"] is True
    assert body["disabled_reason"] is None
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT",
                        body["created_at"])


def test_create_shows_a_whsec_secret_that_no_later_answer_shows(client, auth, created):
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]{32}", created["secret"])

    one = client.get(f"{BASE}/{created['id']}", headers=auth).get_json()
    listed = client.get(BASE, headers=auth).get_json()

    assert "secret" not in one
    assert all("secret" not in c for c in listed)


def test_create_keeps_the_given_filter_and_attempt_policy(client, auth):
    body = {"url": URL, "filter": {"model_name": "home_.*", "project_name": "mindsdb"},
            "attempt": {"count": 3, "interval": 0.5, "http_timeout": 2.5}}

    answer = client.post(BASE, json=body, headers=auth).get_json()

    assert answer["filter"] == body["filter"]
    assert answer["attempt"] == body["attempt"]


def test_a_partial_filter_gets_the_default_for_the_missing_pattern(client, auth):
    body = {"url": URL, "filter": {"model_name": "m"}, "attempt": {"count": 2}}

    answer = client.post(BASE, json=body, headers=auth).get_json()

    assert answer["filter"] == {"model_name": "m", "project_name": ".*"}
    assert answer["attempt"] == {"count": 2, "interval": 10, "http_timeout": 10}


def test_list_answers_every_callback_of_the_account_in_creation_order(client, auth):
    ids = [client.post(BASE, json={"url": f"{URL}/{n}"}, headers=auth).get_json()["id"]
           for n in range(3)]

    answer = client.get(BASE, headers=auth)

    assert answer.status_code == 200
    assert [c["id"] for c in answer.get_json()] == ids
    assert [c["url"] for c in answer.get_json()] == [f"{URL}/{n}" for n in range(3)]


def test_list_is_an_empty_array_for_a_new_account(client, auth):
    answer = client.get(BASE, headers=auth)

    assert answer.status_code == 200
    assert answer.get_json() == []


def test_get_one_answers_the_callback(client, auth, created):
    answer = client.get(f"{BASE}/{created['id']}", headers=auth)

    assert answer.status_code == 200
    expected = {k: v for k, v in created.items() if k != "secret"}
    assert answer.get_json() == expected


def test_get_an_unknown_id_is_404_in_the_envelope(client, auth):
    answer = client.get(f"{BASE}/999999", headers=auth)

    assert answer.status_code == 404
    assert answer.get_json() == {"error": {
        "code": "not_found", "message": "no callback with id 999999", "fields": {}}}


def test_put_changes_only_the_given_keys_and_merges_nested_objects(
    client, auth, created
):
    changes = {"filter": {"model_name": "a.*"}, "attempt": {"interval": 3}}

    answer = client.put(f"{BASE}/{created['id']}", json=changes, headers=auth)

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["url"] == URL
    assert body["filter"] == {"model_name": "a.*", "project_name": ".*"}
    assert body["attempt"] == {"count": 5, "interval": 3, "http_timeout": 10}
    assert client.get(f"{BASE}/{created['id']}", headers=auth).get_json() == body


def test_put_a_new_url(client, auth, created):
    answer = client.put(f"{BASE}/{created['id']}", json={"url": URL + "/v2"},
                        headers=auth)

    assert answer.status_code == 200
    assert answer.get_json()["url"] == URL + "/v2"


def test_put_enabled_false_then_true_clears_the_reason(client, auth, created):
    off = client.put(f"{BASE}/{created['id']}", json={"enabled": False}, headers=auth)
    on = client.put(f"{BASE}/{created['id']}", json={"enabled": True}, headers=auth)

    assert off.get_json()["enabled"] is False
    assert on.get_json()["enabled"] is True
    assert on.get_json()["disabled_reason"] is None


def test_put_an_unknown_id_is_404(client, auth):
    answer = client.put(f"{BASE}/424242", json={"url": URL}, headers=auth)

    assert answer.status_code == 404


def test_delete_removes_the_callback(client, auth, created):
    answer = client.delete(f"{BASE}/{created['id']}", headers=auth)

    assert answer.status_code == 200
    assert answer.get_json() == {"id": created["id"], "deleted": True}
    assert client.get(f"{BASE}/{created['id']}", headers=auth).status_code == 404
    assert client.delete(f"{BASE}/{created['id']}", headers=auth).status_code == 404


def test_an_unsupported_method_is_405_in_the_envelope(client, auth, created):
    answer = client.patch(f"{BASE}/{created['id']}", json={}, headers=auth)

    assert answer.status_code == 405
    assert answer.get_json()["error"]["code"] == "method_not_allowed"


def test_an_unknown_path_is_404_in_the_envelope(client, auth):
    answer = client.get("/nowhere", headers=auth)

    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"


def test_the_id_of_a_deleted_callback_is_never_given_again(client, auth):
    first = client.post(BASE, json={"url": URL}, headers=auth).get_json()["id"]
    last = client.post(BASE, json={"url": URL}, headers=auth).get_json()["id"]

    client.delete(f"{BASE}/{last}", headers=auth)
    newest = client.post(BASE, json={"url": URL}, headers=auth).get_json()["id"]

    assert first < last < newest
