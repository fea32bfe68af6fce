"""`ScriptedLLM`: a real `LLMClient` that replays scripted replies, for tests (yours too).

```python
llm = ScriptedLLM(["plain text", {"answer": 42}, ScriptedLLM.tool_call("search", {"q": "x"})])
llm = ScriptedLLM.from_function(lambda request: f"echo {len(request.messages)}")
...
llm.assert_complete()
```
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeAlias

from agents._stream import approx_tokens, message_events
from agents.client import LLMRequest, LLMResponse, StreamEventHandler, TokenCount
from agents.errors import ErrorKind, LLMError
from agents.ratelimit import RateLimitSnapshot
from agents.usage import Usage

__all__ = ["ScriptedFunction", "ScriptedLLM", "ScriptedOutput", "ScriptedReply", "ScriptedStep"]

_tool_ids = itertools.count(1)

_ERROR_STATUS: dict[ErrorKind, int] = {
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.ACCELERATION: 429,
    ErrorKind.SPEND_LIMIT: 429,
    ErrorKind.OVERLOADED: 529,
    ErrorKind.SERVER: 500,
    ErrorKind.TIMEOUT: 504,
    ErrorKind.INVALID_REQUEST: 400,
    ErrorKind.AUTH: 401,
    ErrorKind.NOT_FOUND: 404,
}
_ERROR_CODES: dict[ErrorKind, str] = {
    ErrorKind.ACCELERATION: "ramp_limit_exceeded",
    ErrorKind.SPEND_LIMIT: "enforced_spend_limit_reached",
}


@dataclass(frozen=True, kw_only=True)
class ScriptedReply:
    """One scripted answer. Fields left None are filled in per call.

    `usage` None: computed by the rule in `ScriptedLLM` (about 4 characters a token).
    `ratelimit` None: the `ScriptedLLM`'s default snapshot. `latency` None: its default.
    """

    content: tuple[Mapping[str, Any], ...]
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None
    usage: Usage | None = None
    ratelimit: RateLimitSnapshot | None = None
    latency: float | None = None


#: What a step may produce: a full response, a `ScriptedReply`, a text reply (str), a JSON
#: reply (any dict, sent as its JSON text), or an `LLMError` to raise.
ScriptedOutput: TypeAlias = LLMResponse | ScriptedReply | str | Mapping[str, Any] | LLMError
#: A step computed from the request; may be async; may also raise `LLMError` itself.
ScriptedFunction: TypeAlias = Callable[[LLMRequest], ScriptedOutput | Awaitable[ScriptedOutput]]
#: One entry of a script.
ScriptedStep: TypeAlias = ScriptedOutput | ScriptedFunction


class _Sleeper(Protocol):
    async def sleep(self, seconds: float) -> None: ...


def _block_text(block: Mapping[str, Any] | str) -> str:
    if isinstance(block, str):
        return block
    if block.get("type") == "text":
        return str(block.get("text", ""))
    return json.dumps(block, separators=(",", ":"), ensure_ascii=False, default=str)


def _request_text(request: LLMRequest) -> str:
    system, messages = request.system, request.messages
    if (
        system is None
        and len(messages) == 1
        and not request.tools
        and not request.output_schema
        and type(text := messages[0].get("content", "")) is str
    ):
        return text  # one plain text message: what the general walk below joins, as is
    parts: list[str] = []
    if isinstance(system, str):
        parts.append(system)
    elif system is not None:
        parts += [_block_text(b) for b in system]
    for message in request.messages:
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [_block_text(b) for b in content]
    for extra in (request.tools, request.output_schema):
        if extra:
            parts.append(json.dumps(extra, separators=(",", ":"), default=str))
    return "".join(parts)


def _describe_request(request: LLMRequest) -> str:
    last = request.messages[-1] if request.messages else {}
    content = last.get("content", "")
    text = content if isinstance(content, str) else " ".join(_block_text(b) for b in content)
    if len(text) > 80:
        text = text[:77] + "..."
    return (
        f"model={request.model!r}, {len(request.messages)} message(s), "
        f"last {last.get('role', '?')}: {text!r}"
    )


def _describe_step(step: ScriptedStep) -> str:
    if isinstance(step, LLMError):
        return f"error {step.kind.value}: {step.message[:60]!r}"
    if isinstance(step, str):
        return f"text {step[:60]!r}"
    if isinstance(step, ScriptedReply | LLMResponse):
        kinds = ",".join(str(b.get("type")) for b in step.content)
        return f"{type(step).__name__}[{kinds}] stop_reason={step.stop_reason}"
    if isinstance(step, Mapping):
        return f"json {json.dumps(step, default=str)[:60]}"
    return f"function {getattr(step, '__qualname__', repr(step))}"


class ScriptedLLM:
    """An `LLMClient` that answers from a script instead of a model.

    Built from a queue of steps, consumed in call order by `create` and `stream`: a
    `LLMResponse` (returned as-is), a `ScriptedReply`, a `str` (text reply), a dict (its
    JSON as a text reply), an `LLMError` (raised), or a function of the `LLMRequest`
    returning one of those. Or built with `from_function`: one function answers every call.

    Every `create`/`stream` request is recorded in `.calls` (`count_tokens` ones in
    `.count_calls`; they use no step). A call past the end of the script raises
    `LLMError(SCRIPT_EXHAUSTED)`; `assert_complete()` fails if steps were left unused.

    Usage, when a reply gives none: `input_tokens = ceil(chars / 4)`, where chars counts the
    text of the system prompt and of messages' text blocks, plus the compact JSON of other
    blocks, tools and `output_schema`; `output_tokens = ceil(chars / 4)` of the reply's
    content, counted the same way. `count_tokens` uses the same input rule.

    Replies are instant by default. With `latency` (seconds, per reply or for all), each
    call first sleeps on `clock.sleep` (default `asyncio.sleep`, so a virtual-time loop or
    a `ManualClock` fast-forwards it). `stream` replays the reply as the API's events.
    """

    def __init__(
        self,
        steps: Iterable[ScriptedStep] = (),
        *,
        ratelimit: RateLimitSnapshot | None = None,
        latency: float = 0.0,
        clock: _Sleeper | None = None,
    ) -> None:
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        self._steps: deque[ScriptedStep] = deque(steps)
        self._scripted = len(self._steps)
        self._function: ScriptedFunction | None = None
        self._ratelimit = ratelimit or RateLimitSnapshot()
        self._latency = latency
        self._clock = clock
        self.calls: list[LLMRequest] = []
        self.count_calls: list[LLMRequest] = []

    @classmethod
    def from_function(
        cls,
        function: ScriptedFunction,
        *,
        ratelimit: RateLimitSnapshot | None = None,
        latency: float = 0.0,
        clock: _Sleeper | None = None,
    ) -> ScriptedLLM:
        """A `ScriptedLLM` whose every call is answered by `function(request)`."""
        llm = cls(ratelimit=ratelimit, latency=latency, clock=clock)
        llm._function = function
        return llm

    def add(self, *steps: ScriptedStep) -> Self:
        """Append steps to the script."""
        self._steps.extend(steps)
        self._scripted += len(steps)
        return self

    @property
    def remaining(self) -> int:
        """Scripted steps not used yet (0 in function mode)."""
        return len(self._steps)

    def assert_complete(self) -> None:
        """Raise AssertionError listing the scripted steps that no call used."""
        if not self._steps:
            return
        first = self._scripted - len(self._steps)
        listing = "; ".join(
            f"[{first + i}] {_describe_step(step)}" for i, step in enumerate(self._steps)
        )
        raise AssertionError(
            f"ScriptedLLM: {len(self._steps)} of {self._scripted} scripted step(s) never "
            f"used after {len(self.calls)} call(s): {listing}"
        )

    # --- reply shorthands -----------------------------------------------------------------

    @staticmethod
    def text(
        text: str,
        *,
        stop_reason: str = "end_turn",
        usage: Usage | None = None,
        ratelimit: RateLimitSnapshot | None = None,
        latency: float | None = None,
    ) -> ScriptedReply:
        """A text reply."""
        return ScriptedReply(
            content=({"type": "text", "text": text},),
            stop_reason=stop_reason,
            usage=usage,
            ratelimit=ratelimit,
            latency=latency,
        )

    @staticmethod
    def json(
        value: Any,
        *,
        usage: Usage | None = None,
        ratelimit: RateLimitSnapshot | None = None,
        latency: float | None = None,
    ) -> ScriptedReply:
        """A structured-output reply: `value` serialised as the text block's JSON."""
        return ScriptedLLM.text(
            json.dumps(value, ensure_ascii=False),
            usage=usage,
            ratelimit=ratelimit,
            latency=latency,
        )

    @staticmethod
    def tool_call(
        name: str,
        input: Mapping[str, Any],
        *,
        id: str | None = None,
        text: str | None = None,
        usage: Usage | None = None,
        ratelimit: RateLimitSnapshot | None = None,
        latency: float | None = None,
    ) -> ScriptedReply:
        """A `tool_use` reply (stop_reason `tool_use`), optionally after some text."""
        block = {
            "type": "tool_use",
            "id": id or f"toolu_scripted_{next(_tool_ids):04d}",
            "name": name,
            "input": dict(input),
        }
        content: tuple[Mapping[str, Any], ...] = (block,)
        if text:
            content = ({"type": "text", "text": text}, block)
        return ScriptedReply(
            content=content,
            stop_reason="tool_use",
            usage=usage,
            ratelimit=ratelimit,
            latency=latency,
        )

    @staticmethod
    def error(
        kind: ErrorKind,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        limit: str | None = None,
        error_code: str | None = None,
        partial_output_tokens: int | None = None,
        ratelimit: RateLimitSnapshot | None = None,
    ) -> LLMError:
        """An error step; status code and error code default to what the API sends."""
        return LLMError(
            kind,
            message or f"scripted {kind.value} error",
            status_code=status_code if status_code is not None else _ERROR_STATUS.get(kind),
            retry_after=retry_after,
            limit=limit,
            error_code=error_code or _ERROR_CODES.get(kind),
            ratelimit=ratelimit,
            partial_output_tokens=partial_output_tokens,
        )

    # --- the LLMClient protocol -----------------------------------------------------------

    async def create(self, request: LLMRequest) -> LLMResponse:
        """Answer with the next step."""
        return await self._answer(request)

    async def stream(
        self, request: LLMRequest, on_event: StreamEventHandler | None = None
    ) -> LLMResponse:
        """Answer with the next step, replayed to `on_event` as the API's SSE events."""
        response = await self._answer(request)
        if on_event is not None:
            for event in message_events(response):
                result = on_event(event)
                if inspect.isawaitable(result):
                    await result
        return response

    async def count_tokens(self, request: LLMRequest) -> TokenCount:
        """The documented rule's input tokens; uses no step."""
        self.count_calls.append(request)
        return TokenCount(
            input_tokens=approx_tokens(_request_text(request)),
            ratelimit=self._ratelimit,
            request_id=f"req_scripted_count_{len(self.count_calls):04d}",
        )

    # --- internals ------------------------------------------------------------------------

    def _next_step(self, request: LLMRequest) -> ScriptedStep:
        if self._function is not None:
            return self._function
        if not self._steps:
            raise LLMError(
                ErrorKind.SCRIPT_EXHAUSTED,
                f"ScriptedLLM ran out of steps: {self._scripted} step(s) were scripted and "
                f"all were used, but call #{len(self.calls)} came: {_describe_request(request)}. "
                "Script more steps (ScriptedLLM.add) or find the unexpected call.",
            )
        return self._steps.popleft()

    async def _answer(self, request: LLMRequest) -> LLMResponse:
        self.calls.append(request)
        number = len(self.calls)
        step = self._next_step(request)
        reply: Any = step
        if callable(step):
            reply = step(request)
            # A text reply needs no `isawaitable` check (an ABC test: slow, and it says no).
            if type(reply) is not str and inspect.isawaitable(reply):
                reply = await reply
        latency = reply.latency if isinstance(reply, ScriptedReply) else None
        seconds = self._latency if latency is None else latency
        if seconds <= 0:
            await asyncio.sleep(0)  # what `_sleep` does, without its coroutine (the usual case)
        else:
            await self._sleep(seconds)
        request_id = f"req_scripted_{number:04d}"
        if isinstance(reply, LLMError):
            raise _with_request_id(reply, request_id)
        return self._response(reply, request, number, request_id)

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            # Still yield, as any real call would, so concurrent callers interleave.
            await asyncio.sleep(0)
        elif self._clock is not None:
            await self._clock.sleep(seconds)
        else:
            await asyncio.sleep(seconds)

    def _response(
        self, reply: object, request: LLMRequest, number: int, request_id: str
    ) -> LLMResponse:
        if isinstance(reply, LLMResponse):
            return reply
        if type(reply) is str:
            # The common case, built directly: what `ScriptedLLM.text(reply)` would give.
            return LLMResponse(
                id=f"msg_scripted_{number:04d}",
                model=request.model,
                content=({"type": "text", "text": reply},),
                stop_reason="end_turn",
                stop_sequence=None,
                usage=Usage(
                    input_tokens=approx_tokens(_request_text(request)),
                    output_tokens=approx_tokens(reply),
                ),
                ratelimit=self._ratelimit,
                request_id=request_id,
            )
        if isinstance(reply, str):
            reply = ScriptedLLM.text(reply)
        elif isinstance(reply, Mapping):
            reply = ScriptedLLM.json(dict(reply))
        if not isinstance(reply, ScriptedReply):
            raise TypeError(
                f"ScriptedLLM step #{number} produced {type(reply).__name__}; expected "
                "LLMResponse, ScriptedReply, str, dict or LLMError"
            )
        usage = reply.usage or Usage(
            input_tokens=approx_tokens(_request_text(request)),
            output_tokens=approx_tokens("".join(_block_text(b) for b in reply.content)),
        )
        return LLMResponse(
            id=f"msg_scripted_{number:04d}",
            model=request.model,
            content=tuple(dict(b) for b in reply.content),
            stop_reason=reply.stop_reason,
            stop_sequence=reply.stop_sequence,
            usage=usage,
            ratelimit=reply.ratelimit or self._ratelimit,
            request_id=request_id,
        )

    def __repr__(self) -> str:
        mode = "function" if self._function is not None else f"{self.remaining} step(s) left"
        return f"ScriptedLLM({mode}, {len(self.calls)} call(s))"


def _with_request_id(error: LLMError, request_id: str) -> LLMError:
    """A fresh copy of a scripted error (one step may be raised once per script position)."""
    return LLMError(
        error.kind,
        error.message,
        request_id=error.request_id or request_id,
        status_code=error.status_code,
        retry_after=error.retry_after,
        limit=error.limit,
        error_code=error.error_code,
        ratelimit=error.ratelimit,
        partial_output_tokens=error.partial_output_tokens,
    )
