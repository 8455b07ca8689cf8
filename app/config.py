"""Settings read from the environment, Heroku style, and checked once at start.

Every process (web, worker, beat, the CLI) builds one ``Settings`` from the same
variables, so ``DATABASE_URL=... modelhooks accounts create acme`` and the web
process act on the same database. A bad value stops the process with one line
naming the variable and the rule it breaks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///modelhooks.db"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_TRIGGER_STATUSES = ("complete", "error")


@dataclass(frozen=True)
class Settings:
    """Everything the processes need to know about their surroundings."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    port: int = 5000
    allow_private_targets: bool = False
    trigger_statuses: frozenset[str] = field(
        default_factory=lambda: frozenset(DEFAULT_TRIGGER_STATUSES)
    )
    max_body_bytes: int = 64 * 1024
    # Longest wait between two attempts, whatever a Retry-After asks for.
    max_retry_interval: float = 3600.0
    response_excerpt_bytes: int = 1024
    # How often beat looks for events and deliveries that fell out of Redis.
    sweep_interval: float = 30.0
    # A delivery whose attempt is this late, or whose sender stopped answering
    # this long ago, is considered lost by its worker and published again.
    sweep_grace: float = 60.0
    # How long Redis waits for a message's acknowledgement before handing it
    # out again; None lets the worker derive it from the longest retry wait.
    visibility_timeout: float | None = None
    # Concurrent first attempts made inside one fan-out task.
    fan_out_concurrency: int = 50
    # How long a drain with nothing to do keeps watching for new events
    # (seconds; 0: it ends as soon as none is waiting).
    drain_linger: float = 10.0
    # Callbacks a worker process keeps matched, across accounts (about 1.6 KB
    # each; 0 keeps none): see ``workers.callback_cache``.
    callback_cache: int = 5000
    log_level: str = "INFO"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build ``Settings`` from ``environ`` (``os.environ`` by default)."""
    env = os.environ if environ is None else environ

    return Settings(
        database_url=_url(env, "DATABASE_URL", DEFAULT_DATABASE_URL,
                          ("sqlite", "postgres", "postgresql")),
        redis_url=_url(env, "REDIS_URL", DEFAULT_REDIS_URL,
                       ("redis", "rediss", "memory")),
        port=_integer(env, "PORT", 5000, 1, 65535),
        allow_private_targets=_boolean(env, "MODELHOOKS_ALLOW_PRIVATE_TARGETS", False),
        trigger_statuses=_statuses(env, "MODELHOOKS_TRIGGER_STATUSES"),
        max_retry_interval=_number(env, "MODELHOOKS_MAX_RETRY_INTERVAL", 3600.0,
                                   0, 86400),
        response_excerpt_bytes=_integer(env, "MODELHOOKS_RESPONSE_EXCERPT_BYTES",
                                        1024, 0, 65536),
        sweep_interval=_number(env, "MODELHOOKS_SWEEP_INTERVAL", 30.0, 0.1, 3600),
        sweep_grace=_number(env, "MODELHOOKS_SWEEP_GRACE", 60.0, 0.1, 86400),
        visibility_timeout=_optional_number(env, "MODELHOOKS_VISIBILITY_TIMEOUT",
                                            1, 7 * 86400),
        fan_out_concurrency=_integer(env, "MODELHOOKS_FAN_OUT_CONCURRENCY", 50, 1, 500),
        drain_linger=_number(env, "MODELHOOKS_DRAIN_LINGER", 10.0, 0, 50),
        callback_cache=_integer(env, "MODELHOOKS_CALLBACK_CACHE", 5000, 0, 1_000_000),
        log_level=_choice(env, "MODELHOOKS_LOG_LEVEL", "INFO",
                          ("DEBUG", "INFO", "WARNING", "ERROR")),
    )


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _url(env, name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = _raw(env, name) or default
    scheme = value.split(":", 1)[0].lower()
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ConfigError(name, f"must start with one of {allowed}; got {value!r}")
    return value


def _integer(env, name: str, default: int, low: int, high: int) -> int:
    return _bounded(env, name, default, low, high, int, "a whole number")


def _number(env, name: str, default: float, low: float, high: float) -> float:
    return _bounded(env, name, default, low, high, float, "a number of seconds")


def _optional_number(env, name: str, low: float, high: float) -> float | None:
    if _raw(env, name) is None:
        return None
    return _number(env, name, 0.0, low, high)


def _bounded(env, name, default, low, high, parse, kind):
    value = _raw(env, name)
    if value is None:
        return default
    try:
        number = parse(value)
    except ValueError:
        raise ConfigError(name, f"must be {kind}; got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(name, f"must be between {low} and {high}; got {value!r}")
    return number


def _boolean(env, name: str, default: bool) -> bool:
    value = _raw(env, name)
    if value is None:
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ConfigError(name, f"must be true or false; got {value!r}")


def _choice(env, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(env, name)
    if value is None:
        return default
    if value.upper() not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}; got {value!r}")
    return value.upper()


def _statuses(env, name: str) -> frozenset[str]:
    value = _raw(env, name)
    if value is None:
        return frozenset(DEFAULT_TRIGGER_STATUSES)
    statuses = frozenset(s.strip() for s in value.split(",") if s.strip())
    if not statuses:
        raise ConfigError(name, f"must list at least one status; got {value!r}")
    return statuses
