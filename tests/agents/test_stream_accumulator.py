"""The pure stream core: folding events into a message, and replaying a message as events."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic_fakes import stream_events
from hypothesis import given
from hypothesis import strategies as st

from agents import LLMResponse, Usage
from agents._stream import (
    MalformedMessageError,
    MessageAccumulator,
    approx_tokens,
    message_events,
)


def fold(events: list[dict[str, Any]]) -> MessageAccumulator:
    accumulator = MessageAccumulator()
    for event in events:
        accumulator.feed(event)
    return accumulator


def test_fold_real_sequence() -> None:
    accumulator = fold(stream_events())
    assert accumulator.finished and accumulator.events == len(stream_events())
    response = accumulator.response(request_id="req_x")
    assert response.text == "Let me look that up."
    assert response.tool_uses[0]["input"] == {"query": "token buckets", "limit": 3}
    assert response.usage.output_tokens == 57 and response.request_id == "req_x"


def test_response_before_message_stop_is_refused() -> None:
    with pytest.raises(MalformedMessageError, match="message_stop"):
        fold(stream_events()[:-1]).response()


def test_partial_output_tokens_uses_the_larger_of_report_and_content() -> None:
    events = stream_events()
    assert fold(events[:5]).partial_output_tokens == 5  # 20 chars of text, reported 1
    assert fold(events).partial_output_tokens == 57  # the server's final count


def test_thinking_signature_and_citations_deltas() -> None:
    start = stream_events()[0]
    events: list[dict[str, Any]] = [
        start,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Hmm."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "text", "text": "", "citations": None},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "citations_delta", "citation": {"type": "char_location"}},
        },
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "A"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "future_delta", "x": 1}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 9},
        },
        {"type": "some_future_event"},
        {"type": "message_stop"},
    ]
    response = fold(events).response()
    assert response.content == (
        {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
        {"type": "text", "text": "A", "citations": [{"type": "char_location"}]},
    )


@pytest.mark.parametrize(
    ("events", "match"),
    [
        (
            [{"type": "content_block_start", "index": 0, "content_block": {}}],
            "before message_start",
        ),
        ([stream_events()[0], {"type": "content_block_stop", "index": 3}], "never started"),
        ([stream_events()[0], {"type": "message_start"}], "without a message"),
        (
            [
                stream_events()[0],
                {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use"}},
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": '{"a": '},
                },
                {"type": "content_block_stop", "index": 0},
            ],
            "invalid JSON",
        ),
    ],
)
def test_protocol_violations(events: list[dict[str, Any]], match: str) -> None:
    with pytest.raises(MalformedMessageError, match=match):
        fold(events)


def test_approx_tokens() -> None:
    assert [approx_tokens(s) for s in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


block = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=80)),
    st.builds(
        lambda name, data: {"type": "tool_use", "id": "toolu_x", "name": name, "input": data},
        st.text(min_size=1, max_size=10),
        st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20), max_size=4),
    ),
    st.builds(
        lambda t, s: {"type": "thinking", "thinking": t, "signature": s},
        st.text(max_size=40),
        st.text(min_size=1, max_size=8),
    ),
    st.just({"type": "redacted_thinking", "data": "opaque"}),
)


@given(
    content=st.lists(block, max_size=4),
    output=st.integers(min_value=0, max_value=10_000),
    chunk=st.integers(min_value=1, max_value=30),
)
def test_replayed_events_fold_back_into_the_same_message(
    content: list[dict[str, Any]], output: int, chunk: int
) -> None:
    response = LLMResponse(
        id="msg_r",
        model="m",
        content=tuple(content),
        stop_reason="end_turn",
        usage=Usage(input_tokens=3, output_tokens=output, cache_read_input_tokens=7),
    )
    events = message_events(response, chunk_chars=chunk)
    assert [e["type"] for e in events[:2]] == ["message_start", "ping"]
    assert events[-1] == {"type": "message_stop"}
    assert fold(events).response() == response
