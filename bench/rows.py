"""A row of the benchmark's table: one workload measured on one system."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Row:
    workload: str
    system: str
    rate: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    rss_mb: float | None = None
    limit: float | None = None
    notes: list[str] = field(default_factory=list)
    # One event's fan-out: ms from the report to the first arrival, and from
    # the first arrival to the last (what the worker does before its first
    # POST, and the POSTs themselves).
    halves: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        if self.rate is None or not self.limit:
            return None
        return self.rate / self.limit
