"""``python -m bench.profile FILE [N]``: the functions a py-spy raw profile spent
its samples in, by own time and by time including callees.

Idle samples (threads waiting on a lock, a socket or a queue) are counted apart,
so that the table shows where the CPU went.
"""

from __future__ import annotations

import sys
from collections import Counter

IDLE_MARKERS = ("wait (threading.py", "select (selectors.py", "poll (selectors.py",
                "_worker (concurrent/futures/thread.py", "accept (socket.py",
                "get (queue.py", "sleep", "epoll")


def summarise(path: str, top: int) -> None:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    busy = idle = 0
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(count_text)
            frames = stack.split(";")
            leaf = frames[-1]
            if any(marker in leaf for marker in IDLE_MARKERS):
                idle += count
                continue
            busy += count
            own[leaf] += count
            for frame in set(frames):
                total[frame] += count

    print(f"{path}: {busy} busy samples, {idle} idle")
    print(f"\n{'own %':>6}  function")
    for frame, count in own.most_common(top):
        print(f"{count / busy:6.1%}  {frame}")
    print(f"\n{'incl %':>6}  function")
    for frame, count in total.most_common(top):
        print(f"{count / busy:6.1%}  {frame}")


if __name__ == "__main__":
    summarise(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25)
