"""Exceptions of the SDK, under one base: callers can catch "anything from us".

::

    ModelhooksError
     +-- APIError                  the service answered with an error status
     |    +-- ValidationError      400: the input breaks a rule; ``fields`` names each
     |    +-- AuthenticationError  401: no API key, or an unknown or revoked one
     |    +-- NotFoundError        404: unknown id, or another account's id
     |    +-- ServerError          5xx, 503 included: try again later
     +-- NetworkError              no answer: refused, reset, timed out
     +-- WebhookVerificationError  a callback request is not genuine, or malformed

Every ``APIError`` carries the HTTP ``status_code``, the service's stable error
``code`` and its ``message``, plus the ``method`` and ``url`` of the request.
"""

from __future__ import annotations


class ModelhooksError(Exception):
    """Base of every exception the SDK raises on purpose."""


class APIError(ModelhooksError):
    """The service answered with an error; the envelope's parts are kept."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str = "http_error",
        fields: dict[str, list[str]] | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.fields: dict[str, list[str]] = fields or {}
        self.method = method
        self.url = url

    def __str__(self) -> str:
        return f"{self.method} {self.url} answered {self.status_code}: {self.message}"


class ValidationError(APIError):
    """400: ``fields`` maps each bad field's path (``attempt.count``) to messages."""


class AuthenticationError(APIError):
    """401: the API key is missing, unknown or revoked."""


class NotFoundError(APIError):
    """404: no such callback in this account."""


class ServerError(APIError):
    """5xx: the service or one of its dependencies failed; the call may be retried."""


class NetworkError(ModelhooksError):
    """No answer came: the connection was refused or reset, or it timed out."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class WebhookVerificationError(ModelhooksError):
    """A callback request failed verification.

    Messages stay short and generic on purpose: they must not help a forger.
    """


ERRORS_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    404: NotFoundError,
}


def error_class_for(status_code: int) -> type[APIError]:
    """The most specific exception class for an error status."""
    if status_code >= 500:
        return ServerError
    return ERRORS_BY_STATUS.get(status_code, APIError)
