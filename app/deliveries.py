"""Deliveries: one event for one callback, and the attempts made to send it.

The database is the truth about a delivery; broker messages only say "look at
delivery X now". Before each attempt a worker *claims* the delivery with one
conditional UPDATE (pending and due -> sending), so however many copies of a
message arrive (a redelivery after a visibility timeout, a sweep, a retry) one
attempt is made at a time and never more than the policy allows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app import bulk, db
from app.models import (
    Attempt,
    Callback,
    Delivery,
    DeliveryState,
    Event,
    loaded,
    new_id,
    utcnow,
)
from app.statement import Statement

log = logging.getLogger("modelhooks.delivery")

# Longest error text kept per attempt; a receiver chooses its status line.
MAX_ERROR_LENGTH = 2048

# A message may arrive a little before the moment stored for it (clocks of
# Celery's ETA and of the database round differently); it still counts as due.
DUE_TOLERANCE = timedelta(seconds=1)

NEW_DELIVERY_COLUMNS = ("id", "event", "callback", "state", "attempts_made",
                        "lease_until", "next_attempt_at", "created_at")

# PostgreSQL: a fan-out's deliveries in one statement, however many. What
# differs from row to row goes as three arrays, one parameter each; the rest
# is the same for every row. For 2,000 rows a VALUES list cost the server
# about 34 µs a row (parsing and planning each row's constants) and the
# worker 17 µs (spelling them out); the arrays cost 21 µs and 2 µs
# (docs/performance.md, "W2").
INSERT_FROM_ARRAYS = (
    "INSERT INTO deliveries (id, event_id, callback_id, state, attempts_made,"
    " lease_until, next_attempt_at, created_at)"
    " SELECT made.id, made.event_id, made.callback_id, %s, 0, %s, %s, %s"
    " FROM unnest(%s, %s, %s) AS made (id, event_id, callback_id)"
)
ARRAY_TYPES = ("varchar", "timestamp", "timestamp", "timestamp",
               "varchar[]", "varchar[]", "integer[]")
INSERT_CLAIMED = Statement(
    "insert_claimed_deliveries",
    INSERT_FROM_ARRAYS + " ON CONFLICT DO NOTHING RETURNING id", ARRAY_TYPES)
# The same, to end its transaction: nothing is answered (the COMMIT's answer
# is what comes back), so an existing pair is not skipped but fails the
# statement, and every delivery asked for is made or none is.
INSERT_ALL_CLAIMED = Statement(
    "insert_all_claimed_deliveries", INSERT_FROM_ARRAYS, ARRAY_TYPES)

ATTEMPT_COLUMNS = ("delivery", "number", "started_at", "duration_ms", "status_code",
                   "error", "response_excerpt", "response_truncated")

# PostgreSQL: a batch's record in one statement, which is a transaction of its
# own. Each delivery whose claim still holds moves on as its outcome says and
# gets its attempt logged; the ids answered are those. One array parameter a
# column, as for the inserts above.
#
# The claim holds while the delivery keeps the lease it was claimed with:
# every write that takes a delivery out of ``sending`` clears its lease, and
# each claim sets a new one. The state itself is not compared: given as a
# constant, it let the planner reach the deliveries through the index of
# (state, next_attempt_at), which statistics taken while few deliveries were
# sending say is nearly empty, and match every one found against the whole
# array (quadratic: a record of 10,000 was still running 20 s later). Matched
# by id and lease only, the rows are found through the primary key or in one
# scan.
RECORD_ATTEMPTS = Statement(
    "record_attempts",
    "WITH outcome AS ("
    " SELECT * FROM unnest(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " AS outcome (id, state, lease_until, next_attempt_at, finished_at, number,"
    " started_at, duration_ms, status_code, error, response_excerpt,"
    " response_truncated)),"
    " moved AS ("
    " UPDATE deliveries SET state = outcome.state, lease_until = NULL,"
    " next_attempt_at = COALESCE(outcome.next_attempt_at,"
    " deliveries.next_attempt_at),"
    " finished_at = COALESCE(outcome.finished_at, deliveries.finished_at),"
    " attempts_made = deliveries.attempts_made + 1"
    " FROM outcome WHERE deliveries.id = outcome.id"
    " AND deliveries.lease_until = outcome.lease_until"
    " RETURNING outcome.*)"
    # The attempts come from the rows the UPDATE answers: the arrays are
    # matched against the deliveries once, never against each other.
    " INSERT INTO attempts (delivery_id, number, started_at, duration_ms,"
    " status_code, error, response_excerpt, response_truncated)"
    " SELECT id, number, started_at, duration_ms, status_code, error,"
    " response_excerpt, response_truncated FROM moved"
    " RETURNING delivery_id",
    ("varchar[]", "varchar[]", "timestamp[]", "timestamp[]", "timestamp[]",
     "integer[]", "timestamp[]", "double precision[]", "integer[]", "text[]",
     "text[]", "boolean[]"),
)


@dataclass(frozen=True)
class AttemptRecord:
    """What one POST gave, to be logged against its delivery."""

    started_at: datetime
    duration: float
    status_code: int | None
    error: str | None
    excerpt: str
    truncated: bool


def create_claimed(matches: list[tuple[Event, list[Callback]]], margin: timedelta,
                   rounds: int = 1, *, ends_transaction: bool = False
                   ) -> list[Delivery]:
    """Make each event's deliveries, already claimed for their first attempt.

    Creating, claiming and loading in one step: the rows are born ``sending``
    with their lease (see ``claim``). Call it in the transaction that takes the
    events out of the outbox, so the deliveries exist exactly when the events
    are marked fanned out. A delivery that already exists (a fan-out of the
    same event that got there first) is not made again nor returned, so it is
    attempted only once.

    ``ends_transaction``: on PostgreSQL the insert is the transaction's last
    statement and carries its COMMIT (``db.commit_with_next``), a round trip
    less. An existing delivery then fails the insert with ``IntegrityError``
    instead of being skipped, and the transaction rolls back.
    """
    now = utcnow()
    longest = max((callback.attempt_http_timeout
                   for _, matched in matches for callback in matched), default=0)
    lease_until = now + timedelta(seconds=longest * rounds) + margin
    pairs = {(event.id, callback.id): (event, callback)
             for event, matched in matches for callback in matched}
    by_id = {new_id("msg"): pair for pair in pairs.values()}

    made = []
    for delivery_id in _insert_claimed(by_id, lease_until, now, ends_transaction):
        event, callback = by_id[delivery_id]
        made.append(loaded(Delivery, id=delivery_id, event=event, callback=callback,
                           state=DeliveryState.SENDING, attempts_made=0,
                           lease_until=lease_until))
    return made


def _insert_claimed(by_id: dict[str, tuple[Event, Callback]], lease_until: datetime,
                    now: datetime, ends_transaction: bool) -> list[str]:
    """Insert the deliveries ``by_id`` names, claimed; answer the ids made."""
    if not by_id:
        return []
    if db.is_postgres():
        params = (DeliveryState.SENDING, lease_until, now, now,
                  bulk.array_literal(by_id),
                  bulk.array_literal(event.id for event, _ in by_id.values()),
                  bulk.array_literal(callback.id for _, callback in by_id.values()))
        if ends_transaction:
            db.commit_with_next()
            INSERT_ALL_CLAIMED.run(params)
            return list(by_id)
        cursor = INSERT_CLAIMED.run(params)
        return [delivery_id for (delivery_id,) in cursor.fetchall()]

    rows = [(delivery_id, event.id, callback.id, DeliveryState.SENDING, 0,
             lease_until, now, now)
            for delivery_id, (event, callback) in by_id.items()]
    inserted = bulk.insert(Delivery, NEW_DELIVERY_COLUMNS, rows, skip_existing=True,
                           returning=("id",))
    return [delivery_id for (delivery_id,) in inserted]


def claim(delivery_ids: list[str], margin: timedelta, rounds: int = 1) -> list[str]:
    """Take the deliveries for one attempt each; answer those actually taken.

    Only pending deliveries that are due are taken: a copy of a message that
    arrives for a delivery being sent, finished or not yet due takes nothing.
    Each claim is a lease; past it, the sweep presumes the worker dead and hands
    the delivery out again. The caller sends the batch in ``rounds`` waves in no
    set order, so every lease covers that many of the batch's longest attempts.
    """
    return [d.id for d in claim_loaded(delivery_ids, margin, rounds)]


def claim_loaded(delivery_ids: list[str], margin: timedelta,
                 rounds: int = 1) -> list[Delivery]:
    """``claim``, answering the deliveries taken with their events and callbacks.

    Two round trips where ``claim`` then ``load_claimed`` take three: the rows
    are loaded first and the claim's answer says which of them were taken.
    """
    loaded = {delivery.id: delivery for delivery in load_claimed(delivery_ids)}
    if not loaded:
        return []
    now = utcnow()
    longest = max(d.callback.attempt_http_timeout for d in loaded.values())
    lease_until = now + timedelta(seconds=longest * rounds) + margin
    query = (
        Delivery.update(state=DeliveryState.SENDING, lease_until=lease_until)
        .where((Delivery.id.in_(list(loaded)))
               & (Delivery.state == DeliveryState.PENDING)
               & (Delivery.next_attempt_at <= now + DUE_TOLERANCE))
        .returning(Delivery.id, Delivery.attempts_made)
    )

    claimed = []
    for row in db.atomic(lambda: list(query.execute())):
        # What the claim saw is the truth: another worker may have made an
        # attempt between the load and the claim.
        delivery = loaded[row.id]
        delivery.attempts_made = row.attempts_made
        delivery.state = DeliveryState.SENDING
        delivery.lease_until = lease_until
        claimed.append(delivery)
    return claimed


def load_claimed(delivery_ids: list[str]) -> list[Delivery]:
    """The deliveries with their events and callbacks, in one query."""
    if not delivery_ids:
        return []
    return list(Delivery.select(Delivery, Event, Callback)
                .join(Event).switch(Delivery).join(Callback)
                .where(Delivery.id.in_(delivery_ids)))


@dataclass(frozen=True)
class Outcome:
    """A finished attempt and where it leaves its delivery."""

    delivery: Delivery
    record: AttemptRecord
    state: str
    next_attempt_at: datetime | None = None


def finish_attempts(outcomes: list[Outcome]) -> list[str]:
    """Log the attempts and move each delivery on, all in one transaction.

    Only an attempt whose claim still holds is recorded: if its lease ran out
    and the sweep handed the delivery out again, or its callback was deleted
    meanwhile, the attempt is not logged and the delivery is left as it is.
    Answers the ids of the deliveries moved on.

    On PostgreSQL it is one statement, its own transaction unless called in
    one; elsewhere a transaction of a statement per destination and per
    thousand attempts.
    """
    if not outcomes:
        return []
    if db.is_postgres():
        return db.run(lambda: _recorded_at_once(outcomes))
    return db.atomic(lambda: _recorded_step_by_step(outcomes))


def _recorded_at_once(outcomes: list[Outcome]) -> list[str]:
    finished_at = utcnow()
    # _attempt_row's first column is the delivery's id: the outcome has it.
    attempts = [_attempt_row(outcome)[1:] for outcome in outcomes]
    cursor = RECORD_ATTEMPTS.run((
        bulk.array_literal(o.delivery.id for o in outcomes),
        bulk.array_literal(o.state for o in outcomes),
        bulk.array_literal(o.delivery.lease_until for o in outcomes),
        bulk.array_literal(o.next_attempt_at for o in outcomes),
        bulk.array_literal(finished_at if o.state in DeliveryState.FINAL else None
                           for o in outcomes),
        *(bulk.array_literal(column) for column in zip(*attempts, strict=True)),
    ))
    return [delivery_id for (delivery_id,) in cursor.fetchall()]


def _recorded_step_by_step(outcomes: list[Outcome]) -> list[str]:
    moved: list[str] = []
    for (state, next_at, lease), group in _group_by_destination(outcomes).items():
        moved += _move_on(group, state, next_at, lease)
    moved_ids = set(moved)
    rows = [_attempt_row(o) for o in outcomes if o.delivery.id in moved_ids]
    bulk.insert(Attempt, ATTEMPT_COLUMNS, rows)
    return moved


def _move_on(ids: list[str], state: str, next_at: datetime | None,
             lease: datetime | None) -> list[str]:
    changes = {"state": state, "lease_until": None}
    if state in DeliveryState.FINAL:
        changes["finished_at"] = utcnow()
    if next_at is not None:
        changes["next_attempt_at"] = next_at
    assignments = ", ".join(f"{column} = %s" for column in changes)

    # The lease is the claim's token: a delivery reclaimed by the sweep and
    # claimed again carries another one. Written as SQL text: Peewee takes
    # longer to render an IN list of a few thousand ids than the update runs.
    moved: list[str] = []
    for start in range(0, len(ids), bulk.CHUNK):
        chunk = ids[start:start + bulk.CHUNK]
        sql = (f"UPDATE deliveries SET {assignments}, "
               f"attempts_made = attempts_made + 1 "
               f"WHERE id IN ({bulk.placeholders(len(chunk))}) "
               "AND state = %s AND lease_until = %s RETURNING id")
        params = [*changes.values(), *chunk, DeliveryState.SENDING, lease]
        moved += [row[0] for row in db.execute(sql, params).fetchall()]
    return moved


def _attempt_row(outcome: Outcome) -> tuple[Any, ...]:
    record = outcome.record
    return (
        outcome.delivery.id,
        outcome.delivery.attempts_made + 1,
        record.started_at,
        round(record.duration * 1000, 3),
        record.status_code,
        _storable(record.error, MAX_ERROR_LENGTH),
        _storable(record.excerpt),
        record.truncated,
    )


def _storable(text: str | None, limit: int | None = None) -> str | None:
    # Receivers choose these bytes, and PostgreSQL refuses NUL in text: one NUL
    # would fail the whole batch's transaction and leave every delivery in it
    # to be sent again by the sweep.
    if text is None:
        return None
    return text[:limit].replace("\x00", "\ufffd")


def _group_by_destination(outcomes: list[Outcome]
                          ) -> dict[tuple[str, datetime | None, datetime | None],
                                    list[str]]:
    # One UPDATE per (state, next attempt, lease) rather than one per delivery.
    groups: dict[tuple[str, datetime | None, datetime | None], list[str]] = {}
    for outcome in outcomes:
        key = (outcome.state, outcome.next_attempt_at, outcome.delivery.lease_until)
        groups.setdefault(key, []).append(outcome.delivery.id)
    return groups


def release(delivery_ids: list[str], state: str) -> None:
    """End claimed deliveries without an attempt (their callback was disabled)."""
    if not delivery_ids:
        return
    Delivery.update(state=state, lease_until=None, finished_at=utcnow()).where(
        (Delivery.id.in_(delivery_ids)) & (Delivery.state == DeliveryState.SENDING)
    ).execute()


def drop_pending(callback_id: int) -> int:
    """Drop every unfinished delivery of a callback (it answered 410 Gone)."""
    return (Delivery.update(state=DeliveryState.DROPPED, finished_at=utcnow(),
                            lease_until=None)
            .where((Delivery.callback == callback_id)
                   & (Delivery.state == DeliveryState.PENDING))
            .execute())


def take_overdue(older_than: timedelta, limit: int = 1000) -> list[str]:
    """Pending deliveries late by more than ``older_than``, marked as due now.

    Moving ``next_attempt_at`` to now means a delivery still stuck behind a
    backlog is handed out again once per ``older_than``, not at every sweep.
    """
    now = utcnow()
    late = (Delivery.select(Delivery.id)
            .where((Delivery.state == DeliveryState.PENDING)
                   & (Delivery.next_attempt_at < now - older_than))
            .order_by(Delivery.next_attempt_at).limit(limit))
    ids = [row.id for row in late]
    if not ids:
        return []
    # Still late at the UPDATE: an attempt recorded since the SELECT has set
    # its own next attempt, which must stand.
    query = Delivery.update(next_attempt_at=now).where(
        Delivery.id.in_(ids) & (Delivery.state == DeliveryState.PENDING)
        & (Delivery.next_attempt_at < now - older_than)
    ).returning(Delivery.id)
    return db.atomic(lambda: [row.id for row in query.execute()])


def seconds_until_due(delivery_id: str) -> float | None:
    """How long a pending delivery has yet to wait; None if it is not pending."""
    row = Delivery.get_or_none((Delivery.id == delivery_id)
                               & (Delivery.state == DeliveryState.PENDING))
    if row is None:
        return None
    return max(0.0, (row.next_attempt_at - utcnow()).total_seconds())


def reclaim_abandoned() -> list[str]:
    """Put back to pending the deliveries whose worker died mid-attempt."""
    now = utcnow()
    # The lease is checked again in the UPDATE: a delivery reclaimed and claimed
    # anew since the SELECT holds a fresh lease, which must not be undone.
    query = Delivery.update(state=DeliveryState.PENDING, lease_until=None,
                            next_attempt_at=now).where(
        (Delivery.state == DeliveryState.SENDING) & (Delivery.lease_until < now)
    ).returning(Delivery.id)
    abandoned = db.atomic(lambda: [row.id for row in query.execute()])
    if abandoned:
        log.warning("reclaimed %d deliveries whose worker stopped mid-attempt: %s",
                    len(abandoned), ", ".join(abandoned[:20]))
    return abandoned


def page_for_callback(callback: Callback, limit: int, offset: int
                      ) -> tuple[list[dict[str, Any]], int]:
    """The callback's deliveries, newest first, with their attempts; and the total."""
    query = (Delivery.select(Delivery, Event).join(Event)
             .where(Delivery.callback == callback)
             .order_by(Delivery.created_at.desc(), Delivery.id.desc()))
    deliveries = list(query.limit(limit).offset(offset))
    attempts = _attempts_of([d.id for d in deliveries])
    total = Delivery.select().where(Delivery.callback == callback).count()
    return [to_dict(d, attempts.get(d.id, [])) for d in deliveries], total


def _attempts_of(delivery_ids: list[str]) -> dict[str, list[Attempt]]:
    grouped: dict[str, list[Attempt]] = {}
    if not delivery_ids:
        return grouped
    query = (Attempt.select().where(Attempt.delivery.in_(delivery_ids))
             .order_by(Attempt.number))
    for attempt in query:
        grouped.setdefault(attempt.delivery_id, []).append(attempt)
    return grouped


def to_dict(delivery: Delivery, attempts: list[Attempt]) -> dict[str, Any]:
    event = delivery.event
    waiting = delivery.state == DeliveryState.PENDING
    return {
        "id": delivery.id,
        "event_id": event.id,
        "state": delivery.state,
        "attempts_made": delivery.attempts_made,
        "next_attempt_at": iso_time(delivery.next_attempt_at) if waiting else None,
        "created_at": iso_time(delivery.created_at),
        "finished_at": iso_time(delivery.finished_at),
        "old_status": event.old_status,
        "new_status": event.new_status,
        "changed_at": iso_time(event.changed_at),
        "attempts": [_attempt_dict(a) for a in attempts],
    }


def _attempt_dict(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "started_at": iso_time(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "response_excerpt": attempt.response_excerpt,
        "response_truncated": attempt.response_truncated,
    }


def iso_time(moment: datetime | None) -> str | None:
    """A stored UTC time as ISO 8601 with milliseconds, e.g. ``…T08:00:00.125Z``."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds") + "Z"
