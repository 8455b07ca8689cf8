"""The benchmark's receiver: a fast aiohttp server on loopback that logs arrivals.

Each callback URL is ``/<mode>/<tag>``: the mode says how to answer, the tag
groups the arrivals of one workload. Modes:

- ``ok``: 200 at once;
- ``fail2``: 500 for the first two arrivals of a ``webhook-id``, then 200;
- ``fail``: 500 always;
- ``slow``: 200 after ``SLOW_SECONDS``.

``GET /_arrivals/<tag>`` answers every arrival of the tag as
``[unix_time, webhook_id, model_name, status]`` rows (django-webhook sends no
``webhook-id``: its rows have an empty one); ``GET /_count/<tag>``
only how many there were. Run as ``python -m bench.receiver PORT``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter, defaultdict

from aiohttp import web

SLOW_SECONDS = 0.1
FAILURES_BEFORE_SUCCESS = 2


class Arrivals:
    def __init__(self) -> None:
        self.rows: dict[str, list[list]] = defaultdict(list)
        self.seen: Counter[str] = Counter()

    async def callback(self, request: web.Request) -> web.Response:
        arrived = time.time()
        mode, tag = request.match_info["mode"], request.match_info["tag"]
        body = await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        name = _model_name(body)

        if mode == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        status = 200
        if mode == "fail":
            status = 500
        elif mode == "fail2":
            self.seen[webhook_id] += 1
            if self.seen[webhook_id] <= FAILURES_BEFORE_SUCCESS:
                status = 500

        self.rows[tag].append([arrived, webhook_id, name, status])
        return web.Response(status=status, body=b"ok")

    async def arrivals(self, request: web.Request) -> web.Response:
        return web.json_response(self.rows.get(request.match_info["tag"], []))

    async def count(self, request: web.Request) -> web.Response:
        return web.json_response(len(self.rows.get(request.match_info["tag"], [])))


def _model_name(body: bytes) -> str | None:
    """The model's name: on top in modelhooks' payload, under ``object`` in
    django-webhook's (the saved row)."""
    try:
        payload = json.loads(body)
        return payload.get("name") or payload.get("object", {}).get("name")
    except (ValueError, AttributeError):
        return None


def make_app() -> web.Application:
    arrivals = Arrivals()
    app = web.Application()
    app.router.add_get("/_arrivals/{tag}", arrivals.arrivals)
    app.router.add_get("/_count/{tag}", arrivals.count)
    app.router.add_post("/{mode}/{tag}", arrivals.callback)
    return app


def main() -> None:
    import uvloop

    port = int(sys.argv[1])
    uvloop.install()
    web.run_app(make_app(), host="127.0.0.1", port=port, access_log=None,
                backlog=1024, print=lambda *_: print("receiver ready.", flush=True))


if __name__ == "__main__":
    main()
