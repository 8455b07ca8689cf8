"""What several fault cases share: finding processes, counting what arrived."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from app import db
from app.models import Delivery, DeliveryState


def children_of(pid: int) -> list[int]:
    """Pids of the live processes whose parent is ``pid``, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, then the parent's pid.
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def busiest(pids: list[int], window: float = 0.3) -> int:
    """The process among ``pids`` that used the most CPU over ``window`` seconds."""
    before = {pid: _cpu_ticks(pid) for pid in pids}
    time.sleep(window)
    return max(pids, key=lambda pid: _cpu_ticks(pid) - before[pid])


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    # utime and stime: the 14th and 15th fields, counted from the pid.
    return int(fields[11]) + int(fields[12])


def report_many(stack, names: list[str], threads: int = 4) -> list[dict]:
    """Post ``complete`` for each model name from a few threads at once."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda name: stack.report(name, "complete"), names))


@dataclass(frozen=True)
class Arrivals:
    """Requests a receiver got, keyed by (path, model name): one per delivery."""

    ids: dict[tuple[str, str], set[str]]
    sends: Counter

    @classmethod
    def of(cls, requests) -> Arrivals:
        ids: dict[tuple[str, str], set[str]] = {}
        sends: Counter = Counter()
        for request in requests:
            key = (request.path, json.loads(request.body)["name"])
            ids.setdefault(key, set()).add(request.headers["webhook-id"])
            sends[key] += 1
        return cls(ids, sends)

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.sends.values())

    @property
    def deliveries_sent_twice(self) -> int:
        return sum(1 for count in self.sends.values() if count > 1)

    @property
    def one_id_per_delivery(self) -> bool:
        return all(len(found) == 1 for found in self.ids.values())


def states() -> Counter:
    """How many deliveries are in each state, read from the database."""
    with db.connection():
        query = Delivery.select(Delivery.state).tuples()
        return Counter(state for (state,) in query)


def all_settled(expected: int) -> bool:
    found = states()
    return found.get(DeliveryState.SUCCEEDED, 0) + found.get(
        DeliveryState.FAILED, 0) >= expected and not (
        found.get(DeliveryState.PENDING) or found.get(DeliveryState.SENDING))


def since(began: float) -> float:
    return round(time.monotonic() - began, 2)
