"""Four OS processes x 50 workers share one Redis budget against one emulator API key.

Real time (the shared bucket runs on the Redis server's clock), a real `redis-server` on a
free loopback port, the emulator served over loopback by `BackgroundServer`, and limits
scaled down so a run takes about 12 s (`benchmarks.redis_budget.contention`). The server
is the judge of over-admission: it answers 429 to any call beyond its limits.
"""

from __future__ import annotations

import pytest

from benchmarks.redis_budget import LIMITS, Contention, contention
from orchestrator.budget._redis_server import redis_server_binary

pytestmark = [
    pytest.mark.skipif(
        redis_server_binary() is None,
        reason="redis-server is not installed (apt-get install -y redis-server)",
    ),
    pytest.mark.timeout(240),
]

DURATION = 12.0


def _assert_never_over_admitted(run: Contention) -> None:
    # Requests are never refunded, so in every window the grants must fit in the burst
    # plus the refill over the window (one of slack for clock reads across processes).
    times = run.grant_times()
    burst, rate = float(LIMITS.rpm_burst or LIMITS.rpm), LIMITS.rpm / 60
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 1, (i, j)
    # Output is refunded at settlement, so bound the total: what OTPM allowed over the run.
    assert run.output_utilisation() <= 1.0


def _assert_no_lost_results(run: Contention) -> None:
    assert run.rejected == 0, "the server answered 429: the budget over-admitted"
    for process in run.processes:
        assert process.errors == []
        assert process.completed == len(process.grants) > 0


def test_four_processes_share_one_budget_fairly_without_429s() -> None:
    run = contention(4, workers=50, duration=DURATION)
    _assert_no_lost_results(run)
    _assert_never_over_admitted(run)
    shares = [len(p.grants) for p in run.processes]
    assert max(shares) <= 2 * min(shares), shares
    assert all(p.counters["fallback_grants"] == 0 for p in run.processes)
    # The processes together kept the key busy: most of what output allowed was used.
    assert run.output_utilisation() > 0.25


def test_redis_killed_and_restarted_mid_run_neither_over_admits_nor_loses_results() -> None:
    kill_at, restart_at = 4.0, 7.0
    run = contention(4, workers=50, duration=DURATION, outage=(kill_at, restart_at))
    _assert_no_lost_results(run)
    _assert_never_over_admitted(run)
    for process in run.processes:
        sources = {source for _, source in process.grants}
        assert process.counters["outages"] >= 1
        assert "fallback" in sources, "no grant came from the local share during the outage"
        resumed = [t for t, s in process.grants if s == "redis" and t > run.started + restart_at]
        assert resumed, f"{process.name} did not go back to Redis after the restart"
