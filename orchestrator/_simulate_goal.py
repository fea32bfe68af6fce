"""`dagwright simulate --goal "..."`: plan a goal with the manager, then simulate the plan.

The plan is made on the built-in emulator, in virtual time: no key and no spend. An
emulated planner answers with a seeded, schema-valid plan, so the graph it gives is a
stand-in for the real planner's (the manager's checks and caps still apply); the point
is to see what a plan of that shape costs and how long it takes under each scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.anthropic_client import AnthropicClient
from orchestrator._simulate_virtual import prime_sdk, run_virtual
from orchestrator.emulator import Emulator, EmulatorConfig
from orchestrator.spec import WorkflowSpec

__all__ = ["PlannedGoal", "plan_goal"]


@dataclass(frozen=True, kw_only=True)
class PlannedGoal:
    """The workflow the manager planned for a goal, and what planning took."""

    spec: WorkflowSpec
    calls: int
    cost_usd: float


def plan_goal(goal: str, *, seed: int = 0) -> PlannedGoal:
    """Plan `goal` with `agents.manager.Manager` on the emulator (virtual time).

    Raises `ValueError` for an empty goal and `agents.manager.PlanError` when no valid
    plan came within the manager's repairs.
    """
    from agents.manager import Manager

    if not goal.strip():
        raise ValueError("the goal is empty; say what the plan should achieve")

    async def main() -> PlannedGoal:
        emulator = Emulator(EmulatorConfig(seed=seed))
        client = AnthropicClient(http_client=emulator.http_client())
        prime_sdk(client.sdk)
        try:
            manager = Manager(client)
            result = await manager.plan(goal)
        finally:
            await client.aclose()
        return PlannedGoal(spec=result.spec, calls=result.attempts, cost_usd=result.cost_usd)

    return run_virtual(main)
