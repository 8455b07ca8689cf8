"""The benchmark's verdicts on W1: against the peer of the same run, and fixed."""

from __future__ import annotations

import pytest

from bench.rows import Row
from bench.targets import PEER_ROW, Verdict, target_line, verdicts


def w1_verdicts(rows: list[Row]) -> list[Verdict]:
    return [verdict for verdict in verdicts(rows) if verdict.workload == "W1"]


def test_w1_is_judged_against_three_times_the_peer_then_against_600() -> None:
    rows = [Row("W1", "modelhooks", rate=450.0),
            Row(PEER_ROW, "django-webhook", rate=120.0)]

    relative, fixed = w1_verdicts(rows)

    assert relative.share == pytest.approx(450 / 360)
    assert "3 x 120/s = 360/s" in relative.goal
    assert fixed.share == pytest.approx(450 / 600)
    assert fixed.goal.startswith("≥ 600 deliveries/s")


def test_the_peer_row_may_come_before_w1() -> None:
    rows = [Row(PEER_ROW, "django-webhook", rate=100.0),
            Row("W1", "modelhooks", rate=150.0)]

    relative, fixed = w1_verdicts(rows)

    assert relative.share == pytest.approx(0.5)
    assert fixed.share == pytest.approx(0.25)


def test_without_the_peer_row_only_the_fixed_line_is_given() -> None:
    (fixed,) = w1_verdicts([Row("W1", "modelhooks", rate=660.0)])

    assert fixed.share == pytest.approx(1.1)
    assert fixed.goal.startswith("≥ 600 deliveries/s")


def test_a_peer_that_delivered_nothing_gives_no_verdict() -> None:
    rows = [Row("W1", "modelhooks", rate=450.0),
            Row(PEER_ROW, "django-webhook", rate=0.0)]

    relative, _fixed = w1_verdicts(rows)

    assert relative.share is None
    assert target_line(relative).endswith("-  NOT JUDGED")


def test_the_peer_row_alone_is_judged_on_nothing() -> None:
    assert verdicts([Row(PEER_ROW, "django-webhook", rate=120.0)]) == []


def test_other_targets_keep_their_rows_order() -> None:
    rows = [Row("W1p", "modelhooks", rate=100.0, p50_ms=10.0, p99_ms=15.0),
            Row("W2", "modelhooks", rate=7000.0, limit=10000.0)]

    found = [(verdict.workload, verdict.share) for verdict in verdicts(rows)]

    assert found == [("W1p", pytest.approx(0.5)), ("W2", pytest.approx(1.0))]


@pytest.mark.parametrize("share, word", [(1.0, "met"), (0.99, "MISSED")])
def test_a_line_says_met_from_100_percent(share: float, word: str) -> None:
    line = target_line(Verdict("W1", "a goal", share))

    assert line.split()[-1] == word
