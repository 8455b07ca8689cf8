"""The callbacks a worker process last matched each account's events against.

A fan-out batch needs every enabled callback of each account it serves, and
their matcher: one query and one build per account per batch, which for an
account of thousands of callbacks is most of what a small batch costs. A
worker keeps them, noted with the account's ``callbacks_stamp`` they were
loaded at, and uses them for as long as the events it takes come with the
same stamp. Every change to an account's callbacks draws a new stamp in the
transaction that makes it (``app.callbacks``), so the same stamp means the
same callbacks.

The cache holds at most ``capacity`` callbacks in all, the accounts used least
recently leaving first; an account with more than that is loaded every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app import callbacks, patterns
from app.models import Callback


@dataclass(frozen=True)
class Matching:
    """An account's enabled callbacks, in id order, and their matcher."""

    stamp: int
    enabled: list[Callback]
    matcher: patterns.Matcher

    @classmethod
    def of(cls, stamp: int, enabled: list[Callback]) -> Matching:
        matcher = patterns.Matcher(
            (index, c.model_name_pattern, c.project_name_pattern)
            for index, c in enumerate(enabled)
        )
        return cls(stamp, enabled, matcher)

    def match(self, model_name: str, project_name: str) -> list[Callback]:
        """The callbacks whose filters both names pass, in id order."""
        return [self.enabled[index]
                for index in self.matcher.match(model_name, project_name)]


class CallbackCache:
    """Each account's ``Matching``, shared by the threads of one process."""

    def __init__(self, capacity: int,
                 load: Callable[[int], list[Callback]] = callbacks.enabled_for
                 ) -> None:
        self.capacity = capacity
        self._load = load
        self._kept: OrderedDict[int, Matching] = OrderedDict()
        self._callbacks_kept = 0
        self._lock = threading.Lock()

    def matching(self, account_id: int, stamp: int) -> Matching:
        """The account's callbacks as of ``stamp``: the kept ones if they were
        loaded at it, else loaded now (in the caller's transaction)."""
        with self._lock:
            kept = self._kept.get(account_id)
            if kept is not None and kept.stamp == stamp:
                self._kept.move_to_end(account_id)
                return kept

        # Loaded after the stamp was read, so at least as recent as it: a
        # change they include drew a new stamp, and the next batch to meet
        # that stamp loads them again.
        fresh = Matching.of(stamp, self._load(account_id))
        self._keep(account_id, fresh)
        return fresh

    def forget_all(self) -> None:
        """Keep nothing: the next batch loads every account it serves."""
        with self._lock:
            self._kept.clear()
            self._callbacks_kept = 0

    def _keep(self, account_id: int, fresh: Matching) -> None:
        if self.capacity == 0 or len(fresh.enabled) > self.capacity:
            return
        with self._lock:
            self._drop(account_id)
            self._kept[account_id] = fresh
            self._callbacks_kept += len(fresh.enabled)
            while self._callbacks_kept > self.capacity:
                self._drop(next(iter(self._kept)))

    def _drop(self, account_id: int) -> None:
        dropped = self._kept.pop(account_id, None)
        if dropped is not None:
            self._callbacks_kept -= len(dropped.enabled)
