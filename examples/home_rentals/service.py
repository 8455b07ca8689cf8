"""How the example's scripts reach modelhooks: a base URL and an API key.

Both come from the environment (``MODELHOOKS_URL``, ``MODELHOOKS_API_KEY``).
Without a key in the environment, the key file that ``modelhooks dev`` writes in
its working directory is read, so the scripts work from the repository root
next to ``make dev`` with no set-up.
"""

from __future__ import annotations

import os
from pathlib import Path

import requests

DEFAULT_URL = "http://127.0.0.1:5000"
DEV_KEY_FILE = Path(".modelhooks-dev-key")
TIMEOUT_SECONDS = 10


class ServiceError(Exception):
    """modelhooks answered with an error, or could not be reached."""


class Service:
    """A thin client for the few endpoints the example uses."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    @classmethod
    def from_env(cls) -> Service:
        base_url = os.environ.get("MODELHOOKS_URL", DEFAULT_URL)
        api_key = os.environ.get("MODELHOOKS_API_KEY") or _dev_key()
        return cls(base_url, api_key)

    def post(self, path: str, body: dict) -> dict:
        return self._send("POST", path, json=body)

    def delete(self, path: str) -> dict:
        return self._send("DELETE", path)

    def _send(self, method: str, path: str, **kwargs) -> dict:
        url = self.base_url + path
        try:
            response = self.session.request(
                method, url, timeout=TIMEOUT_SECONDS, **kwargs
            )
        except requests.RequestException as error:
            raise ServiceError(f"{method} {url} failed: {error}") from None

        if not response.ok:
            raise ServiceError(
                f"{method} {url} answered {response.status_code}: {response.text}"
            )
        return response.json()


def _dev_key() -> str:
    if not DEV_KEY_FILE.exists():
        raise ServiceError(
            "no API key: set MODELHOOKS_API_KEY, or run from the directory where "
            f"`modelhooks dev` wrote {DEV_KEY_FILE}"
        )
    return DEV_KEY_FILE.read_text().strip()
