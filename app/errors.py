"""Exceptions raised by modelhooks.

Everything the service raises on purpose derives from ``ModelhooksError``, so a
caller can catch "anything from us" in one clause::

    ModelhooksError
     +-- ConfigError             a setting in the environment is invalid
     +-- InvalidInput            a request, argument or value breaks a rule (400)
     |    +-- DestinationNotAllowed   a callback URL points where we may not POST
     +-- Unauthorized            no API key, or one that is unknown or revoked (401)
     +-- NotFound                unknown id, or another account's id (404)
     +-- DependencyUnavailable   the database or the broker cannot be reached (503)

The HTTP layer turns each of these into the JSON error envelope; workers log
them with the delivery id they concern.
"""

from __future__ import annotations


class ModelhooksError(Exception):
    """Base of every exception modelhooks raises on purpose."""


class ConfigError(ModelhooksError):
    """A configuration value from the environment breaks its rule."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class InvalidInput(ModelhooksError):
    """Input breaks a rule; ``fields`` maps each bad field's path to its messages."""

    def __init__(
        self, message: str, fields: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.fields = fields or {}

    @classmethod
    def for_field(cls, field: str, message: str) -> InvalidInput:
        return cls(f"{field}: {message}", {field: [message]})


class DestinationNotAllowed(InvalidInput):
    """A callback URL is not one modelhooks may POST to (scheme, host or address)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"url: {reason}", {"url": [reason]})
        self.url = url
        self.reason = reason


class Unauthorized(ModelhooksError):
    """The request carries no API key, or one that is unknown or revoked."""


class NotFound(ModelhooksError):
    """The id is unknown, or belongs to another account (indistinguishable)."""


class DependencyUnavailable(ModelhooksError):
    """The database or the broker did not answer; the caller may try again."""
