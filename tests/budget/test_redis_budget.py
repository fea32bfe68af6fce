"""`RedisBudget` against a real `redis-server`: reservations, refunds, fallback, reconnect,
cancellation, and its selection from the workflow YAML and `--budget-url`.

Real time: the shared bucket runs on the Redis server's clock, so these tests keep their
waits to fractions of a second.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_server_helpers import local_redis
from typer.testing import CliRunner

from agents.usage import Usage
from orchestrator.budget import Budget, LeaseStateError, RampConfig, RedisBudget
from orchestrator.budget._redis_scripts import keys_of
from orchestrator.budget._redis_server import LocalRedis
from orchestrator.cli import _register_subcommands, app
from orchestrator.config_errors import ConfigError
from orchestrator.launch import make_budget
from orchestrator.limits import ModelLimits
from orchestrator.spec import WorkflowSpec

MODEL = "claude-sonnet-4-6"
CLASS = "sonnet-4"
LIMITS = ModelLimits(
    rpm=1_200, itpm=600_000, otpm=60_000, rpm_burst=20, itpm_burst=20_000, otpm_burst=4_000
)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalRedis]:
    yield from local_redis()


def _levels(url: str, namespace: str) -> tuple[float, ...]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        values = client.hmget(keys_of(namespace, CLASS)[0], "l1", "l2", "l3")
    finally:
        client.close()
    return tuple(float(v) for v in values)


async def test_settle_refunds_the_shared_bucket_once(server: LocalRedis) -> None:
    budget = RedisBudget(server.url, LIMITS, namespace="refund", initial_fill=0.5)
    asked_at = time.monotonic()
    lease = await budget.acquire(
        "t1", model=MODEL, input_tokens=1_000, max_tokens=2_000, output_tokens=1_500
    )
    assert budget.reserved_in(lease) == "redis"
    after_grant = _levels(server.url, "refund")
    assert after_grant == (9.0, 9_000.0, 500.0)  # created half full, minus the reservation
    lease.settle(Usage(input_tokens=1_000, output_tokens=300))
    await budget.flush()
    refill = LIMITS.otpm / 60 * (time.monotonic() - asked_at)
    refunded = _levels(server.url, "refund")
    # 1 200 unused output tokens come back, plus what refilled meanwhile.
    assert 1_200.0 <= refunded[2] - after_grant[2] <= 1_200.0 + refill + 1e-6
    with pytest.raises(LeaseStateError):
        lease.settle(Usage(input_tokens=1_000, output_tokens=0))
    await budget.flush()
    assert _levels(server.url, "refund")[2] == pytest.approx(refunded[2], abs=60.0)
    await budget.aclose()


async def test_two_budgets_share_one_bucket(server: LocalRedis) -> None:
    # 20 requests of burst, half full at first, 20 per second: 30 leases need ~1 s.
    first, second = (RedisBudget(server.url, LIMITS, namespace="share") for _ in range(2))
    started = time.monotonic()

    async def take(budget: RedisBudget, name: str) -> None:
        for i in range(15):
            async with budget.lease(f"{name}{i}", model=MODEL, input_tokens=10, max_tokens=10):
                pass

    await asyncio.gather(take(first, "a"), take(second, "b"))
    assert time.monotonic() - started >= (30 - 10) / 20 - 0.1
    assert first.counters.redis_grants == second.counters.redis_grants == 15
    await first.aclose()
    await second.aclose()


async def test_unreachable_redis_admits_at_the_local_share_never_more() -> None:
    down = LocalRedis()  # a free port where nothing listens
    budget = RedisBudget(down.url, LIMITS, expected_processes=2, reconnect_s=5.0)
    started = time.monotonic()
    for i in range(6):
        async with budget.lease(f"t{i}", model=MODEL, input_tokens=10, max_tokens=10):
            pass
    # The share is 10 requests per second, starting empty: the sixth is not before 0.6 s.
    assert time.monotonic() - started >= 0.55
    assert budget.counters.fallback_grants == 6 and budget.counters.redis_grants == 0
    assert not budget.redis_available
    await budget.aclose()


async def test_reconnects_when_redis_comes_back() -> None:
    later = LocalRedis()
    budget = RedisBudget(later.url, LIMITS, reconnect_s=0.1)
    async with budget.lease("before", model=MODEL, input_tokens=10, max_tokens=10) as lease:
        assert budget.reserved_in(lease) == "fallback"
    later.start()
    try:
        await asyncio.sleep(0.15)
        async with budget.lease("after", model=MODEL, input_tokens=10, max_tokens=10) as lease:
            assert budget.reserved_in(lease) == "redis"
        assert budget.counters.outages == 1
        await budget.aclose()
    finally:
        later.stop()


async def test_a_lease_cancelled_at_the_gate_gives_its_local_grant_back(
    server: LocalRedis,
) -> None:
    first = RedisBudget(server.url, LIMITS, namespace="gate", initial_fill=0.0)
    async with first.lease("creates-it-empty", model=MODEL, input_tokens=1, max_tokens=1):
        pass
    budget = RedisBudget(server.url, LIMITS, namespace="gate", ramp=RampConfig(on_start=False))
    waiting = asyncio.create_task(
        budget.acquire("late", model=MODEL, input_tokens=10, max_tokens=3_000)
    )
    await asyncio.sleep(0.3)  # admitted locally; the shared output bucket needs ~3 s more
    account = budget.account(MODEL)
    assert account.in_flight == 1 and not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert account.in_flight == 0 and account.admitted == 0
    await first.aclose()
    await budget.aclose()


async def test_a_process_whose_last_waiter_gave_up_leaves_the_queue(server: LocalRedis) -> None:
    # A waits ~3 s for output and holds the head ticket; once it gives up, B (which needs
    # little) goes at once instead of waiting for A's ticket deadline (3 s + 2 s grace).
    no_ramp = RampConfig(on_start=False)
    a = RedisBudget(server.url, LIMITS, namespace="leave", initial_fill=0.0, ramp=no_ramp)
    b = RedisBudget(server.url, LIMITS, namespace="leave", ramp=no_ramp)
    async with a.lease("creates-it-empty", model=MODEL, input_tokens=1, max_tokens=1):
        pass
    a_waits = asyncio.create_task(a.acquire("big", model=MODEL, input_tokens=1, max_tokens=3_000))
    await asyncio.sleep(0.3)
    assert a.account(MODEL).in_flight == 1  # admitted locally: waiting at the shared gate
    a_waits.cancel()
    with pytest.raises(asyncio.CancelledError):
        await a_waits
    await a.flush()
    started = time.monotonic()
    async with b.lease("small", model=MODEL, input_tokens=1, max_tokens=10):
        pass
    assert time.monotonic() - started < 1.0
    await a.aclose()
    await b.aclose()


def test_the_spec_selects_the_backend(server: LocalRedis) -> None:
    base = {"name": "w", "tasks": [{"id": "a", "prompt": "hi"}]}
    memory = make_budget(WorkflowSpec.from_data(base), mode="actual", policy="fifo")
    assert type(memory) is Budget
    shared = WorkflowSpec.from_data(
        {**base, "budget": {"backend": "redis", "url": server.url, "expected_processes": 3}}
    )
    built = make_budget(shared, mode="actual", policy="fifo")
    assert isinstance(built, RedisBudget) and built.expected_processes == 3
    flagged = make_budget(
        WorkflowSpec.from_data(base), mode="actual", policy="fifo", url=server.url
    )
    assert isinstance(flagged, RedisBudget)
    no_url = WorkflowSpec.from_data({**base, "budget": {"backend": "redis"}})
    with pytest.raises(ConfigError, match=r"budget\.url"):
        make_budget(no_url, mode="actual", policy="fifo")
    bad = WorkflowSpec.from_data({**base, "budget": {"backend": "redis", "url": "http://x"}})
    with pytest.raises(ConfigError, match="redis://"):
        make_budget(bad, mode="actual", policy="fifo")


def test_run_with_budget_url_shares_the_budget_through_redis(
    server: LocalRedis, tmp_path: Path
) -> None:
    note = {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]}
    common = {"expected_output_tokens": 40, "max_tokens": 400, "output_schema": note}
    tasks = [{"id": f"t{i}", "prompt": f"Part {i}.", **common} for i in range(3)]
    spec = {"name": "shared", "model": MODEL, "limits": {"tier": "tier2"}, "tasks": tasks}
    workflow = tmp_path / "w.yaml"
    workflow.write_text(json.dumps(spec), encoding="utf-8")
    _register_subcommands()
    args = ["run", str(workflow), "--out", str(tmp_path), "--budget-url", server.url, "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        assert int(client.hget(keys_of("dagwright", CLASS)[0], "admitted") or 0) == 3
    finally:
        client.close()
