"""The emulator's answers to planning requests: deterministic, schema-valid, scaled, capped."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from anthropic._base_client import get_platform

from agents import Agent, AnthropicClient
from agents.manager import Manager, Plan, PlanCaps
from orchestrator.emulator import Emulator, EmulatorConfig
from orchestrator.emulator._ids import IdFactory
from orchestrator.emulator._plan_content import is_plan_request, plan_answer
from orchestrator.emulator.content import ContentPlanner

SHORT = "What is a token bucket?"
MEDIUM = "Compare the rate limits of OpenAI, Anthropic and Google, and recommend one."
LONG = (
    "Write a report on the history of the transistor. Cover the invention at Bell Labs, "
    "the move to silicon, integrated circuits, Moore's law and the limits of scaling; then "
    "discuss what could replace CMOS, including spintronics, photonics and quantum devices, "
    "and finish with a forecast for the next twenty years with the main uncertainties."
)
AGENTS = {
    "researcher": Agent("researcher", system="You research with web search."),
    "writer": Agent("writer", system="You write reports."),
}


def body(
    goal: str, *, caps: PlanCaps | None = None, context: str = "", **kw: Any
) -> dict[str, Any]:
    """The exact request body the manager sends for `goal`."""
    manager = Manager(_NoClient(), agents=kw.pop("agents", AGENTS), caps=caps, **kw)
    job = manager._plan_job(goal, context, "", "plan")
    messages = [{"role": "user", "content": [{"type": "text", "text": job.prompt}]}]
    return manager.worker.build_request(job, messages).to_api()


class _NoClient:
    """An `LLMClient` that is never called (only request bodies are built)."""

    async def create(self, request: Any) -> Any:
        raise AssertionError("not called")

    async def stream(self, request: Any, on_event: Any = None) -> Any:
        raise AssertionError("not called")

    async def count_tokens(self, request: Any) -> Any:
        raise AssertionError("not called")


def answer(request: dict[str, Any], seed: int = 0) -> Plan:
    planner = ContentPlanner(median_tokens=250, sigma=0.5, ids=IdFactory(random.Random(seed)))
    plan = planner.plan(
        request, random.Random(seed), max_tokens=8_192, output_tokens=None, tool_calls=None
    )
    assert plan.stop_reason == "end_turn"
    return Plan.model_validate_json(plan.blocks[0].text)


def test_a_planning_request_gets_the_same_plan_whatever_the_seed() -> None:
    request = body(MEDIUM)
    first = answer(request, seed=1)
    assert answer(request, seed=2) == first
    assert answer(body(MEDIUM), seed=3) == first


def test_the_plan_is_research_in_parallel_then_a_writer() -> None:
    plan = answer(body(MEDIUM))
    *research, final = plan.tasks
    assert len(research) >= 2
    assert all(t.depends_on == [] and t.agent == "researcher" for t in research)
    assert final.id == "write_answer" and final.agent == "writer"
    assert final.depends_on == [t.id for t in research]
    assert "OpenAI" in research[0].instructions and MEDIUM in final.instructions
    assert all(t.model is None for t in plan.tasks)


def test_task_count_scales_with_the_goal() -> None:
    short, medium, long = (len(answer(body(g)).tasks) for g in (SHORT, MEDIUM, LONG))
    assert short == 1 and short < medium < long
    (only,) = answer(body(SHORT)).tasks
    assert SHORT in only.instructions


@pytest.mark.parametrize(
    "caps",
    [
        PlanCaps(max_tasks=3),
        PlanCaps(max_depth=1),
        PlanCaps(max_tasks=1),
        PlanCaps(max_total_tokens=6_000),
        PlanCaps(max_fanout=1),
    ],
)
def test_plans_stay_within_the_caps_stated_in_the_prompt(caps: PlanCaps) -> None:
    plan = answer(body(LONG, caps=caps))
    assert len(plan.tasks) <= caps.max_tasks
    if caps.max_depth == 1:
        assert all(not t.depends_on for t in plan.tasks)
    if caps.max_total_tokens is not None:
        assert sum(t.expected_output_tokens or 0 for t in plan.tasks) < caps.max_total_tokens


def test_without_agents_tasks_are_plain_calls() -> None:
    assert all(t.agent is None for t in answer(body(MEDIUM, agents={})).tasks)


def test_only_the_managers_plan_requests_are_recognised() -> None:
    request = body(MEDIUM)
    schema = request["output_config"]["format"]["schema"]
    assert is_plan_request(request, schema)
    other = {**schema, "title": "Report"}
    assert not is_plan_request(request, other)
    no_goal = {**request, "messages": [{"role": "user", "content": "Plan my week."}]}
    assert not is_plan_request(no_goal, schema)


def test_a_repair_turn_gets_a_smaller_plan() -> None:
    request = body(LONG)
    first = plan_answer(request, request["output_config"]["format"]["schema"])
    repaired = {
        **request,
        "messages": [
            *request["messages"],
            {"role": "assistant", "content": [{"type": "text", "text": first}]},
            {"role": "user", "content": [{"type": "text", "text": "Too big."}]},
        ],
    }
    smaller = answer(repaired)
    assert len(smaller.tasks) < len(json.loads(first)["tasks"])


@pytest.mark.looptime
@pytest.mark.parametrize("goal", [SHORT, MEDIUM, LONG])
@pytest.mark.parametrize(
    "caps", [PlanCaps(), PlanCaps(max_tasks=4, max_depth=2), PlanCaps(max_total_tokens=8_000)]
)
async def test_the_manager_plans_offline_against_the_emulator_without_repairs(
    goal: str, caps: PlanCaps
) -> None:
    emulator = Emulator(EmulatorConfig(seed=5))
    client = AnthropicClient(http_client=emulator.http_client())
    # The SDK resolves platform headers in a thread on first use; under looptime a
    # pending thread would make virtual time follow real time.
    client.sdk._platform = get_platform()
    manager = Manager(client, agents=AGENTS, caps=caps, worker_model="claude-haiku-5")
    result = await manager.plan(goal)
    assert (result.attempts, result.repairs) == (1, 0)
    assert len(result.graph) <= caps.max_tasks
    assert result.plan == answer(body(goal, caps=caps, worker_model="claude-haiku-5"))
    await client.aclose()
