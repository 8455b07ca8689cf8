"""Standard Webhooks signatures: verify a callback request, or sign one for tests.

A callback request carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds)
and ``webhook-signature``: space-separated ``v1,<base64>`` entries, each an
HMAC-SHA256 over ``{id}.{timestamp}.{body}`` keyed by the bytes that a
``whsec_`` secret encodes. Nothing here touches the network.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from modelhooks_sdk._errors import WebhookVerificationError
from modelhooks_sdk._models import ModelStatusChange

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300

# ASCII digits only: int() would also take " 12", "+12", "1_2" or other scripts' digits.
_TIMESTAMP = re.compile(r"[0-9]{1,18}")

_MALFORMED = "missing or malformed webhook headers"


def sign_webhook(
    body: bytes,
    secret: str,
    *,
    webhook_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three headers a service would send with ``body``; for receivers' tests.

    ``webhook_id`` defaults to a fresh ``msg_`` id and ``timestamp`` to now.
    """
    msg_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    moment = int(time.time()) if timestamp is None else timestamp
    digest = _digest(_key(secret), msg_id, moment, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(moment),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def verify_webhook(
    body: bytes,
    headers: Mapping[str, Any],
    secrets: str | list[str],
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: int | None = None,
) -> ModelStatusChange:
    """Check a callback request and read its body; raise WebhookVerificationError.

    Pass ``body`` exactly as received, before any JSON parsing. The request is
    genuine if any of ``secrets`` matches any ``v1`` signature it carries: list
    the old and the new secret while rotating. Its timestamp must lie within
    ``tolerance`` seconds of ``now`` (default: the clock), either way.
    """
    keys = [_key(secret) for secret in _as_list(secrets)]
    if not isinstance(body, (bytes, bytearray)):
        raise WebhookVerificationError("the body must be the raw bytes received")

    lowered = _lowered(headers)
    msg_id = _header(lowered, "webhook-id")
    timestamp = _timestamp(_header(lowered, "webhook-timestamp"))
    offered = _signatures(_header(lowered, "webhook-signature"))

    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook timestamp is outside the tolerance")

    expected = [_digest(key, msg_id, timestamp, bytes(body)) for key in keys]
    if not _any_equal(expected, offered):
        raise WebhookVerificationError("no matching webhook signature")
    return _change(bytes(body), msg_id)


def _as_list(secrets: str | list[str]) -> list[str]:
    listed = [secrets] if isinstance(secrets, str) else list(secrets)
    if not listed:
        raise ValueError("at least one signing secret is needed; got none")
    return listed


def _key(secret: str) -> bytes:
    # The secret itself is never echoed in a message.
    if not isinstance(secret, str):
        raise ValueError(f"a signing secret must be a string; got {type(secret)!r}")
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError(
            "a signing secret must be 'whsec_' followed by base64; got a string "
            f"of {len(secret)} characters that is not"
        ) from None
    if not key:
        raise ValueError("a signing secret must not be empty")
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def _lowered(headers: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return {str(name).lower(): value for name, value in headers.items()}
    except (AttributeError, TypeError):
        raise WebhookVerificationError(_MALFORMED) from None


def _header(headers: Mapping[str, Any], name: str) -> str:
    value = headers.get(name)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str) or not value.strip():
        raise WebhookVerificationError(_MALFORMED)
    return value.strip()


def _timestamp(value: str) -> int:
    if not _TIMESTAMP.fullmatch(value):
        raise WebhookVerificationError(_MALFORMED)
    return int(value)


def _signatures(value: str) -> list[bytes]:
    # Other versions and malformed entries are skipped, not fatal: another entry in
    # the list may still match. No usable entry at all is a malformed header.
    decoded = []
    for entry in value.split():
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            decoded.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    if not decoded:
        raise WebhookVerificationError(_MALFORMED)
    return decoded


def _any_equal(expected: list[bytes], offered: list[bytes]) -> bool:
    # Every pair is compared, so the time taken does not tell which one matched.
    found = False
    for digest in expected:
        for candidate in offered:
            found |= hmac.compare_digest(digest, candidate)
    return found


def _change(body: bytes, msg_id: str) -> ModelStatusChange:
    try:
        document = json.loads(body)
        return ModelStatusChange.from_dict(document, msg_id)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise WebhookVerificationError(
            "the signed body is not a model status change"
        ) from None
