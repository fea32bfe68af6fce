"""Token estimation: input heuristic + online calibration, exact counts, output learning."""

from __future__ import annotations

import asyncio
import math

import pytest

from agents.client import LLMRequest, TokenCount
from agents.estimate import (
    ClockThrottler,
    InputEstimator,
    OutputEstimator,
    TokenCounter,
)
from agents.usage import Usage
from orchestrator.clock import LoopClock

SONNET = "claude-sonnet-5"


def request(text: str, **kwargs: object) -> LLMRequest:
    return LLMRequest(
        model=SONNET,
        messages=[{"role": "user", "content": text}],
        max_tokens=100,
        **kwargs,  # type: ignore[arg-type]
    )


def test_raw_estimate_is_chars_per_token_plus_overhead() -> None:
    est = InputEstimator(chars_per_token=3.5, per_message=4, per_request=8)
    assert est.raw(request("x" * 3_500)) == 1_000 + 4 + 8
    blocks = LLMRequest(
        model=SONNET,
        system=[{"type": "text", "text": "s" * 350}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "u" * 350}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "1", "name": "f", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "1", "content": "r" * 35}],
            },
        ],
        max_tokens=10,
    )
    assert est.raw(blocks) == math.ceil((350 + 350 + 1 + 2 + 35) / 3.5) + 3 * 4 + 8


def test_tools_schema_and_images_add_tokens() -> None:
    est = InputEstimator()
    plain = est.raw(request("hello"))
    tools = [{"name": "search", "description": "d" * 350, "input_schema": {"type": "object"}}]
    assert est.raw(request("hello", tools=tools)) > plain + 100
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    assert est.raw(request("hello", output_schema=schema)) > plain
    image = {
        "role": "user",
        "content": [{"type": "image", "source": {"type": "base64", "data": "A" * 10_000}}],
    }
    assert est.raw({"model": SONNET, "messages": [image]}) == 8 + 4 + 1_600


def test_estimate_applies_margin_and_calibration_converges_to_the_real_ratio() -> None:
    est = InputEstimator(margin=1.05, smoothing=0.2)
    req = request("word " * 2_000)
    raw = est.raw(req)
    assert est.estimate(req) == math.ceil(raw * 1.05)
    for _ in range(30):
        est.calibrate(SONNET, raw, Usage(input_tokens=int(raw * 1.3)))
    assert est.ratio(SONNET) == pytest.approx(1.3, rel=0.01)
    assert est.estimate(req) == pytest.approx(raw * 1.3 * 1.05, rel=0.01)
    assert est.ratio("claude-haiku-4-5") == 1.0  # per model class


def test_calibration_counts_cached_prompt_and_is_bounded() -> None:
    est = InputEstimator(min_ratio=0.5, max_ratio=3.0)
    # The real prompt includes cache reads: 100 + 300 + 600 = 1000 = 2x the raw 500.
    usage = Usage(input_tokens=100, cache_creation_input_tokens=300, cache_read_input_tokens=600)
    assert est.calibrate(SONNET, 500, usage) == pytest.approx(2.0)
    est = InputEstimator(max_ratio=3.0)
    assert est.calibrate(SONNET, 100, 10_000) == 3.0  # a garbled sample is capped
    assert est.calibrate(SONNET, 0, 10) == 3.0  # nothing to learn from
    with pytest.raises(ValueError, match="margin"):
        InputEstimator(margin=0.9)


def test_one_outlier_moves_the_ratio_only_by_the_smoothing_factor() -> None:
    est = InputEstimator(smoothing=0.1)
    for _ in range(20):
        est.calibrate(SONNET, 1_000, 1_000)
    est.calibrate(SONNET, 1_000, 3_000)
    assert est.ratio(SONNET) == pytest.approx(1.2)


@pytest.mark.looptime
async def test_token_counter_throttles_to_its_rpm_and_calibrates() -> None:
    calls: list[float] = []

    async def count_tokens(req: LLMRequest) -> TokenCount:
        calls.append(asyncio.get_running_loop().time())
        return TokenCount(input_tokens=2 * est.raw(req))

    est = InputEstimator()
    counter = TokenCounter(count_tokens, rpm=2, estimator=est)
    results = await asyncio.gather(*(counter.count(request("abc " * 100)) for _ in range(5)))
    assert results[0] == 2 * est.raw(request("abc " * 100))
    assert calls == pytest.approx([0.0, 0.0, 60.0, 60.0, 120.0])
    assert est.ratio(SONNET) == pytest.approx(2.0)


@pytest.mark.looptime
async def test_clock_throttler_sleeps_exactly_once_per_wait() -> None:
    class Counting(LoopClock):
        sleeps = 0

        async def sleep(self, seconds: float) -> None:
            Counting.sleeps += 1
            await super().sleep(seconds)

    throttler = ClockThrottler(1, 10.0, clock=Counting())
    for _ in range(4):
        async with throttler:
            pass
    assert asyncio.get_running_loop().time() == pytest.approx(30.0)
    assert Counting.sleeps == 3


def test_output_declared_then_learned_with_headroom() -> None:
    est = OutputEstimator(headroom=1.3, quantile=0.95, min_samples=5)
    cold = est.estimate("summary", declared_max_tokens=8_192)
    assert (cold.expected, cold.max_tokens, cold.learned) == (8_192, 8_192, False)
    declared = est.estimate("summary", declared_output=600, declared_max_tokens=8_192)
    assert (declared.expected, declared.max_tokens) == (600, math.ceil(600 * 1.3 * 1.5))
    for n in range(300, 1_300, 10):  # 100 samples, 300..1290
        est.record("summary", n)
    learned = est.estimate("summary", declared_max_tokens=8_192)
    assert learned.learned and learned.expected == 795  # the mean
    p95 = 300 + 10 * (math.ceil(0.95 * 100) - 1)
    assert learned.max_tokens == math.ceil(p95 * 1.3)
    assert est.estimate("summary", declared_max_tokens=1_000).max_tokens == 1_000
    assert est.estimate("summary", model_max=900).max_tokens == 900
    assert est.estimate("other").expected == 1_024  # unknown kind, nothing declared
    assert est.samples("summary") == 100 and est.samples("nope") == 0


def test_truncated_outputs_raise_the_next_max_tokens() -> None:
    est = OutputEstimator(min_samples=3, window=5)
    for _ in range(5):
        est.record("k", 500)
    before = est.estimate("k").max_tokens
    est.record("k", 650, truncated=True)
    assert est.estimate("k").max_tokens > before
    assert est.estimate("k").max_tokens == math.ceil(1_300 * 1.3)


def test_output_window_forgets_old_samples() -> None:
    est = OutputEstimator(min_samples=1, window=3, headroom=1.0, quantile=1.0)
    for n in (10_000, 100, 100, 100):
        est.record("k", n)
    assert est.estimate("k").max_tokens == 100
