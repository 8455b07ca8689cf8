"""Sending deliveries: claim, sign, POST, and record how each attempt went.

A ``Sender`` works on batches. The fan-out makes an event's first attempts
concurrently in one task, because Celery's own cost per task dwarfs a POST;
each failure is then left to its own ``deliver`` task, which Celery retries
with a countdown of the callback's interval. Database work is done in bulk by
the calling thread; only the POSTs run on the pool's threads.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from app import __version__, callbacks, deliveries, patterns, retry
from app.config import Settings
from app.deliveries import AttemptRecord, Outcome
from app.models import Callback, Delivery, DeliveryState, Event, utcnow
from app.signing import signature_headers
from workers.transport import AttemptResult, Transport

log = logging.getLogger("modelhooks.delivery")

USER_AGENT = f"modelhooks/{__version__}"



@dataclass(frozen=True)
class Attempted:
    """One delivery after one attempt: when to try again, if at all."""

    delivery_id: str
    state: str
    retry_in: float | None


class Sender:
    def __init__(self, settings: Settings, transport: Transport) -> None:
        self.settings = settings
        self.transport = transport
        self._lease_margin = timedelta(seconds=settings.sweep_grace)
        self._pool = ThreadPoolExecutor(
            max_workers=settings.fan_out_concurrency,
            thread_name_prefix="modelhooks-post",
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.transport.close()

    def fan_out(self, event_id: str) -> list[Attempted]:
        """Make the event's deliveries and their first attempts."""
        event = Event.get_or_none(Event.id == event_id)
        if event is None:
            log.warning("event %s: not found, nothing to fan out", event_id)
            return []

        if event.fanned_out_at is None:
            matched = self._matching_callbacks(event)
            deliveries.create_for_event(event, matched)
            log.info("event %s: %d matching callbacks", event.id, len(matched))

        return self.attempt(deliveries.due_for_event(event.id))

    def attempt(self, delivery_ids: list[str]) -> list[Attempted]:
        """One attempt for each delivery that is pending and due; the rest are left."""
        claimed = deliveries.claim(delivery_ids, self._lease_margin)
        rows = deliveries.load_claimed(claimed)
        sendable = self._drop_disabled(rows)

        results = list(self._pool.map(self._post, sendable))
        outcomes = [self._judge(d, record, result) for d, (record, result)
                    in zip(sendable, results, strict=True)]

        deliveries.finish_attempts(outcomes)
        self._apply_gone(outcomes)
        return [self._report(o) for o in outcomes]

    def _matching_callbacks(self, event: Event) -> list[int]:
        version = event.model_version
        enabled = Callback.select(
            Callback.id, Callback.model_name_pattern, Callback.project_name_pattern
        ).where((Callback.account == event.account_id) & Callback.enabled)
        matcher = patterns.Matcher(
            (c.id, c.model_name_pattern, c.project_name_pattern) for c in enabled
        )
        return matcher.match(version.name, version.project_name)

    def _drop_disabled(self, rows: list[Delivery]) -> list[Delivery]:
        disabled = [d.id for d in rows if not d.callback.enabled]
        if disabled:
            deliveries.release(disabled, DeliveryState.DROPPED)
            log.info("dropped %d deliveries of disabled callbacks: %s",
                     len(disabled), ", ".join(disabled[:20]))
        return [d for d in rows if d.callback.enabled]

    def _post(self, delivery: Delivery) -> tuple[AttemptRecord, AttemptResult]:
        callback = delivery.callback
        body = delivery.event.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(callback.secret, delivery.id, body, int(time.time())),
        }

        started_at = utcnow()
        result = self.transport.post(callback.url, body, headers,
                                     timeout=callback.attempt_http_timeout)
        record = AttemptRecord(
            started_at=started_at, duration=result.duration,
            status_code=result.status_code, error=result.error,
            excerpt=result.excerpt, truncated=result.truncated,
        )
        return record, result

    def _judge(self, delivery: Delivery, record: AttemptRecord,
               result: AttemptResult) -> Outcome:
        callback = delivery.callback
        number = delivery.attempts_made + 1

        if result.ok:
            return Outcome(delivery, record, DeliveryState.SUCCEEDED)
        if retry.is_gone(result.status_code):
            return Outcome(delivery, record, DeliveryState.FAILED)
        if number >= callback.attempt_count:
            return Outcome(delivery, record, DeliveryState.FAILED)

        delay = retry.next_delay(
            interval=callback.attempt_interval, status_code=result.status_code,
            retry_after=result.retry_after,
            max_interval=self.settings.max_retry_interval, now=utcnow(),
        )
        return Outcome(delivery, record, DeliveryState.PENDING,
                       next_attempt_at=utcnow() + timedelta(seconds=delay))

    def _apply_gone(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if not retry.is_gone(outcome.record.status_code):
                continue
            callback = outcome.delivery.callback
            callbacks.disable(callback.id, "the receiver answered 410 Gone")
            dropped = deliveries.drop_pending(callback.id)
            log.warning("callback %s disabled: delivery %s answered 410 Gone; "
                        "%d pending deliveries dropped", callback.id,
                        outcome.delivery.id, dropped)

    def _report(self, outcome: Outcome) -> Attempted:
        delivery, record = outcome.delivery, outcome.record
        number = delivery.attempts_made + 1
        answer = record.status_code if record.error is None else record.error
        retry_in = None
        if outcome.next_attempt_at is not None:
            retry_in = max(0.0, (outcome.next_attempt_at - utcnow()).total_seconds())

        waiting = outcome.state == DeliveryState.PENDING
        level = logging.WARNING if waiting else logging.INFO
        log.log(level, "delivery %s (event %s, callback %s) attempt %d: %s -> %s%s",
                delivery.id, delivery.event_id, delivery.callback_id, number, answer,
                outcome.state,
                f", next attempt in {retry_in:.1f} s" if retry_in is not None else "")
        return Attempted(delivery.id, outcome.state, retry_in)
