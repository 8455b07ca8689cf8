"""``modelhooks dev``: the whole service in one process, for trying and developing.

Web, worker and beat run together on SQLite with Celery's in-memory broker, so
a fresh machine needs neither Redis nor PostgreSQL. The API listens on
127.0.0.1 only, and private targets are allowed so that a receiver on the same
machine works. The local account's key is kept in ``.modelhooks-dev-key`` so
that each start can print it again.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import click
from werkzeug.serving import make_server

from app import accounts, config, db, migrations
from app.models import Account

log = logging.getLogger("modelhooks.dev")

DEV_ACCOUNT = "local"
KEY_FILE = Path(".modelhooks-dev-key")
WORKER_THREADS = 8


def use_dev_environment() -> config.Settings:
    """Put the dev defaults in the environment every part reads, and load it."""
    os.environ["REDIS_URL"] = "memory://localhost/"
    os.environ.setdefault("MODELHOOKS_ALLOW_PRIVATE_TARGETS", "true")
    os.environ.setdefault("MODELHOOKS_SWEEP_INTERVAL", "5")
    os.environ.setdefault("MODELHOOKS_SWEEP_GRACE", "10")
    return config.from_env()


def local_key() -> str:
    """The dev account's key: made on first start, read back afterwards."""
    with db.connection():
        account = Account.get_or_none(Account.name == DEV_ACCOUNT)
        if account is not None and KEY_FILE.exists():
            return KEY_FILE.read_text().strip()

        if account is None:
            key = accounts.create_account(DEV_ACCOUNT).secret
        else:
            key = accounts.create_key(account).secret

    KEY_FILE.write_text(key + "\n")
    KEY_FILE.chmod(0o600)
    return key


def print_welcome(settings: config.Settings, key: str) -> None:
    base = f"http://127.0.0.1:{settings.port}"
    click.echo(f"modelhooks dev: serving {base} on {settings.database_url}")
    click.echo(f"API key of account {DEV_ACCOUNT!r}: {key}")
    click.echo("Try:")
    click.echo(
        f"  curl -s -X POST {base}/cloud/callback/model_status "
        f"-H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
        """-d '{"url": "http://127.0.0.1:9000/hook"}'""",
    )
    click.echo("and, to see its deliveries, a receiver on port 9000 in another "
               "terminal: .venv/bin/python examples/print_receiver.py")


def serve_api(settings: config.Settings, celery_app) -> None:
    """Serve the API from a background thread, publishing to ``celery_app``."""
    from app.api import build_app
    from app.broker import Broker

    app = build_app(settings, broker=Broker(settings.redis_url, celery_app=celery_app))
    server = make_server("127.0.0.1", settings.port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="modelhooks-web",
                     daemon=True).start()


def run_sweeps(settings: config.Settings, stop: threading.Event) -> None:
    """Beat's job, in a thread: sweep every ``sweep_interval`` seconds."""
    from workers import tasks

    def loop() -> None:
        while not stop.wait(settings.sweep_interval):
            try:
                tasks.sweep()
            except Exception:
                log.exception("sweep failed; trying again in %s s",
                              settings.sweep_interval)

    threading.Thread(target=loop, name="modelhooks-beat", daemon=True).start()


@click.command()
def dev() -> None:
    """Run web, worker and beat in one process on SQLite (127.0.0.1 only)."""
    settings = use_dev_environment()
    db.open_database(settings.database_url)
    with db.connection():
        migrations.migrate()
    key = local_key()

    from workers.celery_app import celery_app

    serve_api(settings, celery_app)
    stop = threading.Event()
    run_sweeps(settings, stop)
    print_welcome(settings, key)

    worker = celery_app.Worker(pool="threads", concurrency=WORKER_THREADS,
                               loglevel=settings.log_level, without_heartbeat=True,
                               without_mingle=True, without_gossip=True, quiet=True)
    try:
        worker.start()
    finally:
        stop.set()
