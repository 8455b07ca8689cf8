"""The ``modelhooks`` command line against a real database file."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app import accounts, db
from workers.cli import cli


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    yield invoke
    db.database.close()


def test_migrate_is_idempotent(run):
    first = run("migrate")
    second = run("migrate")

    assert first.exit_code == 0
    assert first.output.strip() == "applied migrations: 1, 2, 3, 4"
    assert second.exit_code == 0 and second.output.strip() == "schema is up to date"


def test_accounts_create_prints_a_working_key_alone_on_the_last_line(run):
    run("migrate")

    result = run("accounts", "create", "acme")

    assert result.exit_code == 0
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("mh_") and " " not in key
    with db.connection():
        assert accounts.authenticate(f"Bearer {key}").name == "acme"


def test_keys_create_and_revoke(run):
    run("migrate")
    run("accounts", "create", "acme")

    created = run("keys", "create", "acme")
    key = created.output.strip().splitlines()[-1]
    key_id = int(created.output.split("created key id ")[1].split()[0])
    revoked = run("keys", "revoke", str(key_id))

    assert created.exit_code == 0 and revoked.exit_code == 0
    assert revoked.output.strip() == f"revoked key id {key_id} of account 'acme'"
    with db.connection(), pytest.raises(accounts.Unauthorized):
        accounts.authenticate(f"Bearer {key}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("accounts", "create", "acme"),
         "Error: name: an account named 'acme' exists already"),
        (("keys", "create", "nobody"), "Error: no account named 'nobody'"),
        (("keys", "revoke", "999"), "Error: no API key with id 999"),
    ],
    ids=["duplicate-account", "unknown-account", "unknown-key"],
)
def test_mistakes_are_one_clear_line_and_exit_1(run, args, message):
    run("migrate")
    run("accounts", "create", "acme")

    result = run(*args)

    assert result.exit_code == 1
    assert result.output.strip() == message


def test_a_bad_argument_names_the_argument(run):
    result = run("keys", "revoke", "zero")

    assert result.exit_code == 2
    assert "KEY_ID" in result.output
    assert "'zero' is not a valid integer" in result.output


def test_a_bad_setting_stops_the_command_with_the_variable_named(run, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")

    result = run("migrate")

    assert result.exit_code == 2
    assert result.output.strip() == (
        "modelhooks: configuration error: DATABASE_URL: must start with one of "
        "sqlite://, postgres://, postgresql://; got 'mysql://nope'")


def test_commands_before_migrate_say_to_migrate(run):
    result = run("accounts", "create", "acme")

    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: the schema is not up to date: run 'modelhooks migrate'")
