"""Callbacks: the URLs an account registers, with their filters and attempt policy.

These functions take already-parsed input (see ``app.schemas``), apply the rules
a schema cannot express (where a URL may point, whether a pattern compiles) and
store the result. Each works within one account: another account's id is
indistinguishable from an unknown one.
"""

from __future__ import annotations

from typing import Any

from app import bulk, db, patterns, targets
from app.config import Settings
from app.errors import NotFound
from app.models import Account, Callback, loaded, new_stamp, utcnow
from app.payload import http_date
from app.signing import new_secret


def create(
    account: Account,
    data: dict[str, Any],
    settings: Settings,
    resolve: targets.Resolver = targets.resolve_host,
) -> Callback:
    """Store a new callback from validated ``data`` (url, filter, attempt)."""
    _check(data, settings, resolve)

    def store() -> Callback:
        _stamp_change(account.id)
        return Callback.create(
            account=account,
            url=data["url"],
            model_name_pattern=data["filter"]["model_name"],
            project_name_pattern=data["filter"]["project_name"],
            attempt_count=data["attempt"]["count"],
            attempt_interval=data["attempt"]["interval"],
            attempt_http_timeout=data["attempt"]["http_timeout"],
            secret=new_secret(),
        )

    return db.atomic(store)


# Ids are 64-bit integers in the database; a larger one names nothing.
LARGEST_ID = 2**63 - 1


def get(account: Account, callback_id: int) -> Callback:
    if not 0 < callback_id <= LARGEST_ID:
        raise NotFound(f"no callback with id {callback_id}")
    callback = Callback.get_or_none(
        (Callback.id == callback_id) & (Callback.account == account)
    )
    if callback is None:
        raise NotFound(f"no callback with id {callback_id}")
    return callback


# Run by every fan-out batch for each account in it: written once as SQL text.
# Only what matching and sending need is loaded.
SELECT_ENABLED = (
    "SELECT id, url, secret, model_name_pattern, project_name_pattern,"
    " attempt_count, attempt_interval, attempt_http_timeout"
    " FROM callbacks WHERE account_id = %s AND enabled ORDER BY id"
)
# In a fan-out's transaction on PostgreSQL: a callback being deleted is
# waited for and then left out, and none can be deleted until the
# deliveries that refer to it are made.
KEY_SHARE = " FOR KEY SHARE"
ENABLED_COLUMNS = ("id", "url", "secret", "model_name_pattern", "project_name_pattern",
                   "attempt_count", "attempt_interval", "attempt_http_timeout")


def enabled_for(account_id: int) -> list[Callback]:
    """The account's enabled callbacks, in id order, as a fan-out needs them."""
    sql = SELECT_ENABLED + KEY_SHARE if db.is_postgres() else SELECT_ENABLED
    rows = db.execute(sql, (account_id,)).fetchall()
    return [loaded(Callback, account=account_id, enabled=True,
                   **dict(zip(ENABLED_COLUMNS, row, strict=True)))
            for row in rows]


def enabled_among(callback_ids: set[int]) -> set[int]:
    """Those of ``callback_ids`` that still exist and are enabled."""
    ids = sorted(callback_ids)
    enabled: set[int] = set()
    for start in range(0, len(ids), bulk.CHUNK):
        chunk = ids[start:start + bulk.CHUNK]
        enabled |= {row.id for row in Callback.select(Callback.id).where(
            Callback.id.in_(chunk) & Callback.enabled)}
    return enabled


def list_for(account: Account) -> list[Callback]:
    return list(Callback.select().where(Callback.account == account)
                .order_by(Callback.id))


def update(
    account: Account,
    callback_id: int,
    changes: dict[str, Any],
    settings: Settings,
    resolve: targets.Resolver = targets.resolve_host,
) -> Callback:
    """Apply a partial edit; nested ``filter`` and ``attempt`` objects merge."""
    callback = get(account, callback_id)
    _check(changes, settings, resolve)

    if "url" in changes:
        callback.url = changes["url"]
    for key, column in (("model_name", "model_name_pattern"),
                        ("project_name", "project_name_pattern")):
        if key in changes.get("filter", {}):
            setattr(callback, column, changes["filter"][key])
    for key in ("count", "interval", "http_timeout"):
        if key in changes.get("attempt", {}):
            setattr(callback, f"attempt_{key}", changes["attempt"][key])
    if "enabled" in changes:
        callback.enabled = changes["enabled"]
        callback.disabled_reason = None

    callback.updated_at = utcnow()

    def store() -> Callback:
        _stamp_change(account.id)
        # Only what the edit changed: a 410 Gone that disabled the callback
        # since it was read is kept, not written over with the old state.
        callback.save(only=callback.dirty_fields)
        # Answered as stored: the row read before the transaction may have
        # been changed since (that 410 Gone) or deleted (404).
        return get(account, callback_id)

    return db.atomic(store)


def delete(account: Account, callback_id: int) -> None:
    """Remove a callback; its deliveries, pending retries included, go with it."""
    callback = get(account, callback_id)

    def remove() -> None:
        _stamp_change(account.id)
        callback.delete_instance()

    db.atomic(remove)


def disable(callback_id: int, reason: str) -> None:
    """Stop sending to a callback until its owner enables it again."""
    def store() -> None:
        db.execute(NEW_STAMP_OF_OWNER, (new_stamp(), callback_id))
        Callback.update(enabled=False, disabled_reason=reason,
                        updated_at=utcnow()).where(Callback.id == callback_id).execute()

    db.atomic(store)


# Every change to an account's callbacks draws the account a new stamp first,
# in its own transaction, so that a worker's copy of them is never used past
# it (see ``workers.callback_cache``; the triggers of migration 4 draw one for
# any other writer too). First, because the account's row is then the first
# lock every change takes: two changes queue on it instead of each holding a
# callback the other wants.
NEW_STAMP = "UPDATE accounts SET callbacks_stamp = %s WHERE id = %s"
NEW_STAMP_OF_OWNER = (
    "UPDATE accounts SET callbacks_stamp = %s"
    " WHERE id = (SELECT account_id FROM callbacks WHERE id = %s)"
)


# The owners of callbacks about to be disabled, locked in account order: a
# record that disables callbacks of several accounts would otherwise lock the
# accounts in the callbacks' order, and two such records deadlock.
LOCK_OWNERS = (
    "SELECT id FROM accounts WHERE id IN"
    " (SELECT account_id FROM callbacks WHERE id IN ({ids}))"
    " ORDER BY id FOR NO KEY UPDATE"
)


def lock_owners(callback_ids: list[int]) -> None:
    """Lock the accounts of ``callback_ids`` in id order (PostgreSQL)."""
    if callback_ids and db.is_postgres():
        db.execute(LOCK_OWNERS.format(ids=bulk.placeholders(len(callback_ids))),
                   callback_ids)


def _stamp_change(account_id: int) -> None:
    db.execute(NEW_STAMP, (new_stamp(), account_id))


def to_dict(callback: Callback, *, with_secret: bool = False) -> dict[str, Any]:
    """The callback as the API shows it; the secret only when asked for."""
    shown = {
        "id": callback.id,
        "url": callback.url,
        "filter": {
            "model_name": callback.model_name_pattern,
            "project_name": callback.project_name_pattern,
        },
        "attempt": {
            "count": callback.attempt_count,
            "interval": _number(callback.attempt_interval),
            "http_timeout": _number(callback.attempt_http_timeout),
        },
        "enabled": callback.enabled,
        "disabled_reason": callback.disabled_reason,
        "created_at": http_date(callback.created_at),
        "updated_at": http_date(callback.updated_at),
    }
    if with_secret:
        shown["secret"] = callback.secret
    return shown


def _check(data: dict[str, Any], settings: Settings, resolve: targets.Resolver) -> None:
    if "url" in data:
        targets.check_url(
            data["url"], allow_private=settings.allow_private_targets, resolve=resolve
        )
    for key, pattern in data.get("filter", {}).items():
        patterns.validate(pattern, f"filter.{key}")


def _number(value: float) -> float | int:
    # 10.0 reads back as 10, as it was most likely written.
    return int(value) if float(value).is_integer() else value
