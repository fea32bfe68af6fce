"""Pure pieces: token rule, cache store, ramp limiter, latency, ids, faults, text."""

from __future__ import annotations

import random

import pytest

from orchestrator.emulator import (
    FaultConfig,
    FaultInjector,
    FaultKind,
    LatencyModel,
    PromptCache,
    RampLimiter,
    count_request_tokens,
    prompt_shape,
    text_tokens,
)
from orchestrator.emulator._ids import IdFactory
from orchestrator.emulator._text import filler
from orchestrator.emulator.tokens import BLOCK_OVERHEAD, MESSAGE_OVERHEAD, TOOL_OVERHEAD


def test_text_tokens_is_ceil_of_utf8_bytes_over_four() -> None:
    assert text_tokens("") == 0
    assert text_tokens("abcd") == 1
    assert text_tokens("abcde") == 2
    assert text_tokens("é" * 4) == 2  # 8 bytes


def test_request_tokens_follow_the_documented_rule() -> None:
    tool = {"name": "t", "input_schema": {"type": "object"}}
    body = {
        "system": "abcd",
        "tools": [tool],
        "messages": [
            {"role": "user", "content": "abcdefgh"},
            {"role": "assistant", "content": [{"type": "text", "text": "abcd"}]},
        ],
    }
    tool_json = '{"input_schema":{"type":"object"},"name":"t"}'
    expected = (
        (BLOCK_OVERHEAD + 1)  # system
        + TOOL_OVERHEAD
        + text_tokens(tool_json)
        + (MESSAGE_OVERHEAD + BLOCK_OVERHEAD + 2)
        + (MESSAGE_OVERHEAD + BLOCK_OVERHEAD + 1)
    )
    assert count_request_tokens(body) == expected


def test_cache_control_does_not_change_the_count() -> None:
    plain = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 400}]}]}
    marked = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "x" * 400, "cache_control": {"type": "ephemeral"}}
                ],
            }
        ]
    }
    assert count_request_tokens(plain) == count_request_tokens(marked)
    assert prompt_shape(marked, "k").total_tokens == count_request_tokens(marked)


def _cached_body(prefix: str, suffix: str, ttl: str = "5m") -> dict[str, object]:
    return {
        "system": [
            {"type": "text", "text": prefix, "cache_control": {"type": "ephemeral", "ttl": ttl}}
        ],
        "messages": [{"role": "user", "content": suffix}],
    }


def test_cache_plan_write_then_read_then_expiry() -> None:
    cache = PromptCache(ttl_5m=300)
    shape = prompt_shape(_cached_body("p" * 8000, "question"), "key")
    assert len(shape.breakpoints) == 1
    prefix_tokens = shape.breakpoints[0].tokens
    first = cache.plan(shape, 1024, now=0.0)
    assert (first.read_tokens, first.write_5m_tokens) == (0, prefix_tokens)
    # not readable before the writer's first token
    assert cache.plan(shape, 1024, now=0.5).read_tokens == 0
    cache.commit(first, now=1.0)
    second = cache.plan(shape, 1024, now=2.0)
    assert (second.read_tokens, second.write_tokens) == (prefix_tokens, 0)
    cache.refresh(second, now=200.0)  # a hit starts the TTL again
    assert cache.plan(shape, 1024, now=450.0).read_tokens == prefix_tokens
    assert cache.plan(shape, 1024, now=501.0).read_tokens == 0


def test_cache_below_minimum_writes_nothing() -> None:
    cache = PromptCache()
    shape = prompt_shape(_cached_body("p" * 400, "q"), "key")
    plan = cache.plan(shape, 1024, now=0.0)
    assert plan.write_tokens == 0 and plan.read_tokens == 0 and plan.had_breakpoints


def test_cache_keys_depend_on_scope_and_prefix_only() -> None:
    a = prompt_shape(_cached_body("p" * 5000, "one"), "key-a").breakpoints[0]
    b = prompt_shape(_cached_body("p" * 5000, "two"), "key-a").breakpoints[0]
    c = prompt_shape(_cached_body("p" * 5000, "one"), "key-b").breakpoints[0]
    d = prompt_shape(_cached_body("p" * 5001, "one"), "key-a").breakpoints[0]
    assert a.key == b.key
    assert a.key != c.key
    assert a.key != d.key


def test_longest_cached_prefix_is_read_and_the_rest_written_by_ttl() -> None:
    cache = PromptCache()
    body = {
        "tools": [
            {
                "name": "t",
                "input_schema": {"type": "object", "description": "d" * 6000},
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "m" * 8000, "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "tail"},
                ],
            }
        ],
    }
    shape = prompt_shape(body, "k")
    first_bp, second_bp = shape.breakpoints
    plan = cache.plan(shape, 1024, now=0.0)
    assert plan.write_1h_tokens == first_bp.tokens
    assert plan.write_5m_tokens == second_bp.tokens - first_bp.tokens
    cache.commit(plan, now=0.0)
    again = cache.plan(shape, 1024, now=1.0)
    assert again.read_tokens == second_bp.tokens
    assert shape.total_tokens - again.read_tokens > 0  # the tail stays uncached


def test_top_level_cache_control_marks_the_last_block() -> None:
    body = {
        "cache_control": {"type": "ephemeral"},
        "messages": [{"role": "user", "content": "x" * 6000}],
    }
    shape = prompt_shape(body, "k")
    assert len(shape.breakpoints) == 1
    assert shape.breakpoints[0].tokens == shape.total_tokens


def test_ramp_limiter_allows_growth_up_to_the_factor() -> None:
    ramp = RampLimiter(window=60, max_growth=2.0, floor=10)
    assert all(ramp.check(float(i)) is None for i in range(10))
    assert ramp.check(10.0) == 50  # floor reached: wait for the next window
    assert all(ramp.check(60.0 + i) is None for i in range(20))  # 2 x 10
    assert ramp.check(80.0) == 40
    assert ramp.check(200.0) is None  # after an idle window only the floor passes
    assert ramp.allowance(200.0) == 10


def test_latency_timing_and_jitter() -> None:
    model = LatencyModel(ttft=0.5, tokens_per_second=50, prefill_per_token=1e-4, jitter=0.2)
    low = model.timing(1000, 0.0)
    high = model.timing(1000, 0.999999)
    assert low.first_token == pytest.approx(0.6 * 0.8)
    assert high.first_token == pytest.approx(0.6 * 1.2, rel=1e-4)
    assert low.total(100) == pytest.approx(0.48 + 100 * 0.8 / 50)
    assert LatencyModel.zero().instant
    assert LatencyModel.zero().timing(10**6, 0.5).total(10**6) == 0


def test_ids_are_seeded_and_prefixed() -> None:
    a, b = IdFactory(7), IdFactory(7)
    first = [a.next("msg"), a.next("req"), a.next("msg")]
    assert first == [b.next("msg"), b.next("req"), b.next("msg")]
    assert first[0].startswith("msg_01") and len(first[0]) == 28
    assert first[0] != first[2]
    assert IdFactory(8).next("msg") != first[0]


def test_fault_draws_follow_probabilities_and_seed() -> None:
    config = FaultConfig(overloaded_529=0.25, midstream_error=0.25)
    draws = [FaultInjector(config, 3).draw(stream=True) for _ in range(1)]
    injector = FaultInjector(config, 3)
    draws = [injector.draw(stream=True) for _ in range(4000)]
    assert 800 < draws.count(FaultKind.OVERLOADED) < 1200
    assert 800 < draws.count(FaultKind.MIDSTREAM_ERROR) < 1200
    again = FaultInjector(config, 3)
    assert [again.draw(stream=True) for _ in range(4000)] == draws
    plain = FaultInjector(config, 3)
    assert FaultKind.MIDSTREAM_ERROR not in [plain.draw(stream=False) for _ in range(4000)]


def test_fault_probabilities_must_sum_to_at_most_one() -> None:
    with pytest.raises(ValueError, match="sum to"):
        FaultConfig(overloaded_529=0.7, server_500=0.7)


def test_filler_has_exact_length() -> None:
    rng = random.Random(1)
    for length in (0, 1, 7, 4000, 200_000):
        text = filler(rng, length)
        assert len(text) == length and text.isascii()
