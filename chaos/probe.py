"""The worker's Celery app plus one task that only the chaos suite sends.

``celery -A chaos.probe worker`` runs the real tasks and ``chaos.backend_pid``,
which logs the PostgreSQL session the pool process it ran in is using, so a
test can show that no two processes share a connection after the fork.
"""

from __future__ import annotations

import logging
import os
import time

import workers.tasks  # noqa: F401  registers the real tasks on the app
from app import db
from workers.celery_app import celery_app as app

log = logging.getLogger("modelhooks.chaos")

BACKEND_PID_TASK = "chaos.backend_pid"


@app.task(name=BACKEND_PID_TASK)
def backend_pid(pause: float) -> None:
    with db.connection():
        backend = db.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    # Holding the process a moment spreads the probes over every pool process.
    time.sleep(pause)
    log.warning("probe: process %d uses backend %d", os.getpid(), backend)
