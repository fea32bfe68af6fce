"""Routing policies: choices per role and task, the registry, the allowlist, and budget buckets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from agents import ScriptedLLM
from agents.manager import Manager, PlannedTask
from agents.worker import Worker, WorkerJob
from orchestrator.budget import Budget, RampConfig
from orchestrator.call import BudgetedCaller
from orchestrator.limits import ModelLimits
from policies import DifficultyRouting, FixedRouting, RoleRouting, RoutingPolicy, get_routing
from policies.routing import check_models

STRONG, MIDDLE, CHEAP = "claude-opus-5", "claude-sonnet-5", "claude-haiku-5"
ALLOWED = (STRONG, MIDDLE, CHEAP)


@dataclass(frozen=True)
class Task:
    id: str = "t"
    instructions: str = "Look it up."
    expected_output_tokens: int | None = None
    difficulty: str | None = None


def test_fixed_routing_uses_one_model_everywhere() -> None:
    policy = FixedRouting(MIDDLE)
    assert {policy.choose(None, r) for r in ("planner", "synthesizer")} == {MIDDLE}
    assert policy.choose(Task(), "worker") == MIDDLE and policy.models() == (MIDDLE,)
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        policy.choose(None, "boss")  # type: ignore[arg-type]


def test_role_routing_plans_and_synthesises_strong_and_works_cheap() -> None:
    policy = RoleRouting(planner=STRONG, worker=CHEAP)
    assert policy.choose(None, "planner") == STRONG
    assert policy.choose(None, "synthesizer") == STRONG
    assert policy.choose(Task(), "worker") == CHEAP
    assert policy.models() == (STRONG, CHEAP)
    assert RoleRouting(planner=STRONG, worker=CHEAP, synthesizer=MIDDLE).choose(
        None, "synthesizer"
    ) == (MIDDLE)


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (Task(), CHEAP),  # short, no size declared: easy
        (Task(expected_output_tokens=400), CHEAP),
        (Task(expected_output_tokens=900), MIDDLE),
        (Task(expected_output_tokens=2_500), STRONG),
        (Task(instructions="x" * 800), MIDDLE),
        (Task(instructions="x" * 2_000), STRONG),
        (Task(expected_output_tokens=3_000, difficulty="easy"), CHEAP),  # declared wins
        (Task(difficulty="hard"), STRONG),
    ],
)
def test_difficulty_routing_by_declared_or_predicted_difficulty(task: Task, expected: str) -> None:
    policy = DifficultyRouting.from_models(ALLOWED)
    assert policy.choose(task, "worker") == expected
    assert policy.choose(None, "planner") == STRONG
    assert policy.choose(None, "synthesizer") == STRONG


def test_difficulty_routing_reads_planned_tasks() -> None:
    policy = DifficultyRouting(easy=CHEAP, medium=MIDDLE, hard=STRONG)
    planned = PlannedTask(id="a", instructions="Write the report.", difficulty="hard")
    assert policy.choose(planned, "worker") == STRONG
    with pytest.raises(ValueError, match="easy_output_tokens < hard_output_tokens"):
        DifficultyRouting(easy=CHEAP, medium=MIDDLE, hard=STRONG, easy_output_tokens=5_000)


def test_policies_are_registered_by_name_over_an_ordered_allowlist() -> None:
    assert isinstance(get_routing("fixed", ALLOWED), FixedRouting)
    role = get_routing("Role", ALLOWED)
    assert role.choose(None, "planner") == STRONG and role.choose(Task(), "worker") == CHEAP
    assert get_routing("difficulty", ALLOWED).models() == ALLOWED
    policy = FixedRouting(CHEAP)
    assert get_routing(policy, ALLOWED) is policy
    assert isinstance(policy, RoutingPolicy)
    with pytest.raises(ValueError, match=r"unknown routing policy 'roles'.*Did you mean 'role'"):
        get_routing("roles", ALLOWED)
    with pytest.raises(ValueError, match="non-empty model allowlist"):
        get_routing("fixed", [])


class ByLength:
    """A user's own policy: only `choose`."""

    def choose(self, task: object, role: str) -> str:
        return "claude-opus-5-5" if role == "synthesizer" else STRONG


async def test_a_custom_policy_is_checked_when_it_chooses() -> None:
    policy = ByLength()
    assert isinstance(policy, RoutingPolicy)
    manager = Manager(ScriptedLLM([]), models=ALLOWED, routing=policy)
    with pytest.raises(ValueError, match="chose 'claude-opus-5-5' for the synthesizer"):
        await manager.synthesize("goal", {"a": "x"})


def test_routing_outside_the_allowlist_is_refused() -> None:
    with pytest.raises(ValueError, match=r"uses 'claude-opus-5-5', not in the model allowlist"):
        check_models(RoleRouting(planner="claude-opus-5-5", worker=CHEAP), ALLOWED)
    with pytest.raises(ValueError, match="not in the model allowlist"):
        Manager(
            ScriptedLLM([]), models=(STRONG,), routing=RoleRouting(planner=STRONG, worker=CHEAP)
        )


@pytest.mark.looptime
async def test_routed_classes_draw_on_separate_budget_buckets() -> None:
    """Workers routed to a cheap class exhaust its RPM; the planner's class is unaffected."""
    limits = {
        STRONG: ModelLimits(rpm=100, itpm=1_000_000, otpm=100_000),
        CHEAP: ModelLimits(rpm=4, itpm=1_000_000, otpm=100_000),
    }
    budget = Budget(limits, ramp=RampConfig.off())
    llm = ScriptedLLM.from_function(
        lambda request: (
            {"tasks": [{"id": "only", "instructions": "Do it."}]}
            if request.output_schema
            else f"answer from {request.model}"
        )
    )
    caller = BudgetedCaller(llm, budget)
    manager = Manager(
        caller, models=(STRONG, CHEAP), routing=RoleRouting(planner=STRONG, worker=CHEAP)
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    planned = await manager.plan("Ask eight questions")
    model = planned.spec.task("only").model
    assert model == CHEAP
    worker = Worker(caller)
    finished: dict[str, float] = {}

    async def work(i: int) -> None:
        await worker.run(WorkerJob(task_id=f"w{i}", prompt="Do it.", model=model))
        finished[f"w{i}"] = loop.time() - start

    workers = [asyncio.create_task(work(i)) for i in range(8)]
    await asyncio.sleep(0.5)  # the cheap class's 4 requests are spent; 4 workers wait
    answer = await manager.synthesize("Ask eight questions", {"w0": "a", "w1": "b"})
    synthesized = loop.time() - start
    await asyncio.gather(*workers)
    assert answer == f"answer from {STRONG}"
    assert synthesized < 1.0  # not queued behind the cheap class's empty request bucket
    assert max(finished.values()) >= 45.0  # 4 more requests at 4/min refill: about a minute
    stats = budget.statistics()
    assert stats["opus-5"].requests.granted == 2  # plan + synthesis
    assert stats["haiku-5"].requests.granted == 8
