"""Warm-first against the emulator: the siblings of a shared cached prefix start after the
writer's cache write and the emulator reports cache reads for them (virtual time).

Every call goes `BudgetedCaller` -> `AnthropicClient` -> SDK -> `Recorder` -> `Emulator`.
The emulator makes an entry readable once its writer has produced its first token; the
gate streams the writer and lets the siblings go at its first content delta.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
import structlog
from budget_emulator_helpers import LIMITS, MODEL, Recorder, client_on, emulator_config

from agents.client import LLMRequest
from agents.usage import Usage
from benchmarks.harness import RunSpec, run_one
from benchmarks.systems import SystemSpec
from benchmarks.workloads import make_workload
from orchestrator.budget import Budget
from orchestrator.call import BudgetedCaller, CallOptions
from orchestrator.emulator import Emulator

PREFIX_TOKENS = 20_000
OWN_TOKENS = 1_000
OUTPUT_TOKENS = 300
N = 8
# ttft 0.6 s + prefill 2e-5 s a token for Sonnet (jitter 0): the writer's first token
FIRST_TOKEN_S = 0.6 + 2e-5 * (PREFIX_TOKENS + OWN_TOKENS)
WRITER_DONE_S = FIRST_TOKEN_S + OUTPUT_TOKENS / 60.0

# The emulator counts ceil(bytes / 4) a text, plus 2 a block and 3 a message.
_PREFIX = ("shared context " * 6_000)[: 4 * (PREFIX_TOKENS - 2)]
_FILLER = "the worker's own question " * 200


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def request(i: int) -> LLMRequest:
    own = (f"[{i}] " + _FILLER)[: 4 * (OWN_TOKENS - 5)]
    return LLMRequest(
        model=MODEL,
        max_tokens=1_000,
        system=[{"type": "text", "text": _PREFIX, "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": own}],
        metadata={"emulator_output_tokens": OUTPUT_TOKENS},
    )


async def fan_out(*, warm_first: bool) -> tuple[list[Usage], list[float], Emulator]:
    emulator = Emulator(emulator_config(latency={"*": {"jitter": 0.0}}, ramp={"enabled": False}))
    recorder = Recorder(emulator.app)
    client = client_on(recorder)
    caller = BudgetedCaller(client, Budget(LIMITS, mode="actual"), cache_warm_first=warm_first)
    start = asyncio.get_running_loop().time()
    try:
        outcomes = await asyncio.gather(
            *(
                caller.call(request(i), CallOptions(task_id=f"t{i}", expected_output_tokens=300))
                for i in range(N)
            )
        )
    finally:
        await client.aclose()
    arrivals = [a.at - start for a in recorder.arrivals]
    assert all(a.status == 200 for a in recorder.arrivals)
    return [o.response.usage for o in outcomes], arrivals, emulator


@pytest.mark.looptime
async def test_siblings_start_after_the_cache_write_and_read_it() -> None:
    usages, arrivals, emulator = await fan_out(warm_first=True)
    writers = [u for u in usages if u.cache_creation_input_tokens > 0]
    readers = [u for u in usages if u.cache_read_input_tokens > 0]
    assert len(writers) == 1 and writers[0].cache_creation_input_tokens == PREFIX_TOKENS
    assert len(readers) == N - 1
    assert all(
        u.cache_read_input_tokens == PREFIX_TOKENS and u.cache_creation_input_tokens == 0
        for u in readers
    )
    assert arrivals[0] == pytest.approx(0.0, abs=1e-3)
    # the siblings went once the writer's first token was out, before its answer was done
    assert all(FIRST_TOKEN_S < at < WRITER_DONE_S for at in arrivals[1:]), arrivals
    stats = emulator.stats()
    assert stats["cache"] == {"hits": N - 1, "misses": 1}
    assert stats["tokens"]["itpm_counted"] == PREFIX_TOKENS + N * OWN_TOKENS


@pytest.mark.looptime
async def test_without_warm_first_every_sibling_sent_early_writes_the_prefix() -> None:
    usages, arrivals, emulator = await fan_out(warm_first=False)
    early = sum(at < FIRST_TOKEN_S for at in arrivals)  # before any entry was readable
    writers = sum(u.cache_creation_input_tokens == PREFIX_TOKENS for u in usages)
    assert writers == early >= 3, arrivals
    counted = emulator.stats()["tokens"]["itpm_counted"]
    assert counted == writers * PREFIX_TOKENS + N * OWN_TOKENS


def test_w6_benchmark_counts_the_prefix_once_with_warm_first() -> None:
    full = make_workload("W6", 0)
    workload = dataclasses.replace(full, nodes=full.nodes[:20])
    node = workload.nodes[0]
    own = node.input_tokens - node.shared_prefix_tokens
    records = {
        name: run_one(
            RunSpec(
                workload="W6",
                system=SystemSpec(name=name, policy="critical_path"),
                mode="actual",
                seed=0,
            ),
            workload=workload,
        )
        for name in ("dagwright", "dagwright-nowarm")
    }
    warm, cold = records["dagwright"], records["dagwright-nowarm"]
    assert warm.lost_tasks == cold.lost_tasks == 0
    assert warm.n_429 == cold.n_429 == 0
    assert warm.in_tokens_counted == node.shared_prefix_tokens + 20 * own
    assert warm.notes["warm_first"]["writers"] == 1
    assert warm.notes["warm_first"]["readers"] == 19
    assert cold.notes["warm_first"] is None
    # without the gate, every call admitted before the first write is readable writes too
    extra = cold.in_tokens_counted - warm.in_tokens_counted
    assert extra >= node.shared_prefix_tokens and extra % node.shared_prefix_tokens == 0
    assert warm.makespan_s < cold.makespan_s
