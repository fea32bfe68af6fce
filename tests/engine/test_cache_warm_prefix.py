"""The cacheable prefixes of a request (`orchestrator._cache_prefix`): keys and sizes."""

from __future__ import annotations

from typing import Any

from agents.client import LLMRequest
from agents.estimate import InputEstimator
from orchestrator._cache_prefix import prefix_marks

MARK = {"type": "ephemeral"}
CONTEXT = "the shared context " * 400


def request(question: str, *, model: str = "claude-sonnet-4-6", **kwargs: Any) -> LLMRequest:
    fields: dict[str, Any] = {
        "system": [{"type": "text", "text": CONTEXT, "cache_control": MARK}],
        "messages": [{"role": "user", "content": question}],
    }
    fields.update(kwargs)
    return LLMRequest(model=model, max_tokens=100, **fields)


def keys(req: LLMRequest) -> list[str]:
    return [mark.key for mark in prefix_marks(req, InputEstimator())]


def test_siblings_share_the_key_of_their_common_prefix() -> None:
    first, second = keys(request("one")), keys(request("two, longer"))
    assert len(first) == 1 and first == second


def test_the_key_depends_on_the_model_and_the_prefix_content() -> None:
    base = keys(request("q"))
    assert keys(request("q", model="claude-opus-4-5")) != base
    other = [{"type": "text", "text": CONTEXT + ".", "cache_control": MARK}]
    assert keys(request("q", system=other)) != base
    assert keys(request("q", output_schema={"type": "object"})) != base


def test_no_breakpoint_no_marks() -> None:
    plain = LLMRequest(
        model="claude-sonnet-4-6",
        max_tokens=100,
        system=CONTEXT,
        messages=[{"role": "user", "content": "q"}],
    )
    assert prefix_marks(plain, InputEstimator()) == ()


def test_every_breakpoint_is_a_mark_in_cache_order_with_its_ttl() -> None:
    tool = {"name": "look", "input_schema": {"type": "object"}, "cache_control": MARK}
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "the question"},
            {
                "type": "text",
                "text": "and more",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            },
        ],
    }
    req = request("unused", tools=[tool], messages=[message])
    marks = prefix_marks(req, InputEstimator())
    assert [m.ttl_s for m in marks] == [300.0, 300.0, 3600.0]
    assert marks[0].raw < marks[1].raw < marks[2].raw
    # the system mark's raw size covers the tool and the context (about 3.5 chars a token)
    assert marks[1].raw >= len(CONTEXT) / 3.5
    # moving a later marker does not change the earlier prefixes' keys
    unmarked = {**message, "content": [{"type": "text", "text": "the question"}]}
    fewer = prefix_marks(request("unused", tools=[tool], messages=[unmarked]), InputEstimator())
    assert [m.key for m in fewer] == [m.key for m in marks[:2]]
