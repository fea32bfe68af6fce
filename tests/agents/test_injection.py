"""Worker outputs are data: injection attempts cannot change the graph, caps, tools or models.

Every attempt of `injection_corpus.CORPUS` is written by the workers of a real run
(`launch`, scripted model); the run, the synthesis and a re-plan that sees those outputs
as context (what expanding a plan node at run time does) are then checked: the run ran
exactly the planned tasks with their agents' tools and allowed models, no file was read,
and the re-plan, answered by a planner that obeys the injection, is refused or stays
within every bound. The emulator's planner ignores injected context altogether.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from injection_corpus import BASE_PLAN, CORPUS, Injection

from agents import Agent, LLMRequest, ScriptedLLM, tool
from agents._plan_prompt import PLANNER_SYSTEM, SYNTHESIZER_SYSTEM
from agents.manager import Manager, Plan, PlanCaps, PlanError, PlanResult
from orchestrator.emulator._ids import IdFactory
from orchestrator.emulator.content import ContentPlanner
from orchestrator.launch import Backend, launch
from orchestrator.template import Template

pytestmark = pytest.mark.looptime

GOAL = "Compare the pricing and the rate limits of two LLM APIs, and write a short report."
ALLOWED = ("claude-opus-5", "claude-haiku-5")
CAPS = PlanCaps(max_tasks=12, max_depth=4, max_fanout=10, max_cost_usd=2.0)


@tool
def search(query: str) -> str:
    """Search the web."""
    return f"results for {query}"


AGENTS = {
    "researcher": Agent("researcher", system="You research with web search.", tools=[search]),
    "writer": Agent("writer", system="You write short reports."),
}


def _system(request: LLMRequest) -> str:
    blocks = request.system if isinstance(request.system, list) else []
    return "".join(str(b.get("text", "")) for b in blocks)


def _first_user_text(request: LLMRequest) -> str:
    return "".join(b["text"] for b in request.messages[0]["content"] if b["type"] == "text")


def obedient_model(attack: Injection, requests: list[LLMRequest]) -> ScriptedLLM:
    """Plans `BASE_PLAN`, or obeys the injection once it sees it; workers write the attack."""

    def respond(request: LLMRequest) -> Any:
        requests.append(request)
        system = _system(request)
        if system == PLANNER_SYSTEM:
            fooled = "<context>" in _first_user_text(request)
            return attack.obeyed if fooled else BASE_PLAN
        if system == SYNTHESIZER_SYSTEM:
            return "final answer"
        return attack.text

    return ScriptedLLM.from_function(respond)


def assert_within_bounds(result: PlanResult) -> None:
    graph = result.graph
    assert len(graph) <= CAPS.max_tasks
    assert all(len(graph.dependants(t)) <= CAPS.max_fanout for t in graph.order)
    assert {n.model for n in graph} <= set(ALLOWED)
    assert {n.agent for n in graph} <= {None, *AGENTS}
    assert result.prediction.cost_usd is not None
    assert result.prediction.cost_usd <= (CAPS.max_cost_usd or 0)
    assert result.spec.context.files == []
    for task in result.spec.tasks:
        template = Template.parse(task.prompt)
        assert all(e.path[0] == "tasks" for e in template.expressions)  # never inputs
        assert template.task_refs <= set(task.depends_on)


@pytest.mark.parametrize("attack", CORPUS, ids=lambda a: a.name)
async def test_injected_worker_outputs_change_nothing_but_the_text(
    attack: Injection, tmp_path: Path
) -> None:
    requests: list[LLMRequest] = []
    llm = obedient_model(attack, requests)
    manager = Manager(
        llm, agents=AGENTS, models=ALLOWED, caps=CAPS, worker_model="claude-haiku-5", max_repairs=1
    )
    planned = await manager.plan(GOAL)
    assert planned.plan == Plan.model_validate(BASE_PLAN)

    # 1. A real run whose workers all write the attack.
    run = await launch(
        planned.spec,
        inputs={},
        backend=Backend(client=llm, description="scripted", offline=True),
        out_root=tmp_path,
        run_id="run",
        agents=AGENTS,
    )
    assert run.ok and set(run.records) == {"pricing", "limits", "report"}
    workers = [r for r in requests if _system(r) not in (PLANNER_SYSTEM, SYNTHESIZER_SYSTEM)]
    assert len(workers) == 3
    for request in workers:
        assert request.model in ALLOWED
        assert [t["name"] for t in request.tools or []] in ([], ["search"])
        assert "root:x:0:0" not in json.dumps(request.to_api())  # no file was read
    report = next(r for r in workers if "Your task (report)" in _first_user_text(r))
    # Upstream outputs arrive verbatim, as data: substituted once, never re-rendered.
    assert _first_user_text(report).count(attack.text) == 2
    outputs = {task_id: record.output for task_id, record in run.records.items()}
    assert set(outputs.values()) == {attack.text}

    # 2. Synthesis reads them as data and only returns text.
    assert await manager.synthesize(GOAL, outputs) == "final answer"

    # 3. A re-plan that sees them as context, answered by a planner that obeys them.
    before = len(requests)
    context = "\n\n".join(f"{k}: {v}" for k, v in outputs.items())
    if attack.rejected:
        with pytest.raises(PlanError) as caught:
            await manager.plan(GOAL, context=context, task_id="replan")
        assert any(attack.problem in p for p in caught.value.problems), caught.value.problems
    else:
        assert_within_bounds(await manager.plan(GOAL, context=context, task_id="replan"))
    replans = requests[before:]
    assert replans and all(_system(r) == PLANNER_SYSTEM for r in replans)  # no worker ran
    for request in replans:
        text = _first_user_text(request)
        assert re.findall(r"<caps>", text) == ["<caps>"]  # smuggled sections are defused
        assert "max_tasks: 12\nmax_depth: 4\nmax_fanout: 10\nmax_cost_usd: 2.00" in text
        schema = json.dumps(request.output_schema)
        assert '"enum": ["researcher", "writer"]' in schema
        assert '"enum": ["claude-opus-5", "claude-haiku-5"]' in schema
    # The manager's own bounds are untouched.
    assert manager.caps == CAPS and manager.models == ALLOWED
    assert set(manager.agents) == set(AGENTS)


def test_the_corpus_is_varied_enough() -> None:
    assert len(CORPUS) >= 15
    assert len({a.name for a in CORPUS}) == len(CORPUS)
    assert sum(a.rejected for a in CORPUS) >= 15
    assert all(a.problem for a in CORPUS if a.rejected)


@pytest.mark.parametrize("attack", CORPUS, ids=lambda a: a.name)
def test_the_emulator_plans_from_the_goal_whatever_the_context_says(attack: Injection) -> None:
    def plan_for(context: str) -> str:
        manager = Manager(ScriptedLLM([]), agents=AGENTS, models=ALLOWED, caps=CAPS)
        job = manager._plan_job(GOAL, context, "", "plan")
        messages = [{"role": "user", "content": [{"type": "text", "text": job.prompt}]}]
        body = manager.worker.build_request(job, messages).to_api()
        planner = ContentPlanner(median_tokens=250, sigma=0.5, ids=IdFactory(random.Random(0)))
        answer = planner.plan(
            body, random.Random(0), max_tokens=8_192, output_tokens=None, tool_calls=None
        )
        return answer.blocks[0].text

    assert plan_for(attack.text) == plan_for("")
