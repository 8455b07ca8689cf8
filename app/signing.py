"""Standard Webhooks signatures for callback requests.

A callback request carries ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature``; the signature is ``v1,`` followed by the base64 of an
HMAC-SHA256 over ``{id}.{timestamp}.{body}``, keyed by the bytes that the
callback's ``whsec_`` secret encodes. Any Standard Webhooks library verifies it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from secrets import token_bytes

from app.errors import ModelhooksError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
DEFAULT_TOLERANCE = 300

# Only ASCII digits: int() would also take " 12", "+12", "1_2" and other scripts'
# digits, none of which a sender following the standard produces.
_TIMESTAMP = re.compile(r"[0-9]{1,18}")


class SignatureError(ModelhooksError):
    """A callback request failed verification.

    Messages stay generic on purpose: they must not help anyone forge a request.
    """


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one message under one secret."""
    digest = _digest(_key(secret), msg_id, timestamp, body)
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    secret: str, msg_id: str, body: bytes, now: int
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt made at ``now``."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, msg_id, now, body),
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: list[str],
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> None:
    """Accept the request if any secret matches any ``v1`` signature it carries.

    Listing the old and the new secret while a secret is rotated keeps requests
    signed with either valid. The timestamp must lie within ``tolerance``
    seconds of ``now`` either way. Raises ``SignatureError`` otherwise, also
    for missing or malformed headers.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = _header(lowered, "webhook-id")
    timestamp = _timestamp(_header(lowered, "webhook-timestamp"))
    offered = _signatures(_header(lowered, "webhook-signature"))

    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("webhook timestamp is outside the tolerance")

    expected = [_digest(_key(secret), msg_id, timestamp, body) for secret in secrets]
    if not _any_equal(expected, offered):
        raise SignatureError("no matching webhook signature")


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    # The value itself is never echoed: it is a secret.
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("a signing secret must be 'whsec_' and base64") from None
    if not key:
        raise ValueError("a signing secret must not be empty")
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def _header(headers: Mapping[str, object], name: str) -> str:
    value = headers.get(name)
    if not isinstance(value, str) or not value:
        raise SignatureError("missing or malformed webhook headers")
    return value


def _timestamp(value: str) -> int:
    if not _TIMESTAMP.fullmatch(value):
        raise SignatureError("missing or malformed webhook headers")
    return int(value)


def _signatures(value: str) -> list[bytes]:
    # Other versions and malformed entries are skipped rather than fatal: one of the
    # remaining entries may still match.
    decoded = []
    for entry in value.split(" "):
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            decoded.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    return decoded


def _any_equal(expected: Iterable[bytes], offered: list[bytes]) -> bool:
    # Every pair is compared, so the time taken does not tell which one matched.
    found = False
    for digest in expected:
        for candidate in offered:
            found |= hmac.compare_digest(digest, candidate)
    return found
