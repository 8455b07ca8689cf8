"""An asyncio event loop on a thread of its own, for callers on ordinary threads.

Celery runs tasks on plain threads (or in forked children); a ``LoopThread``
lets any of them run a coroutine to its end and wait for the result, while
the coroutines of all of them share one loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")


class LoopThread:
    """Starts a loop on a daemon thread; ``stop`` ends it and closes it."""

    def __init__(self, name: str, executor_threads: int = 8) -> None:
        self.loop = asyncio.new_event_loop()
        # The loop's executor (``run_in_executor(None, ...)``), ours so that
        # stopping never waits for a thread stuck in a blocking call.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            executor_threads, thread_name_prefix=f"{name}-blocking")
        self.loop.set_default_executor(self._executor)
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(started,), name=name, daemon=True
        )
        self._thread.start()
        started.wait()

    def run(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        """Run ``coroutine`` on the loop; block the calling thread until it ends."""
        return self.submit(coroutine).result()

    def submit(self, coroutine: Coroutine[Any, Any, Result]
               ) -> concurrent.futures.Future[Result]:
        """Schedule ``coroutine`` on the loop; its future, for any thread to wait on."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def stop(self, last: Callable[[], object] = lambda: None) -> None:
        """End the loop: cancel what still runs, call ``last`` on it, stop, close.

        A caller still waiting in ``run`` gets ``CancelledError``.
        """
        if not self._thread.is_alive():
            return
        self.run(_wind_down(last))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self._executor.shutdown(wait=False, cancel_futures=True)
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
