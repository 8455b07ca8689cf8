"""CPU per POST of each way to send a batch, measured in one run on loopback.

Posts ``BENCH_POSTS`` (2,000) callback-sized signed bodies to the benchmark
receiver (``bench.receiver``, started here on 127.0.0.1 and stopped by its pid)
through each contender, ``BENCH_ROUNDS`` (3) rounds, and prints this process's
CPU time per POST (``time.process_time``: every thread of this process, not
the receiver) and the rate:

- ``batch``: ``BatchTransport.post_many``, 50 in flight, as the worker sends;
- ``aiohttp``: aiohttp's client with the same checks around it (the URL
  checked and pinned by ``resolve_destination``, the checked address dialled,
  Host and SNI naming the host, no redirects, the body read up to the cap).

Run as ``python -m bench.transport``; it takes about half a minute.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable

import aiohttp

from app.signing import signature_headers
from app.targets import resolve_destination
from bench.services import free_port, wait_for_port
from workers.batch_transport import BatchTransport, PostRequest
from workers.transport import AttemptResult, answered, request_headers

POSTS = int(os.environ.get("BENCH_POSTS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
IN_FLIGHT = 50
EXCERPT_LIMIT = 1024
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = (
    b'{"name":"home_rentals","version":1,"active":true,"predictor_id":123,'
    b'"project_name":"mindsdb","predictor_created_at":"Fri, 09 Sep 2023 11:50:27 '
    b'GMT","old_status":"training","new_status":"complete","changed_at":"Fri, 09 '
    b'Sep 2023 11:59:00 GMT"}'
)


def batch_of_requests(port: int, tag: str) -> list[PostRequest]:
    url = f"http://127.0.0.1:{port}/ok/{tag}"
    requests = []
    for number in range(POSTS):
        headers = {"Content-Type": "application/json", "User-Agent": "modelhooks/0"}
        message_id = f"msg_{tag}_{number}"
        headers.update(signature_headers(SECRET, message_id, BODY, int(time.time())))
        requests.append(PostRequest(url, BODY, headers, 10.0))
    return requests


async def on_aiohttp(requests: list[PostRequest]) -> list[AttemptResult]:
    places = asyncio.Semaphore(IN_FLIGHT)
    connector = aiohttp.TCPConnector(limit=0, use_dns_cache=False)
    async with aiohttp.ClientSession(
        connector=connector, auto_decompress=False
    ) as session:

        async def post(request: PostRequest) -> AttemptResult:
            async with places:
                pinned = resolve_destination(request.url, allow_private=True)
                url = f"{pinned.scheme}://{pinned.ip}:{pinned.port}{pinned.target}"
                headers = request_headers(pinned, dict(request.headers))
                async with session.post(
                    url,
                    data=request.body,
                    headers=headers,
                    allow_redirects=False,
                    server_hostname=pinned.host,
                    timeout=aiohttp.ClientTimeout(total=request.timeout),
                ) as response:
                    data = await response.content.read(EXCERPT_LIMIT + 1)
                    retry_after = response.headers.get("Retry-After")
                    return answered(response.status, data, EXCERPT_LIMIT, retry_after)

        return await asyncio.gather(*(post(request) for request in requests))


def measure(name: str, send: Callable[[list[PostRequest]], list], port: int) -> None:
    requests = batch_of_requests(port, name)
    cpu, wall = time.process_time(), time.monotonic()
    results = send(requests)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall

    ok = sum(1 for result in results if result.ok)
    print(
        f"{name:8} {ok:>5}/{len(results)} ok  CPU per POST {cpu / POSTS * 1e3:.3f} ms"
        f"  {POSTS / wall:>7,.0f} POSTs/s",
        flush=True,
    )


def main() -> None:
    port = free_port()
    command = [sys.executable, "-m", "bench.receiver", str(port)]
    receiver = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    batched = BatchTransport(
        allow_private=True, concurrency=IN_FLIGHT, connections_per_pool=IN_FLIGHT
    )
    loop = asyncio.new_event_loop()
    try:
        wait_for_port(port)
        print(f"{POSTS} POSTs per round, {IN_FLIGHT} in flight, load {os.getloadavg()}")
        for _ in range(ROUNDS):
            measure("batch", batched.post_many, port)
            measure("aiohttp", lambda r: loop.run_until_complete(on_aiohttp(r)), port)
    finally:
        batched.close()
        loop.close()
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
