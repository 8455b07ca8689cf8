"""API keys: who may call the API, and what one account may see of another."""

from __future__ import annotations

import pytest

from app import accounts

BASE = "/cloud/callback/model_status"
URL = "http://127.0.0.1:9000/hook"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "an API key is required: send 'Authorization: Bearer <key>'"),
        ({"Authorization": "Basic dXNlcjpwdw=="},
         "the Authorization header must be 'Bearer <key>'"),
        ({"Authorization": "Bearer "},
         "the Authorization header must be 'Bearer <key>'"),
        ({"Authorization": "Bearer mh_not-a-key"}, "the API key is unknown or revoked"),
    ],
    ids=["missing", "basic", "empty", "unknown"],
)
def test_a_request_without_a_valid_key_is_401(client, database, headers, message):
    answer = client.get(BASE, headers=headers)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.get_json() == {"error": {
        "code": "unauthorized", "message": message, "fields": {}}}


def test_a_revoked_key_is_401_and_another_key_of_the_account_still_works(
    client, database
):
    first = accounts.create_account("acme")
    second = accounts.create_key(first.account)

    accounts.revoke_key(first.id)

    revoked = client.get(BASE, headers={"Authorization": f"Bearer {first.secret}"})
    live = client.get(BASE, headers={"Authorization": f"Bearer {second.secret}"})
    assert revoked.status_code == 401
    assert revoked.get_json()["error"]["message"] == "the API key is unknown or revoked"
    assert live.status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_another_accounts_callback_is_404_as_if_unknown(
    client, auth, other_account_key, method
):
    theirs = client.post(BASE, json={"url": URL},
                         headers={"Authorization": f"Bearer {other_account_key}"})
    callback_id = theirs.get_json()["id"]

    body = {"json": {"url": URL}} if method == "put" else {}
    answer = getattr(client, method)(f"{BASE}/{callback_id}", headers=auth, **body)

    assert answer.status_code == 404
    assert answer.get_json()["error"]["message"] == f"no callback with id {callback_id}"
    owner = {"Authorization": f"Bearer {other_account_key}"}
    assert client.get(f"{BASE}/{callback_id}", headers=owner).get_json()["url"] == URL


def test_lists_show_only_the_accounts_own_callbacks(client, auth, other_account_key):
    other = {"Authorization": f"Bearer {other_account_key}"}
    client.post(BASE, json={"url": URL + "/mine"}, headers=auth)
    client.post(BASE, json={"url": URL + "/theirs"}, headers=other)

    mine = client.get(BASE, headers=auth).get_json()
    theirs = client.get(BASE, headers=other).get_json()

    assert [c["url"] for c in mine] == [URL + "/mine"]
    assert [c["url"] for c in theirs] == [URL + "/theirs"]


def test_keys_are_stored_only_as_hashes(database):
    key = accounts.create_account("acme")

    stored = accounts.ApiKey.get_by_id(key.id)

    assert stored.key_hash == accounts.hash_key(key.secret)
    assert key.secret not in (stored.key_hash, stored.prefix)


def test_health_and_the_openapi_document_need_no_key(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
