"""Warm-first in `BudgetedCaller`: one call writes a shared cached prefix, the rest read it.

The model is a `ScriptedLLM` playing a prompt cache: the first answer for a prefix
reports a cache write, later ones a read (or, for `NoCache`, nothing at all).
"""

from __future__ import annotations

import asyncio
import math

import pytest

from agents.client import LLMRequest
from agents.errors import ErrorKind
from agents.estimate import InputEstimator
from agents.scripted import ScriptedLLM, ScriptedReply
from agents.usage import Usage
from orchestrator.budget import Budget
from orchestrator.cachewarm import WarmFirstGate
from orchestrator.call import BudgetedCaller, CallFailed, CallOptions
from orchestrator.clock import LoopClock
from orchestrator.limits import ModelLimits

LIMITS = ModelLimits(rpm=10_000, itpm=10_000_000, otpm=1_000_000)
SONNET = "claude-sonnet-4-6"
HAIKU = "claude-haiku-4-5"
PREFIX = "shared context. " * 1_500  # 24,000 characters: ~6,900 estimated tokens
LATENCY = 5.0


def request(i: int, *, prefix: str = PREFIX, model: str = SONNET) -> LLMRequest:
    return LLMRequest(
        model=model,
        max_tokens=1000,
        system=[{"type": "text", "text": prefix, "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": f"question {i}: " + "x" * 400}],
    )


class FakeCache:
    """Answers like a server with a prompt cache: a write first, reads after it."""

    def __init__(self, *, caching: bool = True, fail_first: ErrorKind | None = None) -> None:
        self.caching = caching
        self.fail_first = fail_first
        self.cached: set[str] = set()
        self.sent: list[tuple[float, str]] = []

    def __call__(self, req: LLMRequest) -> ScriptedReply | Exception:
        loop = asyncio.get_running_loop()
        self.sent.append((loop.time(), str(req.messages[0]["content"])[:12]))
        if self.fail_first is not None:
            kind, self.fail_first = self.fail_first, None
            return ScriptedLLM.error(kind)
        assert req.system is not None and not isinstance(req.system, str)
        prefix = str(req.system[0]["text"])
        size = math.ceil(len(prefix) / 4)
        usage = Usage(input_tokens=110, output_tokens=50)
        if self.caching and prefix in self.cached:
            usage = Usage(input_tokens=110, output_tokens=50, cache_read_input_tokens=size)
        elif self.caching:
            self.cached.add(prefix)
            usage = Usage(input_tokens=110, output_tokens=50, cache_creation_input_tokens=size)
        else:
            usage = Usage(input_tokens=110 + size, output_tokens=50)
        return ScriptedReply(content=({"type": "text", "text": "ok"},), usage=usage)


def caller_for(cache: FakeCache, **kwargs: object) -> BudgetedCaller:
    llm = ScriptedLLM.from_function(cache, latency=LATENCY)  # type: ignore[arg-type]
    return BudgetedCaller(llm, Budget(LIMITS, mode="actual"), **kwargs)  # type: ignore[arg-type]


async def fan_out(caller: BudgetedCaller, n: int, **kwargs: object) -> list[Usage]:
    outcomes = await asyncio.gather(
        *(
            caller.call(request(i), CallOptions(task_id=f"t{i}", **kwargs))  # type: ignore[arg-type]
            for i in range(n)
        )
    )
    return [o.response.usage for o in outcomes]


@pytest.mark.looptime
async def test_one_writer_goes_first_and_the_siblings_read_after_it() -> None:
    cache = FakeCache()
    caller = caller_for(cache)
    usages = await fan_out(caller, 10)
    times = sorted(at for at, _ in cache.sent)
    assert times[0] == 0.0
    assert all(at == pytest.approx(LATENCY) for at in times[1:])  # after the write, together
    assert sum(u.cache_creation_input_tokens > 0 for u in usages) == 1
    assert sum(u.cache_read_input_tokens > 0 for u in usages) == 9
    assert asyncio.get_running_loop().time() == pytest.approx(2 * LATENCY)
    assert caller.cache_gate is not None
    stats = caller.cache_gate.statistics()
    assert (stats.writers, stats.readers, stats.waited) == (1, 9, 9)


@pytest.mark.looptime
async def test_reader_leases_leave_the_prefix_out() -> None:
    cache = FakeCache()
    caller = caller_for(cache)
    await fan_out(caller, 10)
    granted = next(iter(caller.budget.statistics().values())).input_tokens
    assert granted is not None
    prefix = len(PREFIX) / 3.5  # the estimator's raw count of the prefix
    # one full lease, then nine of about the question's size (well under a prefix each)
    assert granted.granted < 2.5 * prefix


@pytest.mark.looptime
async def test_opt_out_sends_every_call_at_once() -> None:
    for off_in_caller in (True, False):
        cache = FakeCache()
        if off_in_caller:
            caller, options = caller_for(cache, cache_warm_first=False), {}
        else:
            caller, options = caller_for(cache), {"warm_first": False}
        usages = await fan_out(caller, 5, **options)
        assert {at for at, _ in cache.sent} == {asyncio.get_running_loop().time() - LATENCY}
        assert sum(u.cache_creation_input_tokens > 0 for u in usages) == 1  # the fake's view
    assert caller_for(FakeCache(), cache_warm_first=False).cache_gate is None


@pytest.mark.looptime
async def test_a_failed_writer_hands_over_to_the_next_waiter() -> None:
    cache = FakeCache(fail_first=ErrorKind.INVALID_REQUEST)
    caller = caller_for(cache)
    results = await asyncio.gather(
        *(caller.call(request(i), CallOptions(task_id=f"t{i}")) for i in range(5)),
        return_exceptions=True,
    )
    assert isinstance(results[0], CallFailed)
    ok = [r.response.usage for r in results[1:] if not isinstance(r, BaseException)]
    assert len(ok) == 4
    assert sum(u.cache_creation_input_tokens > 0 for u in ok) == 1
    assert sum(u.cache_read_input_tokens > 0 for u in ok) == 3
    times = [at for at, _ in cache.sent]
    # the failed writer at 0, its successor at 5, then the three readers at 10
    assert times == pytest.approx([0.0, LATENCY, 2 * LATENCY, 2 * LATENCY, 2 * LATENCY])


@pytest.mark.looptime
async def test_a_cancelled_writer_hands_over_to_the_next_waiter() -> None:
    cache = FakeCache()
    caller = caller_for(cache)
    writer = asyncio.create_task(caller.call(request(0), CallOptions(task_id="t0")))
    await asyncio.sleep(1.0)
    others = [
        asyncio.create_task(caller.call(request(i), CallOptions(task_id=f"t{i}")))
        for i in range(1, 4)
    ]
    await asyncio.sleep(1.0)
    writer.cancel()
    await asyncio.gather(*others)
    assert caller.cache_gate is not None
    stats = caller.cache_gate.statistics()
    assert (stats.writers, stats.readers) == (2, 2)  # t0 (cancelled), then t1
    # t1 took over at the cancellation (t=2), the other two read after it (t=7)
    assert [at for at, _ in cache.sent] == pytest.approx([0.0, 2.0, 7.0, 7.0])


@pytest.mark.looptime
async def test_prefixes_below_the_minimum_are_not_gated() -> None:
    short = "shared context. " * 200  # ~900 estimated tokens: below 1,024
    mid = "shared context. " * 300  # ~1,400 estimated tokens: enough for Sonnet, not Haiku
    for prefix, model, gated in ((short, SONNET, False), (mid, HAIKU, False), (mid, SONNET, True)):
        cache = FakeCache()
        caller = caller_for(cache)
        await asyncio.gather(
            *(
                caller.call(request(i, prefix=prefix, model=model), CallOptions(task_id=f"t{i}"))
                for i in range(4)
            )
        )
        spread = {at for at, _ in cache.sent}
        assert (len(spread) > 1) == gated, (model, len(prefix))


@pytest.mark.looptime
async def test_a_prefix_the_server_does_not_cache_is_not_waited_on_again() -> None:
    cache = FakeCache(caching=False)
    caller = caller_for(cache)
    await fan_out(caller, 4)
    times = [at for at, _ in cache.sent]
    assert times == pytest.approx([0.0, LATENCY, LATENCY, LATENCY])  # one try, then all
    start = asyncio.get_running_loop().time()
    await fan_out(caller, 3)
    assert [at for at, _ in cache.sent[4:]] == pytest.approx([start] * 3)
    assert caller.cache_gate is not None
    assert caller.cache_gate.statistics().cold_prefixes == 1


@pytest.mark.looptime
async def test_a_warm_prefix_is_forgotten_before_its_ttl_ends() -> None:
    cache = FakeCache()
    caller = caller_for(cache)
    await fan_out(caller, 3)
    assert caller.cache_gate is not None
    assert caller.cache_gate.statistics().writers == 1
    await asyncio.sleep(200)  # within 0.9 x 300 s of the last read: still warm
    await fan_out(caller, 2)
    assert caller.cache_gate.statistics().writers == 1
    await asyncio.sleep(280)  # past it: the next call writes again, its siblings wait
    cache.cached.clear()
    before = len(cache.sent)
    await fan_out(caller, 3)
    stats = caller.cache_gate.statistics()
    assert stats.writers == 2
    times = [at for at, _ in cache.sent[before:]]
    assert times[1] - times[0] == pytest.approx(LATENCY)


def test_gate_rejects_a_bad_ttl_fraction() -> None:
    with pytest.raises(ValueError, match="ttl_fraction must be in"):
        WarmFirstGate(inputs=InputEstimator(), clock=LoopClock(), ttl_fraction=1.5)


def test_minimum_cacheable_length_per_model_class() -> None:
    gate = WarmFirstGate(inputs=InputEstimator(), clock=LoopClock())
    assert gate.min_cacheable(SONNET) == 1024
    assert gate.min_cacheable(HAIKU) == 2048
    assert gate.min_cacheable("some-future-model") == 1024


@pytest.mark.looptime
async def test_a_moving_breakpoint_after_the_shared_one_waits_only_for_the_shared_one() -> None:
    # A worker with tools marks the newest message too: that prefix is each call's own.
    def with_own_mark(i: int) -> LLMRequest:
        base = request(i)
        text = str(base.messages[0]["content"])
        own = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]
        return LLMRequest(
            model=base.model,
            max_tokens=base.max_tokens,
            system=base.system,
            messages=[{"role": "user", "content": own}],
        )

    cache = FakeCache()
    caller = caller_for(cache)
    await asyncio.gather(
        *(caller.call(with_own_mark(i), CallOptions(task_id=f"t{i}")) for i in range(4))
    )
    assert [at for at, _ in cache.sent] == pytest.approx([0.0, LATENCY, LATENCY, LATENCY])
    assert caller.cache_gate is not None
    stats = caller.cache_gate.statistics()
    # every call writes its own message prefix; the last three read the shared one
    assert (stats.writers, stats.readers, stats.waited) == (4, 3, 3)
