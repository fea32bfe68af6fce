"""B3: LangGraph, as its documentation suggests: `Send` fan-out, `ChatAnthropic` with an
`InMemoryRateLimiter` at RPM (requests only) and the SDK's default 2 retries.

The graph has a worker node, `call`, and a `join` node whose conditional edge dispatches:
it sends every ready node (dependencies done, not started) to `call` with `Send`, and
every `call` leads back to `join`. LangGraph runs a
superstep to its end before the next one starts (its bulk-synchronous model), so a node
whose dependencies finish early still waits for the whole superstep.

Two adapters keep it on the emulator under virtual time, neither changing what LangGraph
decides: the `ChatAnthropic` instance gets the emulator's traced SDK client in place of
the one it would build (its `_async_client` cached property, set before first use), and
the rate limiter is `LoopRateLimiter`, `InMemoryRateLimiter` with its clock bound to the
event loop (the original reads `time.monotonic()`, which virtual time does not move).

Optional: needs `pip install -e '.[bench]'` (langgraph, langchain-anthropic);
`available()` says whether it is installed and why not.
"""

from __future__ import annotations

import asyncio
import importlib.util
import operator
from typing import Annotated, Any, TypedDict

import anthropic

from benchmarks.env import TASK_HEADER
from benchmarks.systems.base import RunContext, SystemOutcome, prime_sdk, wait_release

__all__ = ["SDK_DEFAULT_RETRIES", "available", "run_langgraph"]

SDK_DEFAULT_RETRIES = 2
CHECK_EVERY_S = 0.1


def available() -> str | None:
    """None when LangGraph and langchain-anthropic are installed, else why B3 is skipped."""
    missing = [
        name
        for name in ("langgraph", "langchain_anthropic")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        return (
            f"B3 LangGraph skipped: {', '.join(missing)} not installed (pip install -e '.[bench]')"
        )
    return None


class _State(TypedDict):
    done: Annotated[list[str], operator.add]
    lost: Annotated[list[str], operator.add]
    started: Annotated[list[str], operator.add]


async def run_langgraph(ctx: RunContext) -> SystemOutcome:
    """Run the workload as a LangGraph `StateGraph` with `Send` fan-out."""
    from langchain_anthropic import ChatAnthropic
    from langchain_core.messages import HumanMessage
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Send

    rpm = ctx.setup.client_limits.rpm
    limiter = _loop_limiter(rpm / 60.0)
    client = prime_sdk(
        ctx.emulator.anthropic(max_retries=SDK_DEFAULT_RETRIES, http_client=ctx.http_client())
    )
    nodes = {node.id: node for node in ctx.workload.nodes}
    models = {node.model for node in ctx.workload.nodes}
    chats: dict[str, Any] = {}
    for model in models:
        chat = ChatAnthropic(  # type: ignore[call-arg]
            model=model,
            api_key="bench-key",
            max_retries=SDK_DEFAULT_RETRIES,
            rate_limiter=limiter,
        )
        chat.__dict__["_async_client"] = client  # the emulator's client (see module doc)
        chats[model] = chat

    def dispatch(state: _State) -> list[Any] | str:  # Sends, or END
        done, lost = set(state["done"]), set(state["lost"])
        started = set(state["started"])
        sends = []
        for node in ctx.workload.nodes:
            if node.id in started:
                continue
            if all(d in done for d in node.deps):
                sends.append(Send("call", {"id": node.id, "skip": False}))
            elif any(d in lost for d in node.deps):
                sends.append(Send("call", {"id": node.id, "skip": True}))
        return sends or END

    async def call(arg: dict[str, Any]) -> dict[str, list[str]]:
        node = nodes[arg["id"]]
        if arg["skip"]:
            ctx.trace.mark(node.id, "skipped")
            return {"lost": [node.id], "started": [node.id]}
        await wait_release(ctx, node)
        try:
            await chats[node.model].ainvoke(
                [HumanMessage(ctx.prompts[node.id])],
                max_tokens=node.max_tokens,
                extra_body={"metadata": {"emulator_output_tokens": node.output_tokens}},
                extra_headers={TASK_HEADER: node.id},
            )
        except anthropic.APIError as error:
            ctx.trace.mark(node.id, f"lost {type(error).__name__}")
            return {"lost": [node.id], "started": [node.id]}
        ctx.trace.mark(node.id, "done")
        return {"done": [node.id], "started": [node.id]}

    def join(state: _State) -> dict[str, list[str]]:
        return {}

    builder = StateGraph(_State)
    builder.add_node("join", join)
    builder.add_node("call", call)  # type: ignore[call-overload]
    builder.add_edge(START, "join")
    builder.add_conditional_edges("join", dispatch)  # type: ignore[arg-type]
    builder.add_edge("call", "join")
    graph = builder.compile()
    try:
        final = await graph.ainvoke(
            {"done": [], "lost": [], "started": []},
            config={"recursion_limit": 4 * len(nodes) + 10},
        )
    finally:
        await client.close()
    return SystemOutcome(
        lost=frozenset(final["lost"]),
        notes={"rpm": rpm, "sdk_retries": SDK_DEFAULT_RETRIES, "limiter": "InMemoryRateLimiter"},
    )


def _loop_limiter(requests_per_second: float) -> Any:
    """`InMemoryRateLimiter` whose clock is the running event loop's (see module doc)."""
    from langchain_core.rate_limiters import InMemoryRateLimiter

    class LoopRateLimiter(InMemoryRateLimiter):
        def _consume(self) -> bool:
            # InMemoryRateLimiter's token arithmetic, with the loop's clock for its own
            now = asyncio.get_running_loop().time()
            if self.last is None:
                self.last = now
            elapsed = now - self.last
            if elapsed * self.requests_per_second >= 1:
                self.available_tokens += elapsed * self.requests_per_second
                self.last = now
            self.available_tokens = min(self.available_tokens, self.max_bucket_size)
            if self.available_tokens >= 1:
                self.available_tokens -= 1
                return True
            return False

    return LoopRateLimiter(
        requests_per_second=requests_per_second, check_every_n_seconds=CHECK_EVERY_S
    )
