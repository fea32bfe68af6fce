"""Split policies: ordering on small hand-made cases, max_tokens caps, lookup by name."""

from __future__ import annotations

import asyncio
import itertools

import pytest

import policies
from agents.usage import Usage
from orchestrator.budget import Budget, RampConfig
from orchestrator.limits import ModelLimits
from policies import (
    CriticalPathPolicy,
    FairPolicy,
    FifoPolicy,
    LeaseRequest,
    PriorityPolicy,
    SplitPolicy,
    WaitQueue,
    cap_max_tokens,
    get_policy,
)

_seq = itertools.count(1)


def req(task_id: str, **kwargs: object) -> LeaseRequest:
    return LeaseRequest(task_id=task_id, seq=next(_seq), **kwargs)  # type: ignore[arg-type]


def drain(queue: WaitQueue) -> list[str]:
    out = []
    while len(queue):
        out.append(queue.pop().task_id)
    return out


def fill(policy: SplitPolicy, *requests: LeaseRequest) -> WaitQueue:
    queue = policy.new_queue()
    for r in requests:
        queue.push(r)
    return queue


def test_fifo_is_arrival_order() -> None:
    queue = fill(FifoPolicy(), req("a", priority=5), req("b", tail=100.0), req("c"))
    assert drain(queue) == ["a", "b", "c"]


def test_priority_higher_first_fifo_within() -> None:
    queue = fill(
        PriorityPolicy(aging=None),
        req("low1"),
        req("high1", priority=2),
        req("mid", priority=1),
        req("high2", priority=2),
        req("low2"),
    )
    assert drain(queue) == ["high1", "high2", "mid", "low1", "low2"]


def test_priority_aging_prevents_starvation() -> None:
    policy = PriorityPolicy(aging=60.0)
    queue = fill(policy, req("old-low", arrival=0.0), req("new-high", priority=1, arrival=59.0))
    assert drain(queue) == ["new-high", "old-low"]
    queue = fill(policy, req("old-low", arrival=0.0), req("newer-high", priority=1, arrival=61.0))
    assert drain(queue) == ["old-low", "newer-high"]


def test_critical_path_longest_tail_first_priority_above_tail() -> None:
    queue = fill(
        CriticalPathPolicy(),
        req("leaf", tail=0.0),
        req("chain-head", tail=300.0),
        req("mid", tail=40.0),
        req("urgent-leaf", tail=0.0, priority=1),
    )
    assert drain(queue) == ["urgent-leaf", "chain-head", "mid", "leaf"]


def test_critical_path_counts_the_lease_itself_so_the_longest_leaves_go_first() -> None:
    # 60 output tokens/s by default: a leaf expected to write 1,200 tokens (20 s) goes
    # before one of 300 (5 s), and a chain head whose tail is 10 s but whose own call is
    # 15 s (25 s in all) goes before the 20 s leaf. Prompt size does not count.
    queue = fill(
        CriticalPathPolicy(),
        req("short-leaf", output_tokens=300),
        req("long-leaf", output_tokens=1_200),
        req("head", tail=10.0, output_tokens=900),
        req("big-prompt-leaf", input_tokens=100_000, output_tokens=300),
    )
    assert drain(queue) == ["head", "long-leaf", "short-leaf", "big-prompt-leaf"]
    # Equal estimates keep arrival order.
    queue = fill(CriticalPathPolicy(), *[req(f"n{i}", output_tokens=500) for i in range(3)])
    assert drain(queue) == ["n0", "n1", "n2"]
    # A faster decoder weighs the call itself less against the tail.
    fast = CriticalPathPolicy(output_tokens_per_s=1_000.0)
    queue = fill(fast, req("a", output_tokens=9_000), req("b", tail=10.0, output_tokens=10))
    assert drain(queue) == ["b", "a"]
    with pytest.raises(ValueError, match="output_tokens_per_s must be > 0"):
        CriticalPathPolicy(output_tokens_per_s=0.0)


def test_fair_alternates_groups_by_usage() -> None:
    queue = fill(
        FairPolicy(),
        *[req(f"a{i}", group="A", share=0.1) for i in range(3)],
        *[req(f"b{i}", group="B", share=0.1) for i in range(3)],
    )
    assert drain(queue) == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_fair_weights_and_dominant_shares() -> None:
    queue = fill(
        FairPolicy(),
        *[req(f"a{i}", group="A", share=0.1, weight=2.0) for i in range(4)],
        *[req(f"b{i}", group="B", share=0.1) for i in range(2)],
    )
    # A has twice B's weight: two of A's per one of B's.
    assert drain(queue) == ["a0", "b0", "a1", "a2", "b1", "a3"]
    # A group of big calls is charged for its size.
    queue = fill(
        FairPolicy(),
        *[req(f"big{i}", group="big", share=0.4) for i in range(2)],
        *[req(f"small{i}", group="small", share=0.1) for i in range(5)],
    )
    assert drain(queue) == ["big0", "small0", "small1", "small2", "small3", "big1", "small4"]


def test_fair_new_group_cannot_claim_the_past() -> None:
    queue = FairPolicy().new_queue()
    for i in range(10):
        queue.push(req(f"a{i}", group="A", share=0.1))
    assert [queue.pop().task_id for _ in range(5)] == ["a0", "a1", "a2", "a3", "a4"]
    queue.push(req("b0", group="B", share=0.1))
    queue.push(req("b1", group="B", share=0.1))
    # B starts at A's usage (0.4 at A's last grant), not at 0: it alternates, not 5 in a row.
    assert drain(queue)[:4] == ["b0", "a5", "b1", "a6"]


def test_fair_discard_and_within_order() -> None:
    policy = FairPolicy(within=CriticalPathPolicy())
    queue = policy.new_queue()
    gone = req("gone", group="A", tail=500.0)
    for r in (req("a-short", group="A", tail=1.0), gone, req("a-long", group="A", tail=50.0)):
        queue.push(r)
    assert queue.discard(gone) and not queue.discard(gone)
    assert not queue.discard(req("stranger", group="Z"))
    assert queue.peek() is not None and queue.peek().task_id == "a-long"  # type: ignore[union-attr]
    assert drain(queue) == ["a-long", "a-short"]
    with pytest.raises(IndexError):
        queue.pop()


def test_heap_queue_mass_discard_keeps_order_and_size() -> None:
    queue = FifoPolicy().new_queue()
    requests = [req(f"t{i}") for i in range(1_000)]
    for r in requests:
        queue.push(r)
    for r in requests[::2]:
        assert queue.discard(r)
    assert len(queue) == 500
    assert drain(queue) == [f"t{i}" for i in range(1, 1_000, 2)]
    assert queue.peek() is None


def test_cap_max_tokens() -> None:
    assert cap_max_tokens(8_192, expected_output=600, output_capacity=8_000, max_share=0.5) == 4_000
    assert (
        cap_max_tokens(8_192, expected_output=5_000, output_capacity=8_000, max_share=0.5) == 5_000
    )
    assert cap_max_tokens(1_000, expected_output=600, output_capacity=8_000, max_share=0.5) == 1_000
    assert (
        cap_max_tokens(9_000, expected_output=1, output_capacity=float("inf"), max_share=0.5)
        == 9_000
    )
    assert (
        FifoPolicy(max_share=0.25).cap_max_tokens(4_000, expected_output=100, output_capacity=8_000)
        == 2_000
    )
    with pytest.raises(ValueError, match="max_share"):
        FairPolicy(max_share=0.0)


def test_get_policy_by_name_with_did_you_mean() -> None:
    assert isinstance(get_policy("critical_path"), CriticalPathPolicy)
    assert isinstance(get_policy("Critical-Path"), CriticalPathPolicy)
    assert isinstance(get_policy("fifo"), FifoPolicy)
    assert isinstance(get_policy("fair"), FairPolicy)
    assert isinstance(get_policy("priority"), PriorityPolicy)
    custom = PriorityPolicy(aging=None)
    assert get_policy(custom) is custom
    with pytest.raises(ValueError, match="Did you mean 'critical_path'"):
        get_policy("critcal_path")
    with pytest.raises(ValueError, match="known policies: critical_path, fair, fifo, priority"):
        get_policy("zzz")


def test_policies_satisfy_the_protocol_and_exports_are_sorted() -> None:
    for name in ("fifo", "fair", "priority", "critical_path"):
        policy = get_policy(name)
        assert isinstance(policy, SplitPolicy) and policy.name == name
        assert isinstance(policy.new_queue(), WaitQueue)
    assert policies.__all__ == sorted(policies.__all__)
    for name in policies.__all__:
        assert getattr(policies, name) is not None


@pytest.mark.looptime
async def test_budget_with_critical_path_admits_the_longest_chain_head_first() -> None:
    budget = Budget(
        ModelLimits(rpm=60, itpm=30_000, otpm=6_000), policy="critical_path", ramp=RampConfig.off()
    )
    hog = await budget.acquire("hog", model="claude-sonnet-5", input_tokens=30_000, max_tokens=10)
    order: list[str] = []

    async def task(name: str, tail: float) -> None:
        async with budget.lease(
            name, model="claude-sonnet-5", input_tokens=5_000, max_tokens=10, tail=tail
        ) as lease:
            order.append(name)
            lease.settle(Usage(input_tokens=5_000, output_tokens=10))

    tasks = [
        asyncio.create_task(task(name, tail))
        for name, tail in [("leaf-1", 0.0), ("chain-head", 120.0), ("leaf-2", 0.0), ("mid", 30.0)]
    ]
    await asyncio.sleep(0)
    hog.release()
    await asyncio.gather(*tasks)
    assert order == ["chain-head", "mid", "leaf-1", "leaf-2"]
