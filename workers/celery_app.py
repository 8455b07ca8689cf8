"""The Celery application of the worker and beat processes.

Messages only say "look at event X" or "look at delivery X"; the database says
what is left to do. Hence the settings below: a message is acknowledged after
its task ran (``acks_late``) and given back when its worker dies, so a killed
worker loses nothing, and the duplicates this can cause are harmless because
every attempt first claims its delivery in the database.
"""

from __future__ import annotations

import logging
import sys

from celery import Celery, signals

from app import broker, config, db
from app.errors import ConfigError

log = logging.getLogger("modelhooks.worker")

# The longest attempt the API allows, and slack for a slow worker.
LONGEST_ATTEMPT = 60
VISIBILITY_SLACK = 300


def load_settings() -> config.Settings:
    try:
        return config.from_env()
    except ConfigError as error:
        print(f"modelhooks: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def make_celery(settings: config.Settings) -> Celery:
    celery = Celery("modelhooks", broker=settings.redis_url, include=["workers.tasks"])
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_default_queue="modelhooks",
        worker_prefetch_multiplier=4,
        broker_connection_retry_on_startup=True,
        # Threaded or gevent pools run many tasks at once; each needs a broker
        # connection to acknowledge, and kombu's default of ten is too few.
        broker_pool_limit=200,
        broker_transport_options={"visibility_timeout": visibility_timeout(settings)},
        beat_schedule={
            # Behind a long backlog, sweeps queued for a while are dropped
            # rather than run back to back; a busy worker still gets to one.
            "sweep": {"task": broker.SWEEP_TASK, "schedule": settings.sweep_interval,
                      "options": {"expires": max(10 * settings.sweep_interval, 60)}},
        },
    )
    return celery


def visibility_timeout(settings: config.Settings) -> float:
    """How long Redis waits for an acknowledgement before handing a message out again.

    A retry waits in its worker for up to the longest interval before it runs,
    so by default the timeout exceeds that. A shorter one, set by
    ``MODELHOOKS_VISIBILITY_TIMEOUT``, only costs redeliveries: each copy of a
    message first claims its delivery, and a copy that arrives early claims
    nothing.
    """
    if settings.visibility_timeout is not None:
        return settings.visibility_timeout
    return settings.max_retry_interval + LONGEST_ATTEMPT + VISIBILITY_SLACK


settings = load_settings()
celery_app = make_celery(settings)
db.open_database(settings.database_url)


@signals.worker_process_init.connect
def _reopen_database_after_fork(**_kwargs) -> None:
    # A prefork child must not share its parent's sockets: give it a database
    # object of its own instead of the inherited, possibly connected, one.
    db.open_database(settings.database_url)
