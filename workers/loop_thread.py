"""An asyncio event loop on a thread of its own, for callers on ordinary threads.

Celery runs tasks on plain threads (or in forked children); a ``LoopThread``
lets any of them run a coroutine to its end and wait for the result, while
the coroutines of all of them share one loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")


class LoopThread:
    """Starts a loop on a daemon thread; ``stop`` ends it and closes it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(started,), name=name, daemon=True
        )
        self._thread.start()
        started.wait()

    def run(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        """Run ``coroutine`` on the loop; block the calling thread until it ends."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self, last: Callable[[], object] = lambda: None) -> None:
        """End the loop: cancel what still runs, call ``last`` on it, stop, close.

        A caller still waiting in ``run`` gets ``CancelledError``.
        """
        if not self._thread.is_alive():
            return
        self.run(_wind_down(last))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        self.loop.run_forever()


async def _wind_down(last: Callable[[], object]) -> None:
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    # Only now: a task ending a moment ago may have handed something back.
    last()
