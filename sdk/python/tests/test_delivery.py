"""What the service really sends: one delivery from ``modelhooks dev``, verified.

Needs the delivery engine that ``modelhooks dev`` runs (worker and beat in the
same process).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import Captured, serving
from modelhooks_sdk import (
    Client,
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
)
from standardwebhooks.webhooks import Webhook

pytestmark = pytest.mark.delivery

DELIVERY_WAIT_SECONDS = 20
OTHER_SECRET = "whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhIQ=="


@dataclass(frozen=True)
class RealDelivery:
    request: Captured
    secret: str
    callback_id: int
    client: Client


@pytest.fixture(scope="module")
def real_delivery(dev_server) -> Iterator[RealDelivery]:
    """Register a callback to a loopback receiver, report ``complete``, capture it."""
    with (
        serving(lambda captured: (204, {}, b"")) as receiver,
        Client(dev_server.base_url, dev_server.api_key) as client,
    ):
        callback = client.add_callback(
            receiver.url + "/hooks", model_name="delivered", project_name="sdk_delivery"
        )
        client.report_status(
            "sdk_delivery", "delivered", 1, "training", predictor_id=4242, active=False
        )
        client.report_status(
            "sdk_delivery",
            "delivered",
            1,
            "complete",
            active=True,
            changed_at="2026-03-01T12:00:00Z",
        )

        arrived = receiver.wait_for(1, DELIVERY_WAIT_SECONDS)
        if not arrived:
            pytest.fail(
                f"no callback request within {DELIVERY_WAIT_SECONDS} s; "
                f"modelhooks dev log:\n{dev_server.log()[-3000:]}"
            )
        yield RealDelivery(arrived[0], callback.secret or "", callback.id, client)
        client.delete_callback(callback.id)


def test_the_service_posts_compact_json_with_the_three_webhook_headers(real_delivery):
    request = real_delivery.request
    headers = {name.lower(): value for name, value in request.headers.items()}

    assert (request.method, request.path) == ("POST", "/hooks")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("modelhooks/")
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert json.loads(request.body)["predictor_id"] == 4242


def test_verify_webhook_accepts_the_real_request(real_delivery):
    request = real_delivery.request

    change = verify_webhook(request.body, request.headers, real_delivery.secret)

    assert change.webhook_id == request.headers["webhook-id"]
    assert (change.project_name, change.name, change.version) == (
        "sdk_delivery",
        "delivered",
        1,
    )
    assert (change.old_status, change.new_status) == ("training", "complete")
    assert (change.predictor_id, change.active) == (4242, True)
    assert change.changed_at.isoformat() == "2026-03-01T12:00:00+00:00"


def test_the_standardwebhooks_package_accepts_the_real_request_too(real_delivery):
    request = real_delivery.request

    document = Webhook(real_delivery.secret).verify(request.body, request.headers)

    assert document["new_status"] == "complete"


def test_the_real_request_is_rejected_when_its_body_changes(real_delivery):
    request = real_delivery.request
    changed = request.body.replace(b'"complete"', b'"error"')

    with pytest.raises(WebhookVerificationError, match="no matching webhook signature"):
        verify_webhook(changed, request.headers, real_delivery.secret)


def test_the_real_request_is_rejected_when_its_id_header_changes(real_delivery):
    headers = {**real_delivery.request.headers, "webhook-id": "msg_replayed"}

    with pytest.raises(WebhookVerificationError, match="no matching webhook signature"):
        verify_webhook(real_delivery.request.body, headers, real_delivery.secret)


def test_the_real_request_is_rejected_under_a_wrong_secret(real_delivery):
    request = real_delivery.request

    with pytest.raises(WebhookVerificationError, match="no matching webhook signature"):
        verify_webhook(request.body, request.headers, OTHER_SECRET)


def test_the_real_request_is_rejected_ten_minutes_later(real_delivery):
    request = real_delivery.request
    sent_at = int(request.headers["webhook-timestamp"])

    with pytest.raises(WebhookVerificationError, match="outside the tolerance"):
        verify_webhook(
            request.body, request.headers, real_delivery.secret, now=sent_at + 600
        )


def test_the_real_request_with_a_malformed_signature_header_is_rejected(real_delivery):
    headers = {**real_delivery.request.headers, "webhook-signature": "v1;garbage"}

    with pytest.raises(WebhookVerificationError, match="missing or malformed"):
        verify_webhook(real_delivery.request.body, headers, real_delivery.secret)


def test_the_real_request_verifies_with_the_old_secret_while_a_new_one_is_listed(
    real_delivery,
):
    request = real_delivery.request

    change = verify_webhook(
        request.body, request.headers, [OTHER_SECRET, real_delivery.secret]
    )

    assert change.new_status == "complete"


def test_a_request_resigned_with_the_new_secret_verifies_with_both_listed(
    real_delivery,
):
    request = real_delivery.request
    resigned = sign_webhook(
        request.body, OTHER_SECRET, webhook_id=request.headers["webhook-id"]
    )

    change = verify_webhook(
        request.body, resigned, [OTHER_SECRET, real_delivery.secret]
    )

    assert change.webhook_id == request.headers["webhook-id"]


def test_the_deliveries_log_shows_the_delivery_and_its_204_attempt(real_delivery):
    page = _wait_for_success(real_delivery.client, real_delivery.callback_id)

    delivery = page.deliveries[0]
    assert page.total == 1
    assert delivery.id == real_delivery.request.headers["webhook-id"]
    assert (delivery.state, delivery.attempts_made) == ("succeeded", 1)
    assert (delivery.old_status, delivery.new_status) == ("training", "complete")
    assert [a.status_code for a in delivery.attempts] == [204]
    assert delivery.attempts[0].number == 1
    assert delivery.finished_at is not None


def _wait_for_success(client: Client, callback_id: int):
    # The attempt is logged just after the receiver answers, so allow a moment.
    deadline = time.monotonic() + 10
    while True:
        page = client.list_deliveries(callback_id)
        if page.deliveries and page.deliveries[0].state == "succeeded":
            return page
        if time.monotonic() > deadline:
            return page
        time.sleep(0.1)
