"""The Flask decorator: 401 JSON for a bad request, the change for a good one."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from modelhooks_sdk import ModelStatusChange, sign_webhook, webhook_handler

SECRET = "whsec_bW9kZWxob29rcyBzZGsgZ29sZGVuIHRlc3Qga2V5ISE="
BODY = (
    b'{"name":"home_rentals","version":2,"active":true,"predictor_id":9,'
    b'"project_name":"mindsdb","predictor_created_at":null,'
    b'"old_status":"training","new_status":"complete",'
    b'"changed_at":"Fri, 09 Sep 2023 11:59:00 GMT"}'
)


@pytest.fixture
def received() -> list[ModelStatusChange]:
    return []


@pytest.fixture
def flask_client(received):
    app = Flask("receiver")

    @app.post("/hooks/<source>")
    @webhook_handler(SECRET)
    def on_change(change: ModelStatusChange, source: str):
        received.append(change)
        return {"took": change.webhook_id, "source": source}, 200

    return app.test_client()


def test_a_signed_request_reaches_the_view_with_the_verified_change(
    flask_client, received
):
    headers = sign_webhook(BODY, SECRET, webhook_id="msg_flask1")

    answer = flask_client.post(
        "/hooks/ml", data=BODY, headers=headers, content_type="application/json"
    )

    assert answer.status_code == 200
    assert answer.get_json() == {"took": "msg_flask1", "source": "ml"}
    assert [(c.name, c.version, c.predictor_created_at) for c in received] == [
        ("home_rentals", 2, None)
    ]


def test_a_request_under_another_secret_gets_401_json_and_skips_the_view(
    flask_client,
    received,
):
    headers = sign_webhook(BODY, "whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhIQ==")

    answer = flask_client.post(
        "/hooks/ml", data=BODY, headers=headers, content_type="application/json"
    )

    assert answer.status_code == 401
    assert answer.get_json() == {
        "error": {
            "code": "invalid_signature",
            "message": "no matching webhook signature",
        }
    }
    assert received == []


def test_a_request_without_webhook_headers_gets_401(flask_client):
    answer = flask_client.post("/hooks/ml", json={"name": "x"})

    assert answer.status_code == 401
    assert (
        answer.get_json()["error"]["message"] == "missing or malformed webhook headers"
    )


def test_a_stale_request_gets_401(flask_client):
    headers = sign_webhook(BODY, SECRET, timestamp=int(time.time()) - 301)

    answer = flask_client.post("/hooks/ml", data=BODY, headers=headers)

    assert answer.status_code == 401
    assert answer.get_json()["error"]["message"] == (
        "webhook timestamp is outside the tolerance"
    )


def test_a_bad_secret_is_reported_when_decorating_not_per_request():
    with pytest.raises(ValueError, match="'whsec_' followed by base64"):
        webhook_handler("whsec_???")
