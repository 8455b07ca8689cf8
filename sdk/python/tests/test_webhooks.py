"""Signing and verifying callback requests: one valid baseline, one defect per test."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from modelhooks_sdk import WebhookVerificationError, sign_webhook, verify_webhook

SECRET = "whsec_bW9kZWxob29rcyBzZGsgZ29sZGVuIHRlc3Qga2V5ISE="
OTHER_SECRET = "whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhIQ=="
WEBHOOK_ID = "msg_2mXpGolden"
TIMESTAMP = 1694260740  # 2023-09-09T11:59:00Z
BODY = (
    b'{"name":"home_rentals","version":1,"active":true,"predictor_id":123,'
    b'"project_name":"mindsdb","predictor_created_at":"Fri, 09 Sep 2023 11:50:27 GMT",'
    b'"old_status":"training","new_status":"complete",'
    b'"changed_at":"Fri, 09 Sep 2023 11:59:00 GMT"}'
)
# Computed once with the standardwebhooks package, independently of this SDK.
GOLDEN_SIGNATURE = "v1,zBvONN6CTpfNnG9Qdb/EsKLc2lsVJF8FyyoiREtEfg8="


def signed_headers() -> dict[str, str]:
    return sign_webhook(BODY, SECRET, webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP)


def test_sign_webhook_gives_the_golden_signature_for_a_fixed_message():
    headers = signed_headers()

    assert headers == {
        "webhook-id": WEBHOOK_ID,
        "webhook-timestamp": "1694260740",
        "webhook-signature": GOLDEN_SIGNATURE,
    }


def test_sign_webhook_defaults_to_a_fresh_msg_id_and_the_current_time():
    headers = sign_webhook(BODY, SECRET)

    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - datetime.now().timestamp()) < 5


def test_a_valid_request_verifies_into_a_typed_model_status_change():
    change = verify_webhook(BODY, signed_headers(), SECRET, now=TIMESTAMP)

    assert change.webhook_id == "msg_2mXpGolden"
    assert (change.name, change.version, change.project_name) == (
        "home_rentals",
        1,
        "mindsdb",
    )
    assert (change.active, change.predictor_id) == (True, 123)
    assert (change.old_status, change.new_status) == ("training", "complete")
    assert change.predictor_created_at == datetime(
        2023, 9, 9, 11, 50, 27, tzinfo=timezone.utc
    )
    assert change.changed_at == datetime(2023, 9, 9, 11, 59, tzinfo=timezone.utc)


def test_header_names_are_matched_whatever_their_case():
    headers = {name.title(): value for name, value in signed_headers().items()}

    assert verify_webhook(BODY, headers, SECRET, now=TIMESTAMP).version == 1


def test_a_changed_body_is_rejected():
    changed = BODY.replace(b'"version":1', b'"version":2')

    with pytest.raises(WebhookVerificationError, match="no matching webhook signature"):
        verify_webhook(changed, signed_headers(), SECRET, now=TIMESTAMP)


@pytest.mark.parametrize(
    "name, value",
    [
        ("webhook-id", "msg_someoneElse"),
        ("webhook-timestamp", "1694260741"),
    ],
    ids=["id", "timestamp"],
)
def test_a_changed_signed_header_is_rejected(name, value):
    headers = {**signed_headers(), name: value}

    with pytest.raises(WebhookVerificationError, match="no matching webhook signature"):
        verify_webhook(BODY, headers, SECRET, now=TIMESTAMP)


def test_a_request_signed_with_another_secret_is_rejected():
    with pytest.raises(WebhookVerificationError, match="no matching webhook signature"):
        verify_webhook(BODY, signed_headers(), OTHER_SECRET, now=TIMESTAMP)


@pytest.mark.parametrize("offset", [301, -301], ids=["too old", "too new"])
def test_a_timestamp_301_seconds_away_is_outside_the_default_tolerance(offset):
    with pytest.raises(WebhookVerificationError, match="outside the tolerance"):
        verify_webhook(BODY, signed_headers(), SECRET, now=TIMESTAMP + offset)


def test_a_timestamp_300_seconds_old_is_still_accepted():
    assert verify_webhook(BODY, signed_headers(), SECRET, now=TIMESTAMP + 300)


def test_a_tolerance_of_10_seconds_rejects_a_request_11_seconds_old():
    with pytest.raises(WebhookVerificationError, match="outside the tolerance"):
        verify_webhook(BODY, signed_headers(), SECRET, tolerance=10, now=TIMESTAMP + 11)


def test_the_old_secret_still_verifies_while_the_new_one_is_also_listed():
    change = verify_webhook(
        BODY, signed_headers(), [OTHER_SECRET, SECRET], now=TIMESTAMP
    )

    assert change.webhook_id == WEBHOOK_ID


def test_one_matching_entry_among_several_signatures_is_enough():
    headers = signed_headers()
    headers["webhook-signature"] = (
        "v2,Zm9v v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= "
        + headers["webhook-signature"]
    )

    assert verify_webhook(BODY, headers, SECRET, now=TIMESTAMP).version == 1


@pytest.mark.parametrize(
    "name, value",
    [
        ("webhook-signature", "v1"),
        ("webhook-signature", "v1,"),
        ("webhook-signature", "nocomma"),
        ("webhook-signature", "v1,***not base64***"),
        ("webhook-signature", ""),
        ("webhook-timestamp", "12ab"),
        ("webhook-timestamp", " +12"),
        ("webhook-timestamp", "١٢٣"),
        ("webhook-id", ""),
    ],
    ids=[
        "version only",
        "empty value",
        "no comma",
        "not base64",
        "empty header",
        "timestamp with letters",
        "signed timestamp",
        "arabic digits",
        "empty id",
    ],
)
def test_a_malformed_header_raises_a_clean_verification_error(name, value):
    headers = {**signed_headers(), name: value}

    with pytest.raises(
        WebhookVerificationError, match="missing or malformed webhook headers"
    ):
        verify_webhook(BODY, headers, SECRET, now=TIMESTAMP)


@pytest.mark.parametrize(
    "missing", ["webhook-id", "webhook-timestamp", "webhook-signature"]
)
def test_a_missing_header_raises_a_clean_verification_error(missing):
    headers = signed_headers()
    del headers[missing]

    with pytest.raises(
        WebhookVerificationError, match="missing or malformed webhook headers"
    ):
        verify_webhook(BODY, headers, SECRET, now=TIMESTAMP)


def test_headers_that_are_not_a_mapping_raise_a_verification_error():
    not_a_mapping: Any = ["webhook-id"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, not_a_mapping, SECRET, now=TIMESTAMP)


def test_a_body_given_as_text_is_rejected_rather_than_guessed():
    with pytest.raises(WebhookVerificationError, match="raw bytes"):
        verify_webhook(
            BODY.decode(),
            signed_headers(),
            SECRET,  # type: ignore[arg-type]
            now=TIMESTAMP,
        )


def test_a_genuine_body_that_is_not_a_status_change_raises_a_verification_error():
    body = b'{"hello": "world"}'
    headers = sign_webhook(body, SECRET, webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP)

    with pytest.raises(WebhookVerificationError, match="not a model status change"):
        verify_webhook(body, headers, SECRET, now=TIMESTAMP)


def test_a_secret_that_is_not_base64_is_a_set_up_mistake_reported_as_value_error():
    with pytest.raises(ValueError, match="'whsec_' followed by base64"):
        verify_webhook(BODY, signed_headers(), "whsec_!!!", now=TIMESTAMP)


def test_an_empty_list_of_secrets_is_a_value_error():
    with pytest.raises(ValueError, match="at least one signing secret"):
        verify_webhook(BODY, signed_headers(), [], now=TIMESTAMP)
