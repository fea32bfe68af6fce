"""The worker: runs one task's agent — prompt, tool loop, structured output — under the budget.

Request layout, identical byte for byte across workers that share an agent and context
(so they share one cached prefix):

    tools -> system [agent system text, context prefix + cache_control] -> messages

The context block carries the stable breakpoint (the last system block does when there is
no context). When the agent has tools, a second, moving breakpoint sits on the last
block of the newest message, so each turn reads the conversation so far from the cache
and writes only what the previous turn added. That is two breakpoints of the API's four;
any `cache_control` found in a resumed transcript is dropped, so it stays two.

Every model call is one `BudgetedCaller.call` (its own lease, retries and settlement),
told how much of its prompt the previous turn left in the cache. `CallFailed` (and the
budget's own errors) propagate unchanged: the runner classifies them, and the turns
completed before were already reported through `on_turn`.

Structured output: the schema is sent as `output_config` on every turn when the agent
has tools (the API then answers tool calls normally and formats the final answer), and
on the single turn otherwise. The answer is validated against the original schema or
pydantic model; an invalid one gets `repair_attempts` repair turns before `TaskFailed`.

Stop reasons: `tool_use` runs the tools; `max_tokens` and `refusal` fail the task; any
other (`end_turn`, `stop_sequence`, ...) is the final answer.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import BaseModel

from agents._structured import api_schema, check_output, check_schema, repair_prompt, schema_of
from agents.agent import Agent
from agents.client import LLMRequest, LLMResponse
from agents.tools import Tool, ToolOutcome
from agents.usage import Usage
from orchestrator.call import BudgetedCaller, CallOptions, CallOutcome
from orchestrator.clock import Clock
from orchestrator.config_errors import did_you_mean
from orchestrator.graph import DEFAULT_MAX_TOKENS
from orchestrator.pricing import PRICES, PriceTable

__all__ = [
    "EPHEMERAL",
    "OnToolCall",
    "OnTurn",
    "TaskFailed",
    "ToolCall",
    "Worker",
    "WorkerJob",
    "WorkerResult",
]

_log = structlog.get_logger("dagwright.worker")

EPHEMERAL: Mapping[str, str] = {"type": "ephemeral"}
"""The `cache_control` value of every breakpoint the worker sets."""

Message = dict[str, Any]


class TaskFailed(Exception):
    """A task that cannot succeed as configured (a task-class failure; retrying won't help).

    `code` is one of "max_turns", "truncated", "invalid_output", "refused". The
    transcript, the last answer and what the task spent are kept for the journal/report.
    """

    def __init__(
        self,
        task_id: str,
        reason: str,
        *,
        code: str,
        fix: str | None = None,
        attempts: int = 0,
        transcript: Sequence[Message] = (),
        last_output: str | None = None,
        usage: Usage | None = None,
        cost_usd: float = 0.0,
    ) -> None:
        self.task_id = task_id
        self.reason = reason
        self.code = code
        self.fix = fix
        self.attempts = attempts
        self.transcript = list(transcript)
        self.last_output = last_output
        self.usage = usage if usage is not None else Usage()
        self.cost_usd = cost_usd
        super().__init__(f"task {task_id!r}: {reason}" + (f"; {fix}" if fix else ""))


@dataclass(frozen=True, kw_only=True)
class WorkerJob:
    """One task for a worker: what to send and how to account for it.

    Job fields override the agent's (`model`, `system`, `max_tokens`,
    `expected_output_tokens`; `output_schema`/`output_model` replace the agent's output
    schema). `prompt` is rendered already (upstream outputs included);
    `context_prefix` is the shared context, sent as the cached system block. `timeout` is
    the per-call request timeout in seconds (a timed-out call is retried under the
    budget); `cached_tokens` is how much of the first turn's prompt is expected to be a
    cache read (e.g. the context prefix another worker has written); `kind` groups tasks
    whose output sizes are alike, for the learned output estimate; `max_attempts` bounds
    each call's attempts after real failures (the task's `retries` + 1; 429s are paced by
    the budget and bounded by the caller's retry policy instead).
    """

    task_id: str
    prompt: str
    agent: Agent | None = None
    model: str | None = None
    system: str | None = None
    context_prefix: str = ""
    max_tokens: int | None = None
    expected_output_tokens: int | None = None
    output_schema: Mapping[str, Any] | None = None
    output_model: type[BaseModel] | None = None
    priority: int = 0
    tail: float = 0.0
    group: str | None = None
    timeout: float | None = None
    stream: bool = False
    kind: str | None = None
    repair_attempts: int = 1
    cached_tokens: int = 0
    max_attempts: int | None = None

    _output: tuple[type[BaseModel] | None, dict[str, Any] | None] = field(
        init=False, repr=False, compare=False
    )
    _api_schema: dict[str, Any] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.resolved_model is None:
            raise ValueError(
                f"task {self.task_id!r} has no model: set WorkerJob.model or the agent's model"
            )
        if self.repair_attempts < 0:
            raise ValueError(f"repair_attempts must be >= 0, got {self.repair_attempts}")
        if self.output_schema is not None:
            check_schema(self.output_schema)
        output = self._resolve_output()
        # Computed once: every turn of every worker must send the same schema bytes.
        object.__setattr__(self, "_output", output)
        object.__setattr__(
            self, "_api_schema", None if output[1] is None else api_schema(output[1])
        )

    def _resolve_output(self) -> tuple[type[BaseModel] | None, dict[str, Any] | None]:
        given: Mapping[str, Any] | type[BaseModel] | None
        if self.output_model is not None or self.output_schema is not None:
            model, given = self.output_model, self.output_schema
        elif self.agent is not None and self.agent.output_schema is not None:
            model = self.agent.output_model
            given = self.agent.output_schema if model is None else None
        else:
            return None, None
        if given is not None:
            return model, schema_of(given)
        assert model is not None  # one of the two is set in each branch above
        return model, schema_of(model)

    @property
    def resolved_model(self) -> str | None:
        """The job's model, else the agent's."""
        return self.model or (self.agent.model if self.agent else None)

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The agent's tools (none without an agent)."""
        return self.agent.tools if self.agent else ()

    @property
    def max_turns(self) -> int:
        """The agent's turn limit (10 without an agent)."""
        return self.agent.max_turns if self.agent else 10

    @property
    def output(self) -> tuple[type[BaseModel] | None, dict[str, Any] | None]:
        """(pydantic model, JSON Schema) the answer is validated with; (None, None) for text."""
        return self._output

    @property
    def api_output_schema(self) -> dict[str, Any] | None:
        """The schema sent as `output_config` (the SDK's API-compatible form), if any."""
        return self._api_schema


@dataclass(frozen=True, kw_only=True)
class WorkerResult:
    """A finished task.

    `usage`, `cost_usd`, `attempts`, `calls` and `waited_s` cover the calls this run made
    (not turns taken from a resumed transcript); `turns` counts every model turn in
    `transcript`. `data` is the validated structured output (a pydantic model instance
    or the parsed JSON), None for a text task.
    """

    task_id: str
    output: str
    data: Any
    usage: Usage
    cost_usd: float
    attempts: int
    turns: int
    calls: int
    started_at: float
    finished_at: float
    waited_s: float
    model: str
    transcript: list[Message]
    tool_calls: int
    repairs: int = 0


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """One finished tool invocation, as reported to `on_tool_call`."""

    task_id: str
    turn: int
    tool_use_id: str
    name: str
    input: Mapping[str, Any]
    outcome: ToolOutcome
    started_at: float
    finished_at: float


#: `on_turn(turn, messages)`: after each model turn (and its tool results); may be async.
OnTurn = Callable[[int, list[Message]], Awaitable[None] | None]
#: `on_tool_call(call)`: after each tool invocation finishes; may be async.
OnToolCall = Callable[[ToolCall], Awaitable[None] | None]


async def _notify(callback: Callable[..., Any] | None, *args: Any) -> None:
    if callback is None:
        return
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


def _unmarked(block: Any) -> Any:
    if isinstance(block, Mapping) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _request_messages(messages: Sequence[Mapping[str, Any]], *, mark_last: bool) -> list[Message]:
    """The conversation to send: copies without stray breakpoints, the last block marked."""
    out: list[Message] = []
    for message in messages:
        content = message["content"]
        if not isinstance(content, str):
            content = [_unmarked(b) for b in content]
        out.append({**message, "content": content})
    if mark_last and out:
        content = out[-1]["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if blocks:
            blocks[-1] = {**blocks[-1], "cache_control": dict(EPHEMERAL)}
            out[-1]["content"] = blocks
    return out


def _system_blocks(system: str, context_prefix: str) -> list[Message] | None:
    """The system blocks: agent text, then the shared context; the last one is a breakpoint."""
    blocks: list[Message] = [
        {"type": "text", "text": text} for text in (system, context_prefix) if text
    ]
    if blocks:
        blocks[-1]["cache_control"] = dict(EPHEMERAL)
    return blocks or None


@dataclass(kw_only=True)
class _Tally:
    """What the calls of one run added up to."""

    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    attempts: int = 0
    calls: int = 0
    waited_s: float = 0.0
    tool_calls: int = 0
    repairs: int = 0


class Worker:
    """Runs `WorkerJob`s through a `BudgetedCaller`; one instance serves many tasks."""

    def __init__(
        self,
        caller: BudgetedCaller,
        *,
        prices: PriceTable = PRICES,
        clock: Clock | None = None,
    ) -> None:
        self.caller = caller
        self.prices = prices
        self.clock: Clock = clock if clock is not None else caller.clock
        self._unpriced: set[str] = set()

    async def run(
        self,
        job: WorkerJob,
        *,
        transcript: Sequence[Mapping[str, Any]] | None = None,
        on_turn: OnTurn | None = None,
        on_tool_call: OnToolCall | None = None,
    ) -> WorkerResult:
        """Run `job` to its final answer; raise `TaskFailed` (or `CallFailed`) otherwise.

        With `transcript` (messages saved by `on_turn`), continue from its last completed
        turn instead of starting over: pending tool calls are run, a final answer is
        validated, and only the remaining turns call the model.
        """
        started = self.clock.now()
        tally = _Tally()
        messages = self._start(job, transcript)
        turns = sum(1 for m in messages if m["role"] == "assistant")
        model_cls, schema = job.output
        repairs_left = job.repair_attempts
        cached = job.cached_tokens
        while True:
            called = messages[-1]["role"] == "user"
            if called:
                outcome = await self._call(job, messages, cached, tally)
                response = outcome.response
                cached = response.usage.cache_read_input_tokens
                cached += response.usage.cache_creation_input_tokens
                turns += 1
                messages.append(
                    {"role": "assistant", "content": [dict(b) for b in response.content]}
                )
                self._check_stop(job, outcome, messages, tally)
                uses = response.tool_uses if response.stop_reason == "tool_use" else []
            else:
                # Resumed after a turn whose tool calls were not run yet, or at an answer.
                uses = [b for b in messages[-1]["content"] if b.get("type") == "tool_use"]
            if uses:
                if turns >= job.max_turns:
                    raise self._failed(
                        job,
                        f"no final answer within max_turns={job.max_turns} "
                        f"(the model still called tools on turn {turns})",
                        code="max_turns",
                        fix="raise the agent's max_turns or narrow the task's prompt",
                        messages=messages,
                        tally=tally,
                    )
                messages.append(await self._run_tools(job, uses, turns, tally, on_tool_call))
                await _notify(on_turn, turns, list(messages))
                continue
            if called:
                await _notify(on_turn, turns, list(messages))
            text = _text(messages[-1])
            if schema is None:
                return self._result(job, text, None, messages, turns, started, tally)
            check = check_output(text, model=model_cls, schema=schema)
            if check.ok:
                return self._result(job, text, check.data, messages, turns, started, tally)
            if repairs_left <= 0:
                raise self._failed(
                    job,
                    f"structured output invalid after {job.repair_attempts} repair "
                    f"attempt(s): {'; '.join(check.errors)}",
                    code="invalid_output",
                    fix="check the output schema and the prompt, or raise repair_attempts",
                    messages=messages,
                    tally=tally,
                )
            repairs_left -= 1
            tally.repairs += 1
            _log.info("worker.repair", task_id=job.task_id, errors=list(check.errors))
            messages.append(
                {"role": "user", "content": [{"type": "text", "text": repair_prompt(check.errors)}]}
            )

    # -- steps ---------------------------------------------------------------------------

    @staticmethod
    def _start(job: WorkerJob, transcript: Sequence[Mapping[str, Any]] | None) -> list[Message]:
        if not transcript:
            return [{"role": "user", "content": [{"type": "text", "text": job.prompt}]}]
        messages = [dict(m) for m in transcript]
        for index, message in enumerate(messages):
            role = message.get("role")
            expected = "user" if index % 2 == 0 else "assistant"
            if role != expected or "content" not in message:
                raise ValueError(
                    f"task {job.task_id!r}: cannot resume from the transcript: message "
                    f"{index} should be a {expected} message with content, got role {role!r}"
                )
        return messages

    def build_request(self, job: WorkerJob, messages: Sequence[Mapping[str, Any]]) -> LLMRequest:
        """The request for the next turn of `job`, given the conversation so far."""
        agent = job.agent
        system = job.system if job.system is not None else (agent.system if agent else "")
        tools = job.tools
        return LLMRequest(
            model=str(job.resolved_model),
            messages=_request_messages(messages, mark_last=bool(tools)),
            max_tokens=job.max_tokens
            or (agent.max_tokens if agent else None)
            or DEFAULT_MAX_TOKENS,
            system=_system_blocks(system, job.context_prefix),
            tools=[t.definition for t in tools] or None,
            output_schema=job.api_output_schema,
            timeout=job.timeout,
        )

    async def _call(
        self, job: WorkerJob, messages: list[Message], cached: int, tally: _Tally
    ) -> CallOutcome:
        expected = job.expected_output_tokens or (
            job.agent.expected_output_tokens if job.agent else None
        )
        options = CallOptions(
            task_id=job.task_id,
            kind=job.kind,
            expected_output_tokens=expected,
            cached_tokens=cached,
            priority=job.priority,
            tail=job.tail,
            group=job.group,
            stream=job.stream,
            max_attempts=job.max_attempts,
        )
        outcome = await self.caller.call(self.build_request(job, messages), options)
        response = outcome.response
        tally.usage += response.usage
        tally.cost_usd += self._cost(str(job.resolved_model), response)
        tally.attempts += outcome.attempts
        tally.calls += 1
        tally.waited_s += outcome.waited_s
        _log.info(
            "worker.turn",
            task_id=job.task_id,
            stop_reason=response.stop_reason,
            tool_uses=len(response.tool_uses),
            request_id=response.request_id,
        )
        return outcome

    def _check_stop(
        self, job: WorkerJob, outcome: CallOutcome, messages: list[Message], tally: _Tally
    ) -> None:
        response = outcome.response
        if response.stop_reason == "max_tokens":
            sent = outcome.max_tokens_sent or self.build_request(job, messages).max_tokens
            raise self._failed(
                job,
                f"output truncated at max_tokens={sent}",
                code="truncated",
                fix="raise max_tokens or expected_output_tokens",
                messages=messages,
                tally=tally,
            )
        if response.stop_reason == "refusal":
            raise self._failed(
                job,
                "the model refused to answer (stop_reason 'refusal')",
                code="refused",
                fix="rephrase the task's prompt",
                messages=messages,
                tally=tally,
            )

    async def _run_tools(
        self,
        job: WorkerJob,
        uses: Sequence[Mapping[str, Any]],
        turn: int,
        tally: _Tally,
        on_tool_call: OnToolCall | None,
    ) -> Message:
        tools = {t.name: t for t in job.tools}

        async def one(use: Mapping[str, Any]) -> Message:
            name = str(use.get("name"))
            arguments = use.get("input") or {}
            began = self.clock.now()
            found = tools.get(name)
            if found is None:
                hint = did_you_mean(name, tools) or "available: " + ", ".join(sorted(tools))
                outcome = ToolOutcome(content=f"unknown tool {name!r} ({hint})", is_error=True)
            else:
                outcome = await found.invoke(arguments)
            call = ToolCall(
                task_id=job.task_id,
                turn=turn,
                tool_use_id=str(use.get("id")),
                name=name,
                input=arguments,
                outcome=outcome,
                started_at=began,
                finished_at=self.clock.now(),
            )
            await _notify(on_tool_call, call)
            block: Message = {"type": "tool_result", "tool_use_id": call.tool_use_id}
            if outcome.content:
                block["content"] = outcome.content
            if outcome.is_error:
                block["is_error"] = True
            return block

        # Parallel tool calls run concurrently; gather keeps the results in call order.
        results = await asyncio.gather(*(one(use) for use in uses))
        tally.tool_calls += len(results)
        return {"role": "user", "content": list(results)}

    # -- results -------------------------------------------------------------------------

    def _cost(self, model: str, response: LLMResponse) -> float:
        try:
            return self.prices.price(model).cost(response.usage)
        except KeyError:
            if model not in self._unpriced:
                self._unpriced.add(model)
                _log.warning("worker.unpriced_model", model=model)
            return 0.0

    def _result(
        self,
        job: WorkerJob,
        text: str,
        data: Any,
        messages: list[Message],
        turns: int,
        started: float,
        tally: _Tally,
    ) -> WorkerResult:
        return WorkerResult(
            task_id=job.task_id,
            output=text,
            data=data,
            usage=tally.usage,
            cost_usd=tally.cost_usd,
            attempts=tally.attempts,
            turns=turns,
            calls=tally.calls,
            started_at=started,
            finished_at=self.clock.now(),
            waited_s=tally.waited_s,
            model=str(job.resolved_model),
            transcript=messages,
            tool_calls=tally.tool_calls,
            repairs=tally.repairs,
        )

    def _failed(
        self,
        job: WorkerJob,
        reason: str,
        *,
        code: str,
        fix: str,
        messages: list[Message],
        tally: _Tally,
    ) -> TaskFailed:
        _log.info("worker.failed", task_id=job.task_id, code=code, reason=reason)
        return TaskFailed(
            job.task_id,
            reason,
            code=code,
            fix=fix,
            attempts=tally.attempts,
            transcript=messages,
            last_output=_text(messages[-1]) if messages[-1]["role"] == "assistant" else None,
            usage=tally.usage,
            cost_usd=tally.cost_usd,
        )


def _text(message: Mapping[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
