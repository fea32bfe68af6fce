"""The app's admit/reject decisions against an independent model of the three buckets."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

import httpx2
from emulator_helpers import MODEL, config
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from orchestrator.clock import ManualClock
from orchestrator.emulator import Emulator, count_request_tokens

RPM, ITPM, OTPM = 12, 3000, 600
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


@dataclass
class Bucket:
    """Reference bucket: level at time `at`, linear refill, clipped at the limit."""

    limit: float
    level: float
    at: float = 0.0

    def now(self, t: float) -> float:
        self.level = min(self.limit, self.level + (t - self.at) * self.limit / 60)
        self.at = t
        return self.level

    def wait(self, need: float) -> int:
        return max(1, math.ceil((need - self.level) / (self.limit / 60) - 1e-9))


requests = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0, 10.0]),
        st.one_of(st.just(0), st.integers(min_value=0, max_value=1400)),  # prompt (about)
        st.one_of(st.just(1), st.integers(min_value=1, max_value=400)),  # max_tokens
        st.one_of(st.just(1), st.integers(min_value=1, max_value=400)),  # output asked for
    ),
    min_size=1,
    max_size=30,
)


async def replay(accounting: str, sequence: list[tuple[float, int, int, int]]) -> None:
    clock = ManualClock()
    emulator = Emulator(
        config(
            limits={"*": {"rpm": RPM, "itpm": ITPM, "otpm": OTPM}},
            accounting=accounting,
            exhaustion="debt",
        ),
        clock=clock,
    )
    ref = {"requests": Bucket(RPM, RPM), "input": Bucket(ITPM, ITPM), "output": Bucket(OTPM, OTPM)}
    transport = httpx2.ASGITransport(app=emulator.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://e") as http:
        for dt, size, max_tokens, output in sequence:
            clock.advance(dt)
            body: dict[str, Any] = {
                "model": MODEL,
                "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": "x" * (4 * size)}],
                "metadata": {"emulator_output_tokens": output},
            }
            input_tokens = count_request_tokens(body)
            levels = {name: b.now(clock.now()) for name, b in ref.items()}
            need = {
                "requests": 1,
                "input": input_tokens,
                "output": max_tokens if accounting == "legacy" else 1,
            }
            short = {
                k: ref[k].wait(min(need[k], ref[k].limit))
                for k in ref
                if levels[k] + 1e-6 < need[k]
            }
            response = await http.post("/v1/messages", json=body, headers=HEADERS)
            if short:
                event(f"429 on {sorted(short)}")
                assert response.status_code == 429, (levels, need)
                assert int(response.headers["retry-after"]) == max(short.values())
                continue
            assert response.status_code == 200, (levels, need, response.text)
            produced = min(output, max_tokens)
            assert response.json()["usage"]["output_tokens"] == produced
            ref["requests"].level -= 1
            ref["input"].level -= input_tokens
            ref["output"].level -= produced  # legacy: reserved, then refunded down to this
            remaining = int(response.headers["anthropic-ratelimit-requests-remaining"])
            assert remaining == math.floor(ref["requests"].level + 1e-9)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(accounting=st.sampled_from(["legacy", "actual"]), sequence=requests)
@example(accounting="actual", sequence=[(0.0, 0, 1, 1)] * 14 + [(2.0, 0, 1, 1)] * 3)
@example(accounting="legacy", sequence=[(0.0, 10, 500, 1)] * 3 + [(1.0, 700, 1, 1)] * 6)
def test_app_decisions_match_the_reference(
    accounting: str, sequence: list[tuple[float, int, int, int]]
) -> None:
    asyncio.run(replay(accounting, sequence))
