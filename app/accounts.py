"""Accounts and their API keys.

A key is shown once, when it is made; only its SHA-256 hash is stored. Keys are
256 random bits, so a plain hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import peewee

from app.errors import InvalidInput, NotFound, Unauthorized
from app.models import Account, ApiKey, utcnow
from app.statement import Statement

KEY_PREFIX = "mh_"
MAX_NAME_LENGTH = 256

# Every request runs it: prepared once per connection. A revoked key is
# refused at once because nothing about keys is kept between requests.
SELECT_LIVE_KEY_ACCOUNT = Statement(
    "select_live_key_account",
    "SELECT accounts.id, accounts.name, accounts.created_at"
    " FROM api_keys JOIN accounts ON accounts.id = api_keys.account_id"
    " WHERE api_keys.key_hash = %s AND api_keys.revoked_at IS NULL",
    ("varchar",),
)


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``secret`` is the only copy of the key in clear."""

    id: int
    account: Account
    secret: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_account(name: str) -> NewKey:
    """Make an account and its first key."""
    _check_name(name)
    try:
        account = Account.create(name=name)
    except peewee.IntegrityError:
        raise InvalidInput.for_field(
            "name", f"an account named {name!r} exists already"
        ) from None
    return create_key(account)


def create_key(account: Account) -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.create(account=account, prefix=secret[:10], key_hash=hash_key(secret))
    return NewKey(id=key.id, account=account, secret=secret)


def find_account(name: str) -> Account:
    account = Account.get_or_none(Account.name == name)
    if account is None:
        raise NotFound(f"no account named {name!r}")
    return account


def revoke_key(key_id: int) -> ApiKey:
    key = ApiKey.get_or_none(ApiKey.id == key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        key.save()
    return key


def authenticate(authorization: str | None) -> Account:
    """The account whose live key is in an ``Authorization: Bearer`` header."""
    if not authorization:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")

    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")

    row = SELECT_LIVE_KEY_ACCOUNT.run((hash_key(key.strip()),)).fetchone()
    if row is None:
        raise Unauthorized("the API key is unknown or revoked")
    account_id, name, created_at = row
    return Account(id=account_id, name=name,
                   created_at=Account.created_at.python_value(created_at))


def _check_name(name: str) -> None:
    if not name or not name.strip():
        raise InvalidInput.for_field("name", "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput.for_field(
            "name", f"must be at most {MAX_NAME_LENGTH} characters; got {len(name)}"
        )
