"""W1's status changes posted to the peer, django-webhook, instead of modelhooks.

The Django project is in ``bench/peer``; ``bench.services`` starts it when
the run picks this row, with the receiver subscribed under ``PEER_TAG``.
django-webhook sends no id of its own per delivery, but each status change
here is a model version of its own, so the model's name in a delivery's body
tells the deliveries apart.
"""

from __future__ import annotations

import asyncio

from bench.rows import Row
from bench.services import PEER_TAG
from bench.workloads import Bench, _report_statuses

SYSTEM = "django-webhook"


def peer_deliveries(bench: Bench, name: str, *, events: int, in_flight: int = 32,
                    timeout: float = 300.0) -> Row:
    """``events`` new model versions, ``in_flight`` at once, as W1 reports them.

    Latency runs from the start of the producer's request to the arrival of
    the delivery at the receiver, as for modelhooks.
    """
    services = bench.services
    api = f"http://127.0.0.1:{services.peer_web_port}"
    bench.memory.reset(services.peer_worker)
    cpu_before = services.cpu_seconds(SYSTEM)

    # The peer asks for no key; the producer's header goes unread.
    sent_at, ingest = asyncio.run(
        _report_statuses(api, "unused", PEER_TAG, events, None, in_flight))
    arrivals = _identified_by_model(bench._wait_for_arrivals(PEER_TAG, events, timeout))
    row = Bench._delivery_row(name, PEER_TAG, sent_at, arrivals, 1, None, system=SYSTEM)
    row.rss_mb = bench.memory.peak / 2**20
    row.notes.insert(0, f"ingest {events / ingest:,.0f}/s")
    row.notes.append(bench._cpu_note(cpu_before, len(arrivals), SYSTEM))
    return row


def _identified_by_model(arrivals: list) -> list:
    """The receiver's rows with the model's name in place of the delivery id."""
    return [[arrived, model, model, status] for arrived, _, model, status in arrivals]
