"""Settings from the environment; a bad value names its variable."""

from __future__ import annotations

import pytest

from app.config import Settings, from_env
from app.errors import ConfigError


def test_an_empty_environment_gives_the_embedded_defaults():
    settings = from_env({})

    assert settings == Settings()
    assert settings.database_url == "sqlite:///modelhooks.db"
    assert settings.allow_private_targets is False
    assert settings.trigger_statuses == frozenset({"complete", "error"})
    assert settings.drain_linger == 10.0
    assert settings.callback_cache == 5000


def test_values_are_read_from_the_heroku_style_variables():
    settings = from_env({
        "DATABASE_URL": "postgresql://u@db:5432/hooks",
        "REDIS_URL": "redis://cache:6379/2",
        "PORT": "8080",
        "MODELHOOKS_ALLOW_PRIVATE_TARGETS": "TRUE",
        "MODELHOOKS_TRIGGER_STATUSES": "complete, error,failed",
        "MODELHOOKS_DRAIN_LINGER": "0",
        "MODELHOOKS_CALLBACK_CACHE": "0",
    })

    assert settings.database_url == "postgresql://u@db:5432/hooks"
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.port == 8080
    assert settings.allow_private_targets is True
    assert settings.trigger_statuses == frozenset({"complete", "error", "failed"})
    assert settings.drain_linger == 0.0
    assert settings.callback_cache == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x/y",
         "DATABASE_URL: must start with one of sqlite://, postgres://, postgresql://; "
         "got 'mysql://x/y'"),
        ("REDIS_URL", "amqp://x", "REDIS_URL: must start with one of redis://, "
                                  "rediss://, memory://; got 'amqp://x'"),
        ("PORT", "eighty", "PORT: must be a whole number; got 'eighty'"),
        ("PORT", "70000", "PORT: must be between 1 and 65535; got '70000'"),
        ("MODELHOOKS_ALLOW_PRIVATE_TARGETS", "yes",
         "MODELHOOKS_ALLOW_PRIVATE_TARGETS: must be true or false; got 'yes'"),
        ("MODELHOOKS_SWEEP_INTERVAL", "soon",
         "MODELHOOKS_SWEEP_INTERVAL: must be a number of seconds; got 'soon'"),
        ("MODELHOOKS_VISIBILITY_TIMEOUT", "0.5",
         "MODELHOOKS_VISIBILITY_TIMEOUT: must be between 1 and 604800; got '0.5'"),
        ("MODELHOOKS_TRIGGER_STATUSES", ",",
         "MODELHOOKS_TRIGGER_STATUSES: must list at least one status; got ','"),
        ("MODELHOOKS_DRAIN_LINGER", "61",
         "MODELHOOKS_DRAIN_LINGER: must be between 0 and 50; got '61'"),
        ("MODELHOOKS_CALLBACK_CACHE", "5k",
         "MODELHOOKS_CALLBACK_CACHE: must be a whole number; got '5k'"),
        ("MODELHOOKS_CALLBACK_CACHE", "-1",
         "MODELHOOKS_CALLBACK_CACHE: must be between 0 and 1000000; got '-1'"),
        ("MODELHOOKS_LOG_LEVEL", "LOUD",
         "MODELHOOKS_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR; "
         "got 'LOUD'"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isupper() else None,
)
def test_a_bad_value_is_one_error_naming_the_variable(variable, value, message):
    with pytest.raises(ConfigError) as raised:
        from_env({variable: value})

    assert str(raised.value) == message
    assert raised.value.variable == variable


def test_the_visibility_timeout_is_unset_unless_given():
    assert from_env({}).visibility_timeout is None
    assert from_env({"MODELHOOKS_VISIBILITY_TIMEOUT": "2"}).visibility_timeout == 2.0


def test_the_web_app_stops_with_one_line_naming_a_bad_variable(monkeypatch, capsys):
    from app import create_app

    monkeypatch.setenv("PORT", "eighty")

    with pytest.raises(SystemExit) as stopped:
        create_app()

    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "modelhooks: configuration error: PORT: must be a whole number; "
        "got 'eighty'\n")


def test_a_worker_stops_with_one_line_naming_a_bad_variable():
    import os
    import subprocess
    import sys

    env = {**os.environ, "MODELHOOKS_SWEEP_INTERVAL": "soon"}

    done = subprocess.run([sys.executable, "-m", "celery", "-A", "workers", "worker"],
                          env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "modelhooks: configuration error: MODELHOOKS_SWEEP_INTERVAL: must be a "
        "number of seconds; got 'soon'")
