import base64
import re
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook

from app.errors import ModelhooksError
from app.signing import (
    SignatureError,
    new_secret,
    sign,
    signature_headers,
    verify,
)

SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"  # bytes 0..23
OTHER_SECRET = "whsec_" + base64.b64encode(b"another key of 24 bytes!").decode()
MSG_ID = "msg_2c5r1Qd9"
TIMESTAMP = 1_700_000_000
BODY = b'{"name":"home_rentals","new_status":"complete"}'
GOLDEN = "v1,1behgw0TK4FPqTpdIofUMLHqVKtuwtFdf1fn0DQ2yZY="


def valid_headers(secret: str = SECRET) -> dict[str, str]:
    return signature_headers(secret, MSG_ID, BODY, TIMESTAMP)


def test_a_new_secret_is_whsec_and_the_base64_of_24_bytes():
    secret = new_secret()

    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{32}", secret)
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24


def test_two_new_secrets_differ():
    assert new_secret() != new_secret()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (BODY, GOLDEN),
        (b"", "v1,ZWpzQJN98HGsV6tEhf3T/MmrrANEkzUqZv31POoUXHw="),
    ],
    ids=["json-body", "empty-body"],
)
def test_sign_gives_the_golden_signature(body, expected):
    assert sign(SECRET, MSG_ID, TIMESTAMP, body) == expected


@pytest.mark.parametrize(
    "body",
    [BODY, "{'name':'модель-β'}".encode(), b"\xff\xfe not utf-8"],
    ids=["ascii", "utf-8", "not-utf-8"],
)
def test_sign_agrees_with_the_standardwebhooks_package(body):
    stamp = datetime.fromtimestamp(TIMESTAMP, tz=timezone.utc)

    theirs = Webhook(SECRET).sign(MSG_ID, stamp, body)

    assert sign(SECRET, MSG_ID, TIMESTAMP, body) == theirs


def test_signature_headers_carry_id_timestamp_and_signature():
    assert valid_headers() == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": "1700000000",
        "webhook-signature": GOLDEN,
    }


def test_the_standardwebhooks_package_verifies_our_headers():
    now = int(time.time())
    headers = signature_headers(SECRET, MSG_ID, BODY, now)

    assert Webhook(SECRET).verify(BODY, headers) == {
        "name": "home_rentals",
        "new_status": "complete",
    }


def test_verify_accepts_headers_made_by_the_standardwebhooks_package():
    now = int(time.time())
    stamp = datetime.fromtimestamp(now, tz=timezone.utc)
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(now),
        "webhook-signature": Webhook(SECRET).sign(MSG_ID, stamp, BODY),
    }

    assert verify(BODY, headers, [SECRET]) is None


def test_verify_accepts_a_valid_request():
    assert verify(BODY, valid_headers(), [SECRET], now=TIMESTAMP) is None


def test_verify_reads_header_names_in_any_case():
    headers = {name.upper(): value for name, value in valid_headers().items()}

    assert verify(BODY, headers, [SECRET], now=TIMESTAMP) is None


@pytest.mark.parametrize(
    ("secrets", "signature"),
    [
        ([OTHER_SECRET, SECRET], GOLDEN),
        ([SECRET, OTHER_SECRET], GOLDEN),
        ([SECRET], f"v1,{base64.b64encode(b'x' * 32).decode()} {GOLDEN}"),
        ([SECRET], f"v2,abc {GOLDEN}"),
        ([SECRET], f"v1a {GOLDEN}"),
        ([SECRET], f"v1,!!! {GOLDEN}"),
    ],
    ids=[
        "new-secret-first",
        "old-secret-first",
        "second-signature-matches",
        "unknown-version-skipped",
        "entry-without-comma-skipped",
        "bad-base64-entry-skipped",
    ],
)
def test_verify_accepts_when_any_secret_matches_any_signature(secrets, signature):
    headers = {**valid_headers(), "webhook-signature": signature}

    assert verify(BODY, headers, secrets, now=TIMESTAMP) is None


@pytest.mark.parametrize(
    "now",
    [TIMESTAMP - 300, TIMESTAMP + 300],
    ids=["earliest-accepted", "latest-accepted"],
)
def test_verify_accepts_a_timestamp_at_the_edge_of_the_tolerance(now):
    assert verify(BODY, valid_headers(), [SECRET], now=now) is None


@pytest.mark.parametrize(
    "now",
    [TIMESTAMP - 301, TIMESTAMP + 301],
    ids=["timestamp-too-new", "timestamp-too-old"],
)
def test_verify_rejects_a_timestamp_outside_the_tolerance(now):
    with pytest.raises(SignatureError, match="^webhook timestamp is outside"):
        verify(BODY, valid_headers(), [SECRET], now=now)


def test_verify_honours_a_custom_tolerance():
    with pytest.raises(SignatureError):
        verify(BODY, valid_headers(), [SECRET], tolerance=10, now=TIMESTAMP + 11)


@pytest.mark.parametrize(
    ("body", "secrets"),
    [
        (BODY + b" ", [SECRET]),
        (BODY, [OTHER_SECRET]),
        (BODY, []),
    ],
    ids=["body-changed", "wrong-secret", "no-secrets"],
)
def test_verify_rejects_a_signature_that_does_not_match(body, secrets):
    with pytest.raises(SignatureError, match="^no matching webhook signature$"):
        verify(body, valid_headers(), secrets, now=TIMESTAMP)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook-id", None),
        ("webhook-timestamp", None),
        ("webhook-signature", None),
        ("webhook-id", ""),
        ("webhook-timestamp", "1700000000.5"),
        ("webhook-timestamp", "soon"),
        ("webhook-timestamp", " 1700000000"),
        ("webhook-timestamp", "+1700000000"),
        ("webhook-timestamp", "1_700_000_000"),
        ("webhook-timestamp", "١٧٠٠٠٠٠٠٠٠"),
        ("webhook-timestamp", "9" * 400),
    ],
    ids=[
        "id-missing",
        "timestamp-missing",
        "signature-missing",
        "id-empty",
        "timestamp-fractional",
        "timestamp-not-a-number",
        "timestamp-with-space",
        "timestamp-with-sign",
        "timestamp-with-underscores",
        "timestamp-in-arabic-indic-digits",
        "timestamp-huge",
    ],
)
def test_verify_rejects_missing_or_malformed_headers(name, value):
    headers = valid_headers()
    if value is None:
        del headers[name]
    else:
        headers[name] = value

    with pytest.raises(SignatureError, match="^missing or malformed webhook headers$"):
        verify(BODY, headers, [SECRET], now=TIMESTAMP)


@pytest.mark.parametrize(
    "signature",
    [
        GOLDEN.replace(",", ""),
        GOLDEN.replace(",", ";"),
        "v1,",
        "v1,not base64!",
        "v1,1behgw0TK4FPqTpdIofUMLHqVKtuwtFdf1fn0DQ2yZY",
        GOLDEN.upper(),
        GOLDEN.replace("v1", "v2"),
        " ",
    ],
    ids=[
        "no-comma",
        "other-separator",
        "empty-signature",
        "bad-base64",
        "unpadded-base64",
        "case-changed",
        "unknown-version-only",
        "blank",
    ],
)
def test_verify_rejects_a_malformed_signature_header_without_crashing(signature):
    headers = {**valid_headers(), "webhook-signature": signature}

    with pytest.raises(SignatureError, match="^no matching webhook signature$"):
        verify(BODY, headers, [SECRET], now=TIMESTAMP)


def test_verify_rejects_a_header_value_that_is_not_a_string():
    headers = {**valid_headers(), "webhook-timestamp": TIMESTAMP}

    with pytest.raises(SignatureError):
        verify(BODY, headers, [SECRET], now=TIMESTAMP)


def test_a_signature_error_is_a_modelhooks_error():
    assert issubclass(SignatureError, ModelhooksError)


@pytest.mark.parametrize(
    "secret",
    ["whsec_not base64!", "whsec_"],
    ids=["not-base64", "empty"],
)
def test_sign_refuses_a_malformed_secret_without_echoing_it(secret):
    with pytest.raises(ValueError, match="^a signing secret must") as caught:
        sign(secret, MSG_ID, TIMESTAMP, BODY)

    assert "not base64!" not in str(caught.value)
