"""The budget against failing servers, end to end: a reached spend cap stops the run without
a retry storm; injected 529s, 500s, resets, timeouts and mid-stream errors are retried until
every call succeeds. Harness: `budget_emulator_helpers`."""

from __future__ import annotations

from typing import Any

import pytest
from budget_emulator_helpers import (
    LIMITS,
    MODEL,
    Recorder,
    assert_all_succeeded,
    class_stats,
    client_on,
    emulator_config,
    emulator_rejections,
    make_jobs,
    report,
    run_jobs,
)

from agents.errors import ErrorKind
from orchestrator.budget import Budget, SpendLimitReached
from orchestrator.call import BudgetedCaller, CallFailed
from orchestrator.emulator import Emulator
from orchestrator.limits import AccountingMode
from policies.retry import RetryPolicy

pytestmark = pytest.mark.looptime


async def test_spend_limit_stops_the_run_without_a_retry_storm() -> None:
    # About 30 of the calls fit in $1 (Sonnet 4.x: $3 / $15 per million in / out).
    emulator = Emulator(emulator_config(spend_limit_usd=1.0))
    recorder = Recorder(emulator.app)
    budget = Budget(LIMITS)
    jobs = make_jobs(300, seed=7)
    async with client_on(recorder) as client:
        caller = BudgetedCaller(client, budget)
        result = await run_jobs(caller, jobs)

    first = next(i for i, a in enumerate(recorder.arrivals) if a.spend_limit)
    after = recorder.arrivals[first + 1 :]
    failed_calls = [f for f in result.failures.values() if isinstance(f, CallFailed)]
    refused = [f for f in result.failures.values() if isinstance(f, SpendLimitReached)]
    report(
        "spend limit",
        succeeded=len(result.outcomes),
        call_failed=len(failed_calls),
        refused_by_budget=len(refused),
        requests_after_first_spend_429=len(after),
        spend_usd=emulator.stats()["spend_usd"],
    )
    assert len(result.outcomes) + len(result.failures) == len(jobs)
    assert 10 <= len(result.outcomes) < len(jobs)
    # The one call that met the cap fails for good (never retried) ...
    assert len(failed_calls) == 1
    assert failed_calls[0].error.kind is ErrorKind.SPEND_LIMIT
    assert failed_calls[0].attempts == 1
    # ... and every other waiting call is refused by the budget without being sent.
    assert len(refused) == len(jobs) - len(result.outcomes) - 1
    assert after == []
    assert emulator_rejections(emulator)["spend"] == 1
    assert emulator_rejections(emulator)["total"] == 1
    assert len(recorder.arrivals) == len(result.outcomes) + 1
    assert budget.spend_limit_reached and budget.statistics().spend_limit_reached
    # Calls that come later fail at once, too.
    with pytest.raises(SpendLimitReached):
        await budget.acquire("late", model=MODEL, input_tokens=1, max_tokens=1)
    stats = class_stats(budget)
    assert (stats.waiting, stats.in_flight) == (0, 0)


#: 10% of requests fail: 2% each of 529, 500, connection reset, timeout and (streams only)
#: an SSE `error` event halfway through the answer.
FAULTS: dict[str, Any] = {
    "overloaded_529": 0.02,
    "server_500": 0.02,
    "connection_reset": 0.02,
    "timeout": 0.02,
    "midstream_error": 0.02,
}


@pytest.mark.parametrize(
    ("accounting", "hang_s", "client_timeout_s"),
    [
        # The server hangs longer than the client waits: the client gives up (timeout).
        pytest.param("legacy", 900.0, 120.0, id="legacy-client-timeout"),
        pytest.param("actual", 900.0, 120.0, id="actual-client-timeout"),
        # The client waits longer: the server answers 504 after the hang.
        pytest.param("actual", 30.0, 600.0, id="actual-server-504"),
    ],
)
async def test_injected_faults_are_retried_until_every_call_succeeds(
    accounting: AccountingMode, hang_s: float, client_timeout_s: float
) -> None:
    faults = {**FAULTS, "timeout_s": hang_s}
    emulator = Emulator(emulator_config(accounting=accounting, faults=faults))
    recorder = Recorder(emulator.app)
    budget = Budget(LIMITS, mode=accounting)
    jobs = make_jobs(300, seed=9)
    async with client_on(recorder, timeout=client_timeout_s) as client:
        caller = BudgetedCaller(client, budget, retry=RetryPolicy(max_attempts=10), seed=9)
        result = await run_jobs(caller, jobs)

    assert_all_succeeded(result, jobs)
    stats = emulator.stats()
    report(
        f"faults {accounting} hang={hang_s:g}s timeout={client_timeout_s:g}s",
        makespan=result.makespan,
        requests=stats["requests"],
        faults=stats["faults"],
        errors={kind.value: n for kind, n in caller.errors.items()},
        emulator_429s=stats["rate_limited"]["total"],
    )
    assert stats["rate_limited"]["total"] == 0, stats["rate_limited"]
    injected = stats["faults"]
    assert set(injected) == set(FAULTS), injected
    assert sum(injected.values()) >= 0.05 * len(jobs)
    assert stats["midstream_errors"] == injected["midstream_error"] > 0
    # Every fault reached the caller as its kind of error, and was retried.
    assert caller.errors == {
        ErrorKind.OVERLOADED: injected["overloaded_529"] + injected["midstream_error"],
        ErrorKind.SERVER: injected["server_500"],
        ErrorKind.CONNECTION: injected["connection_reset"],
        ErrorKind.TIMEOUT: injected["timeout"],
    }
    retries = sum(outcome.attempts - 1 for outcome in result.outcomes.values())
    # Besides the retries of failures, right-sized max_tokens may cut a few answers short
    # (each sent again with the caller's max_tokens).
    resends = stats["requests"] - len(jobs) - sum(caller.errors.values())
    assert 0 <= resends <= 0.05 * len(jobs), resends
    assert retries == sum(caller.errors.values()) + resends
    if hang_s > client_timeout_s:
        assert "504" not in stats["responses"]
    else:
        assert stats["responses"]["504"] == injected["timeout"]
    end = class_stats(budget)
    assert (end.waiting, end.in_flight, end.rate_limited) == (0, 0, 0)
