"""``modelhooks dev``: the whole service in one process, for trying and developing.

It runs on SQLite with no Redis: the API is served on 127.0.0.1, and private
targets are allowed so that a receiver on the same machine works. The local
account's key is kept in ``.modelhooks-dev-key`` so that each start can print it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import click

from app import accounts, config, db, migrations
from app.api import build_app
from app.models import Account

log = logging.getLogger("modelhooks.dev")

DEV_ACCOUNT = "local"
KEY_FILE = Path(".modelhooks-dev-key")


def dev_settings() -> config.Settings:
    """The environment's settings with the dev defaults filled in."""
    environ = dict(os.environ)
    environ.setdefault("MODELHOOKS_ALLOW_PRIVATE_TARGETS", "true")
    settings = config.from_env(environ)
    return dataclasses.replace(settings, redis_url=environ.get("REDIS_URL", "memory://"))


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
        """-d '{"url": "http://127.0.0.1:9000/hook"}'"""
    )


@click.command()
def dev() -> None:
    """Run web, worker and beat in one process on SQLite (127.0.0.1 only)."""
    settings = dev_settings()
    db.open_database(settings.database_url)
    with db.connection():
        migrations.migrate()
    key = local_key()

    app = build_app(settings)
    print_welcome(settings, key)
    app.run(host="127.0.0.1", port=settings.port, threaded=True)
