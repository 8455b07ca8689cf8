"""The ``modelhooks`` command line: schema migrations, accounts and keys.

Every command reads the same environment as the processes, so
``DATABASE_URL=... modelhooks accounts create acme`` acts on that database.
"""

from __future__ import annotations

import functools
import logging
import sys

import click

from app import accounts, config, db, migrations
from app.errors import ConfigError, DependencyUnavailable, InvalidInput, NotFound


def settings_from_env() -> config.Settings:
    """The settings, or exit with the one line that names the bad variable."""
    try:
        return config.from_env()
    except ConfigError as error:
        click.echo(f"modelhooks: configuration error: {error}", err=True)
        sys.exit(2)


def with_database(command):
    """Open the configured database around a command; report failures in one line."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        settings = settings_from_env()
        db.open_database(settings.database_url)
        try:
            with db.connection():
                return command(*args, **kwargs)
        except (InvalidInput, NotFound) as error:
            raise click.ClickException(str(error)) from None
        except db.UNAVAILABLE_ERRORS + (DependencyUnavailable,) as error:
            raise click.ClickException(f"database unavailable: {error}") from None

    return wrapper


@click.group()
@click.version_option(package_name="modelhooks")
def cli() -> None:
    """modelhooks: callbacks for machine-learning model status changes."""
    logging.basicConfig(level=logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@with_database
def migrate() -> None:
    """Bring the database schema up to date (safe to run again)."""
    applied = migrations.migrate()
    if applied:
        click.echo(f"applied migrations: {', '.join(map(str, applied))}")
    else:
        click.echo("schema is up to date")


@cli.group("accounts")
def accounts_group() -> None:
    """Manage accounts."""


@accounts_group.command("create")
@click.argument("name")
@with_database
def create_account(name: str) -> None:
    """Create account NAME; its first API key is printed alone on the last line."""
    _require_schema()
    key = accounts.create_account(name)
    click.echo(f"created account {name!r} (id {key.account.id}) with key id {key.id}")
    click.echo("this API key is shown only once:")
    click.echo(key.secret)


@cli.group("keys")
def keys_group() -> None:
    """Manage API keys."""


@keys_group.command("create")
@click.argument("account_name", metavar="NAME")
@with_database
def create_key(account_name: str) -> None:
    """Create another API key for account NAME; the key is on the last line."""
    _require_schema()
    key = accounts.create_key(accounts.find_account(account_name))
    click.echo(f"created key id {key.id} for account {account_name!r}")
    click.echo("this API key is shown only once:")
    click.echo(key.secret)


@keys_group.command("revoke")
@click.argument("key_id", type=click.IntRange(min=1))
@with_database
def revoke_key(key_id: int) -> None:
    """Revoke the API key KEY_ID; requests with it get 401 from now on."""
    _require_schema()
    key = accounts.revoke_key(key_id)
    click.echo(f"revoked key id {key.id} of account {key.account.name!r}")


def _require_schema() -> None:
    if migrations.pending():
        raise click.ClickException(
            "the schema is not up to date: run 'modelhooks migrate'")
