"""The API client: callbacks, their deliveries log, and status reports."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from modelhooks_sdk._errors import (
    APIError,
    ModelhooksError,
    NetworkError,
    error_class_for,
)
from modelhooks_sdk._models import Callback, DeliveryPage, StatusReport
from modelhooks_sdk._retry import retry_delay
from modelhooks_sdk._times import to_wire
from modelhooks_sdk._version import __version__

log = logging.getLogger("modelhooks_sdk")

CALLBACKS_PATH = "/cloud/callback/model_status"
STATUS_PATH = "/cloud/model_status"

# requests' errors that mean "no usable answer came": the call may be tried again.
# The rest of requests' errors (a malformed URL or header) are the caller's mistake.
NO_ANSWER_ERRORS: tuple[type[requests.RequestException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

Result = TypeVar("Result")


class Client:
    """A connection to a modelhooks (or MindsDB Cloud callbacks) service.

    One ``requests.Session`` carries every call, so connections are reused; pass
    your own ``session`` to add adapters, proxies or a test transport. GET, PUT
    and DELETE are tried again up to ``max_retries`` times when no answer comes
    or the answer is 502, 503 or 504; POST never is (see ``_retry``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        max_retries: int = 2,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"base_url must be an http or https URL with a host; got {base_url!r}"
            )
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more; got {max_retries!r}")

        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self._api_key = api_key
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._sleep: Callable[[float], None] = time.sleep

    def close(self) -> None:
        """Close the connections, unless the session was handed in."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_callback(
        self,
        url: str,
        *,
        model_name: str | None = None,
        project_name: str | None = None,
        count: int | None = None,
        interval: float | None = None,
        http_timeout: float | None = None,
    ) -> Callback:
        """Register ``url``; the result's ``secret`` is shown this once, keep it."""
        body: dict[str, Any] = {"url": url}
        body.update(_nested(model_name, project_name, count, interval, http_timeout))
        answer = self._request("POST", CALLBACKS_PATH, json=body)
        return _parsed(Callback.from_dict, answer)

    def list_callbacks(self) -> list[Callback]:
        answer = self._request("GET", CALLBACKS_PATH)
        return [_parsed(Callback.from_dict, item) for item in answer]

    def get_callback(self, id: int) -> Callback:
        answer = self._request("GET", _callback_path(id))
        return _parsed(Callback.from_dict, answer)

    def edit_callback(
        self,
        id: int,
        *,
        url: str | None = None,
        model_name: str | None = None,
        project_name: str | None = None,
        count: int | None = None,
        interval: float | None = None,
        http_timeout: float | None = None,
        enabled: bool | None = None,
    ) -> Callback:
        """Change only the given fields; ``filter`` and ``attempt`` are merged."""
        body: dict[str, Any] = {} if url is None else {"url": url}
        body.update(_nested(model_name, project_name, count, interval, http_timeout))
        if enabled is not None:
            body["enabled"] = enabled
        answer = self._request("PUT", _callback_path(id), json=body)
        return _parsed(Callback.from_dict, answer)

    def delete_callback(self, id: int) -> None:
        self._request("DELETE", _callback_path(id))

    def list_deliveries(
        self, id: int, limit: int = 20, offset: int = 0
    ) -> DeliveryPage:
        """The callback's deliveries, newest first, each with every attempt."""
        params = {"limit": limit, "offset": offset}
        answer = self._request("GET", _callback_path(id) + "/deliveries", params=params)
        return _parsed(DeliveryPage.from_dict, answer)

    def report_status(
        self,
        project_name: str,
        name: str,
        version: int,
        status: str,
        *,
        predictor_id: int | None = None,
        active: bool | None = None,
        predictor_created_at: datetime | str | None = None,
        changed_at: datetime | str | None = None,
        old_status: str | None = None,
    ) -> StatusReport:
        """Tell the service a model version has a new status (producer side)."""
        body: dict[str, Any] = {
            "project_name": project_name,
            "name": name,
            "version": version,
            "status": status,
        }
        optional = {
            "predictor_id": predictor_id,
            "active": active,
            "old_status": old_status,
        }
        body.update(
            {key: value for key, value in optional.items() if value is not None}
        )
        for key, moment in (
            ("predictor_created_at", predictor_created_at),
            ("changed_at", changed_at),
        ):
            if moment is not None:
                body[key] = to_wire(moment)

        answer = self._request("POST", STATUS_PATH, json=body)
        return _parsed(StatusReport.from_dict, answer)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self.base_url + path
        headers = self._headers(method)

        retries_made = 0
        while True:
            try:
                response = self._send(method, url, headers, **kwargs)
            except NetworkError:
                delay = retry_delay(method, retries_made, self.max_retries)
                if delay is None:
                    raise
            else:
                if 200 <= response.status_code < 300:
                    return _json(response, method, url)
                delay = retry_delay(
                    method,
                    retries_made,
                    self.max_retries,
                    status_code=response.status_code,
                    retry_after=response.headers.get("Retry-After"),
                )
                if delay is None:
                    raise _api_error(response, method, url)

            log.debug("retrying %s %s in %.2fs", method, url, delay)
            self._sleep(delay)
            retries_made += 1

    def _headers(self, method: str) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": f"modelhooks-sdk-python/{__version__}",
        }
        # The same key would go with every retry of this call; see _retry for why
        # POSTs are not retried until the service honours it.
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        return headers

    def _send(
        self, method: str, url: str, headers: dict[str, str], **kwargs: Any
    ) -> requests.Response:
        try:
            return self._session.request(
                method,
                url,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as error:
            raise translate_error(error, method, url) from error


def translate_error(
    error: requests.RequestException, method: str, url: str
) -> ModelhooksError:
    """requests' exception as the SDK's: NetworkError when no answer came."""
    if isinstance(error, NO_ANSWER_ERRORS):
        kind = "timed out" if isinstance(error, requests.Timeout) else "failed"
        return NetworkError(f"{method} {url} {kind}: {error}", method=method, url=url)
    return ModelhooksError(f"{method} {url} could not be sent: {error}")


def _nested(
    model_name: str | None,
    project_name: str | None,
    count: int | None,
    interval: float | None,
    http_timeout: float | None,
) -> dict[str, dict[str, Any]]:
    # Only the given values are sent: the service fills in (or keeps) the rest.
    filter_ = {"model_name": model_name, "project_name": project_name}
    attempt = {"count": count, "interval": interval, "http_timeout": http_timeout}
    body = {}
    for key, values in (("filter", filter_), ("attempt", attempt)):
        given = {name: value for name, value in values.items() if value is not None}
        if given:
            body[key] = given
    return body


def _callback_path(callback_id: int) -> str:
    if isinstance(callback_id, bool) or not isinstance(callback_id, int):
        raise ValueError(f"a callback id must be an integer; got {callback_id!r}")
    return f"{CALLBACKS_PATH}/{callback_id}"


def _json(response: requests.Response, method: str, url: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise APIError(
            f"the answer is not JSON (Content-Type "
            f"{response.headers.get('Content-Type')!r})",
            status_code=response.status_code,
            code="invalid_answer",
            method=method,
            url=url,
        ) from None


def _api_error(response: requests.Response, method: str, url: str) -> APIError:
    """The error envelope ``{"error": {code, message, fields}}`` as an exception."""
    try:
        envelope = response.json()
    except ValueError:
        envelope = None
    error = envelope.get("error") if isinstance(envelope, dict) else None
    error = error if isinstance(error, dict) else {}

    status = response.status_code
    message = error.get("message") or response.reason or f"HTTP {status}"
    return error_class_for(status)(
        str(message),
        status_code=status,
        code=str(error.get("code", "http_error")),
        fields=error.get("fields") or {},
        method=method,
        url=url,
    )


def _parsed(factory: Callable[[Any], Result], data: Any) -> Result:
    try:
        return factory(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelhooksError(
            f"the answer does not have the documented shape: {error!r}"
        ) from None
