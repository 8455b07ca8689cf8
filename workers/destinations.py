"""The checked destinations of one batch: each name looked up and checked once.

A fan-out sends thousands of attempts to a handful of hosts. Within one batch,
``Destinations`` looks each (host, port) up once, off the loop's thread, and
checks it once (``resolve_destination``'s ``checked``); a URL seen before in
the batch gets its ``Destination`` back without parsing it again.

This is safe because it changes nothing an attempt could tell: the batch
already used one lookup answer per (host, port) for all its attempts, and the
check is a pure function of the host, the port and that answer, so doing it
again could only give the same address or the same refusal. Each attempt
still connects to that checked, pinned address, within its own deadline. A
lookup that fails or a host that is refused fails that batch's attempts to
that host, and no others; refusals are not remembered at all. Nothing
outlives the batch: the next one looks every name up and checks it afresh.
"""

from __future__ import annotations

import asyncio
import copy

from app.targets import Destination, Resolver, resolve_destination


class _NotLookedUp(Exception):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.host, self.port = host, port


class Destinations:
    """The destinations of one batch's URLs, for use on the loop's thread only."""

    def __init__(self, resolve: Resolver, allow_private: bool) -> None:
        self._resolve = resolve
        self._allow_private = allow_private
        self._answers: dict[tuple[str, int], asyncio.Future[list[str]]] = {}
        self._checked: dict[tuple[str, int], str] = {}
        self._by_url: dict[str, Destination] = {}

    def known(self, url: str) -> Destination | None:
        """The destination of ``url`` if this batch has already checked it."""
        return self._by_url.get(url)

    async def of(self, url: str) -> Destination:
        """Check ``url``, looking its host up first if this batch has not.

        ``DestinationNotAllowed`` if it is refused, ``OSError`` if the name
        does not resolve.
        """
        while True:
            try:
                destination = resolve_destination(
                    url, allow_private=self._allow_private, resolve=self._answer,
                    checked=self._checked)
            except _NotLookedUp as missing:
                await self._look_up(missing.host, missing.port)
                continue
            self._by_url[url] = destination
            return destination

    def _answer(self, host: str, port: int) -> list[str]:
        looked_up = self._answers.get((host, port))
        if looked_up is None or not looked_up.done():
            raise _NotLookedUp(host, port)
        error = looked_up.exception()
        if error is not None:
            # A copy: raising one exception object many times grows its traceback.
            raise copy.copy(error)
        return looked_up.result()

    async def _look_up(self, host: str, port: int) -> None:
        key = (host, port)
        if key not in self._answers:
            loop = asyncio.get_running_loop()
            self._answers[key] = loop.run_in_executor(None, self._resolve, host, port)
        # asyncio.wait, not await: an attempt whose deadline cancels it must
        # not cancel the lookup that other attempts of the batch wait for.
        await asyncio.wait([self._answers[key]])
