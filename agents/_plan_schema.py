"""The plan as the model writes it (pydantic, at the edge), the caps it must fit, its error.

The field descriptions are the model's instructions: they are sent as the JSON Schema of
the structured output, so they say what each field means and what is allowed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_PLAN_MODELS",
    "ID_PATTERN",
    "Plan",
    "PlanCaps",
    "PlanError",
    "PlannedTask",
    "plan_schema",
]

ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
"""Task ids: a letter, then letters, digits, '_' or '-' (the workflow format's names)."""

DEFAULT_PLAN_MODELS: tuple[str, ...] = ("claude-opus-5", "claude-sonnet-5", "claude-haiku-5")
"""The default model allowlist, strongest first (the planner's default is the first)."""

MAX_EXPECTED_OUTPUT = 32_000


class PlannedTask(BaseModel):
    """One task of the plan, run by one worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        pattern=ID_PATTERN,
        description="Unique short identifier, e.g. 'research_pricing': a letter, then "
        "letters, digits, '_' or '-', at most 64 characters.",
    )
    instructions: str = Field(
        min_length=1,
        description="What the worker must do and deliver, self-contained: the worker sees "
        "only these instructions, the goal and the results of the tasks it depends on.",
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Ids of the tasks whose results this task needs; they run first. Leave "
        "empty for independent tasks, which run in parallel.",
    )
    agent: str | None = Field(
        default=None,
        description="Name of the defined agent that runs the task (e.g. one with search "
        "tools for research); null for a plain model call. Only the listed agents exist.",
    )
    expected_output_tokens: int | None = Field(
        default=None,
        ge=1,
        le=MAX_EXPECTED_OUTPUT,
        description="Predicted length of the task's answer in tokens (about 0.75 words "
        "each): e.g. 300 for a short fact, 1500 for a detailed section.",
    )
    model: str | None = Field(
        default=None,
        description="Model for this task, only from the allowed models; null lets the "
        "routing policy choose (usually best).",
    )
    difficulty: Literal["easy", "medium", "hard"] | None = Field(
        default=None,
        description="How demanding the task is; routing may give hard tasks a stronger model.",
    )


class Plan(BaseModel):
    """A dagwright task plan: the tasks that together achieve the goal, as a DAG."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: str = Field(
        default="",
        description="One sentence: how the tasks achieve the goal.",
    )
    tasks: list[PlannedTask] = Field(
        min_length=1,
        description="The tasks, as few as the goal needs: a simple question needs one to "
        "three. The last task usually combines the others' results into the deliverable.",
    )


def plan_schema(*, agents: Sequence[str], models: Sequence[str], max_tasks: int) -> dict[str, Any]:
    """The `Plan` JSON Schema narrowed to this manager: agent and model enums, task count.

    Sent as the structured output format, so a model that honours the schema cannot name
    an undefined agent or a model outside the allowlist; answers are still validated.
    """
    schema = copy.deepcopy(Plan.model_json_schema())
    task = schema["$defs"]["PlannedTask"]["properties"]
    for field, names in (("agent", agents), ("model", models)):
        description = task[field].get("description", "")
        task[field] = {
            "anyOf": [{"type": "string", "enum": list(names)}, {"type": "null"}]
            if names
            else [{"type": "null"}],
            "default": None,
            "description": description,
        }
    schema["properties"]["tasks"]["maxItems"] = max_tasks
    return schema


@dataclass(frozen=True, kw_only=True)
class PlanCaps:
    """Bounds on a plan, enforced before any worker runs; None disables a token/cost cap.

    `max_depth` is the longest dependency chain in tasks; `max_fanout` the most
    dependants of one task; `max_total_tokens` and `max_cost_usd` bound the prediction
    (`orchestrator.prediction.predict`) of the planned tasks.
    """

    max_tasks: int = 12
    max_depth: int = 4
    max_fanout: int = 10
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_tasks", "max_depth", "max_fanout"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"PlanCaps.{name} must be an int >= 1, got {value!r}")
        if self.max_total_tokens is not None and self.max_total_tokens < 1:
            raise ValueError(
                f"PlanCaps.max_total_tokens must be >= 1 (or None for no cap), "
                f"got {self.max_total_tokens}"
            )
        if self.max_cost_usd is not None and self.max_cost_usd <= 0:
            raise ValueError(
                f"PlanCaps.max_cost_usd must be > 0 (or None for no cap), got {self.max_cost_usd}"
            )

    def lines(self) -> list[str]:
        """`name: value` per cap that is set, as the planner's prompt lists them."""
        out = [
            f"max_tasks: {self.max_tasks}",
            f"max_depth: {self.max_depth}",
            f"max_fanout: {self.max_fanout}",
        ]
        if self.max_total_tokens is not None:
            out.append(f"max_total_tokens: {self.max_total_tokens}")
        if self.max_cost_usd is not None:
            out.append(f"max_cost_usd: {self.max_cost_usd:.2f}")
        return out


class PlanError(Exception):
    """No valid plan within the repairs allowed.

    `plan` is the last plan (a `Plan`, or the raw answer when it was not valid JSON for
    the schema), `problems` what is wrong with it, `attempts` the model calls made.
    """

    def __init__(
        self,
        goal: str,
        *,
        plan: Plan | str | None,
        problems: Sequence[str],
        attempts: int,
        repairs: int,
        fix: str | None = None,
    ) -> None:
        self.goal = goal
        self.plan = plan
        self.problems = list(problems)
        self.attempts = attempts
        self.repairs = repairs
        self.fix = fix or (
            "simplify or split the goal, raise the caps (PlanCaps) if the work really needs "
            "more, or allow more repairs (max_repairs)"
        )
        super().__init__(self._message())

    def _message(self) -> str:
        short = self.goal if len(self.goal) <= 80 else self.goal[:77] + "..."
        listing = "\n".join(f"  - {p}" for p in self.problems)
        if isinstance(self.plan, Plan):
            shown = json.dumps(self.plan.model_dump(exclude_defaults=True), indent=2)
        else:
            shown = str(self.plan or "")
            shown = shown if len(shown) <= 2_000 else shown[:2_000] + " ..."
        return (
            f"no valid plan for goal {short!r} after {self.repairs} repair(s) "
            f"({self.attempts} model call(s)); the last plan has these problems:\n{listing}\n"
            f"Fix: {self.fix}.\nLast plan:\n{shown}"
        )
