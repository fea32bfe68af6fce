"""The budget against the emulator through the real SDK: many workers, every server mode,
unknown limits and wrong token estimates. Harness: `budget_emulator_helpers`."""

from __future__ import annotations

import pytest
from budget_emulator_helpers import (
    LIMITS,
    MODEL,
    Recorder,
    assert_all_succeeded,
    bound,
    class_stats,
    client_on,
    emulator_config,
    emulator_rejections,
    make_jobs,
    report,
    run_jobs,
)

from agents.estimate import InputEstimator
from orchestrator.budget import Budget, RampConfig
from orchestrator.call import BudgetedCaller
from orchestrator.emulator import Emulator
from orchestrator.limits import TIERS, AccountingMode, ExhaustionMode
from orchestrator.lowerbound import LowerBoundMode

pytestmark = pytest.mark.looptime


@pytest.mark.parametrize(
    ("accounting", "exhaustion", "workers", "streaming"),
    [
        pytest.param("legacy", "throttle", 300, None, id="legacy-300-mixed"),
        pytest.param("actual", "throttle", 1_000, False, id="actual-throttle-1000"),
        pytest.param("actual", "throttle", 300, True, id="actual-throttle-300-streaming"),
        pytest.param("actual", "debt", 300, None, id="actual-debt-300-mixed"),
        pytest.param("actual", "error", 300, None, id="actual-error-300-mixed"),
    ],
)
async def test_concurrent_workers_get_no_429_and_a_near_optimal_makespan(
    accounting: AccountingMode, exhaustion: ExhaustionMode, workers: int, streaming: bool | None
) -> None:
    # Every worker asks at once; the budget (same limits as the server) queues them.
    config = emulator_config(accounting=accounting, exhaustion=exhaustion)
    emulator = Emulator(config)
    recorder = Recorder(emulator.app)
    budget = Budget(LIMITS, mode=accounting)
    jobs = make_jobs(workers, seed=1, streaming=streaming)
    async with client_on(recorder) as client:
        caller = BudgetedCaller(client, budget)
        result = await run_jobs(caller, jobs)

    assert_all_succeeded(result, jobs)
    stats = emulator.stats()
    assert stats["rate_limited"]["total"] == 0, stats["rate_limited"]
    # Right-sized max_tokens (legacy) may cut a few long answers short; each is sent
    # again with the caller's own max_tokens, and that is the only extra traffic.
    resends = caller.calls - workers
    assert 0 <= resends <= (0.05 * workers if accounting == "legacy" else 0), resends
    assert stats["responses"] == {"200": caller.calls}
    assert stats["exhaustion_errors"] == 0
    assert caller.errors == {}
    # The debt mode has no output bound (a server in debt lets output overshoot); the
    # throttle bound is the yardstick there too, since the budget never overdraws.
    mode: LowerBoundMode = "legacy" if accounting == "legacy" else "actual-throttle"
    lb = bound(jobs, config, mode)
    report(
        f"workers {accounting}/{exhaustion} n={workers}",
        makespan=result.makespan,
        lower_bound=lb.value,
        binding=lb.binding,
        ratio=lb.ratio(result.makespan),
        emulator_429s=stats["rate_limited"]["total"],
    )
    assert lb.binding in ("input", "output")
    assert lb.ratio(result.makespan) <= 1.2, (result.makespan, lb)
    end = class_stats(budget)
    assert (end.waiting, end.in_flight, end.rate_limited) == (0, 0, 0)


@pytest.mark.parametrize("exhaustion", ["throttle", "debt", "error"])
async def test_declared_outputs_far_too_low_lose_nothing(exhaustion: ExhaustionMode) -> None:
    # Every call declares a third of what it really writes. The first wave overdraws the
    # output bucket (the declarations are all there is to go on); the settled calls then
    # teach the budget to scale its output reservations up.
    config = emulator_config(accounting="actual", exhaustion=exhaustion)
    emulator = Emulator(config)
    budget = Budget(LIMITS, mode="actual")
    # Output-bound: small prompts, long answers.
    jobs = make_jobs(300, seed=3, inputs=(1_000, 2_000), outputs=(600, 1_800), max_tokens=4_000)
    async with client_on(Recorder(emulator.app)) as client:
        result = await run_jobs(BudgetedCaller(client, budget), jobs, declare=1 / 3)

    assert_all_succeeded(result, jobs)  # no lost work, whatever the server does
    account = budget.account(MODEL)
    assert account.output_scale > 2.0
    rejected = emulator_rejections(emulator)
    lb = bound(jobs, config, "actual-throttle")
    report(
        f"declared x1/3 {exhaustion}",
        makespan=result.makespan,
        ratio=lb.ratio(result.makespan),
        emulator_429s=rejected["total"],
        scale=account.output_scale,
    )
    if exhaustion == "throttle":
        assert rejected["total"] == 0, rejected  # the server slows streams, never refuses
    else:
        # Streams overrunning the bucket are ended (error) or put the key in debt: those
        # calls are retried under the coordinated pause, a few dozen, not a storm.
        assert rejected["total"] <= 0.25 * len(jobs), rejected
    assert lb.ratio(result.makespan) <= 2.0, (result.makespan, lb)


async def test_declared_outputs_far_too_low_in_legacy_mode_cost_one_wave_of_resends() -> None:
    # Legacy: the server reserves the max_tokens sent, sized from each call's declaration,
    # here a third of what it writes. The first answers are cut short; from then on the
    # calls still waiting go as undeclared ones do (the caller's max_tokens while the
    # output bucket has room, the learned size under pressure), so only the calls sent
    # before the first answers came back are sent twice.
    config = emulator_config(accounting="legacy")
    emulator = Emulator(config)
    recorder = Recorder(emulator.app)
    budget = Budget(LIMITS, mode="legacy")
    jobs = make_jobs(300, seed=3, inputs=(1_000, 2_000), outputs=(600, 1_800), max_tokens=4_000)
    async with client_on(recorder) as client:
        result = await run_jobs(BudgetedCaller(client, budget), jobs, declare=1 / 3)

    assert_all_succeeded(result, jobs)
    lb = bound(jobs, config, "legacy")
    report(
        "declared x1/3 legacy",
        makespan=result.makespan,
        ratio=lb.ratio(result.makespan),
        requests=len(recorder.arrivals),
    )
    assert emulator_rejections(emulator)["total"] == 0
    # 340 requests and 1.18x here; every call was sent twice (600, 1.80x) while the
    # waiting leases kept their declared size.
    assert len(recorder.arrivals) <= 1.25 * len(jobs)
    assert lb.ratio(result.makespan) <= 1.3, (result.makespan, lb)


@pytest.mark.parametrize("accounting", ["legacy", "actual"])
async def test_unknown_limits_are_learned_from_the_headers(accounting: AccountingMode) -> None:
    config = emulator_config(accounting=accounting)
    emulator = Emulator(config)
    recorder = Recorder(emulator.app)
    budget = Budget(None, mode=accounting)
    jobs = make_jobs(300, seed=5)
    async with client_on(recorder) as client:
        result = await run_jobs(BudgetedCaller(client, budget), jobs)

    assert_all_succeeded(result, jobs)
    learned = budget.limits(MODEL)
    assert learned is not None
    assert (learned.rpm, learned.itpm, learned.otpm) == (LIMITS.rpm, LIMITS.itpm, LIMITS.otpm)
    lb = bound(jobs, config, "legacy" if accounting == "legacy" else "actual-throttle")
    rejected = emulator_rejections(emulator)
    report(
        f"unknown limits {accounting}",
        makespan=result.makespan,
        lower_bound=lb.value,
        ratio=lb.ratio(result.makespan),
        emulator_429s=rejected["total"],
    )
    assert rejected["total"] <= 3, rejected
    # One probe call (about one latency) before the limits are known, then full speed.
    assert lb.ratio(result.makespan) <= 1.25, (result.makespan, lb)


@pytest.mark.parametrize("accounting", ["legacy", "actual"])
@pytest.mark.parametrize(
    ("ramp", "most_429s"),
    [
        pytest.param(RampConfig(), 3, id="start-ramp"),
        pytest.param(RampConfig(on_start=False), 30, id="no-start-ramp"),
    ],
)
async def test_wrong_input_estimates_are_calibrated_away(
    accounting: AccountingMode, ramp: RampConfig, most_429s: int
) -> None:
    # 8 characters a token where the emulator counts 4: every first estimate is half the
    # real input. Tier 2's OTPM, so that the input limit is the one that binds.
    limits = TIERS["tier2"]
    emulator = Emulator(emulator_config(limits, accounting=accounting))
    recorder = Recorder(emulator.app)
    budget = Budget(limits, mode=accounting, ramp=ramp)
    jobs = make_jobs(300, seed=6)
    inputs = InputEstimator(chars_per_token=8)
    async with client_on(recorder) as client:
        caller = BudgetedCaller(client, budget, inputs=inputs)
        result = await run_jobs(caller, jobs)

    assert_all_succeeded(result, jobs)
    rejected = recorder.rejected
    report(
        f"estimates x0.5 {accounting}",
        makespan=result.makespan,
        emulator_429s=len(rejected),
        last_429_s=max((a.at - result.started for a in rejected), default=None),
        ratio=inputs.ratio(MODEL),
    )
    assert len(rejected) <= most_429s
    # The calibration (real / raw tokens) learned the factor of two ...
    assert 1.9 <= inputs.ratio(MODEL) <= 2.1
    # ... so 429s happen only in the first seconds, before the first answers came back.
    assert all(a.at - result.started < 15.0 for a in rejected), [a.at for a in rejected]
    assert result.makespan > 300.0
    assert not recorder.early_arrivals()
