"""Model routing: which model runs each role (planner, worker, synthesizer) and task.

The budget keeps one set of buckets per model class (`orchestrator.limits.model_class`),
as the real service does, so routing workers to a cheaper class also moves their
traffic into that class's own RPM / ITPM / OTPM buckets: the planner's and the
workers' calls no longer compete for the same capacity.

Which policy to use:

- `FixedRouting(model)`: one model for everything. Simple, one set of buckets; the
  right choice when a single class has all the capacity (or for tests).
- `RoleRouting(planner=..., worker=..., synthesizer=...)`: the strongest model where
  quality compounds (planning, synthesis), a cheaper one for the many workers. The
  usual choice for research-style fan-out, where workers dominate the token count.
- `DifficultyRouting(easy=..., medium=..., hard=...)`: per task, from its declared
  `difficulty`, else from its expected output size and the length of its instructions.
  For plans that mix trivial lookups with long analyses; planning and synthesis always
  take the `hard` model.

Policies are pure: `choose` looks only at the task's plain attributes. A policy that
lists its models (`models()`, as the built-in ones do) is checked against the allowlist
(`check_models`) before a run; every choice is checked again when it is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, get_args, runtime_checkable

__all__ = [
    "ROLES",
    "DifficultyRouting",
    "FixedRouting",
    "Role",
    "RoleRouting",
    "RoutableTask",
    "RoutingPolicy",
    "check_models",
]

Role = Literal["planner", "worker", "synthesizer"]
ROLES: tuple[str, ...] = get_args(Role)

Difficulty = Literal["easy", "medium", "hard"]


class RoutableTask(Protocol):
    """What a routing policy may look at (e.g. an `agents.manager.PlannedTask`)."""

    @property
    def id(self) -> str: ...

    @property
    def instructions(self) -> str: ...

    @property
    def expected_output_tokens(self) -> int | None: ...

    @property
    def difficulty(self) -> str | None: ...


@runtime_checkable
class RoutingPolicy(Protocol):
    """Chooses the model of one call: `task` is None for the planner and the synthesizer."""

    def choose(self, task: RoutableTask | None, role: Role) -> str:
        """The model for `role` (and `task`, for workers)."""
        ...


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")


class FixedRouting:
    """The same model for every role and task."""

    def __init__(self, model: str) -> None:
        if not model:
            raise ValueError("FixedRouting needs a model name")
        self.model = model

    def choose(self, task: RoutableTask | None, role: Role) -> str:
        """Always `model`."""
        _check_role(role)
        return self.model

    def models(self) -> tuple[str, ...]:
        """`(model,)`."""
        return (self.model,)

    def __repr__(self) -> str:
        return f"FixedRouting({self.model!r})"


class RoleRouting:
    """One model per role; `synthesizer` defaults to the planner's model."""

    def __init__(self, *, planner: str, worker: str, synthesizer: str | None = None) -> None:
        self.planner = planner
        self.worker = worker
        self.synthesizer = synthesizer or planner

    def choose(self, task: RoutableTask | None, role: Role) -> str:
        """The model configured for `role`."""
        _check_role(role)
        return {"planner": self.planner, "worker": self.worker}.get(role, self.synthesizer)

    def models(self) -> tuple[str, ...]:
        """The distinct models, planner first."""
        return tuple(dict.fromkeys((self.planner, self.worker, self.synthesizer)))

    def __repr__(self) -> str:
        return (
            f"RoleRouting(planner={self.planner!r}, worker={self.worker!r}, "
            f"synthesizer={self.synthesizer!r})"
        )


class DifficultyRouting:
    """Workers by difficulty: declared, else predicted from output size and instructions.

    A task without a declared difficulty is `hard` when it expects at least
    `hard_output_tokens` or its instructions reach `hard_chars` characters, `easy` when
    it expects at most `easy_output_tokens` (or declares nothing) and its instructions
    are under `easy_chars`, else `medium`. Planning and synthesis use the `hard` model.
    """

    def __init__(
        self,
        *,
        easy: str,
        medium: str,
        hard: str,
        easy_output_tokens: int = 500,
        hard_output_tokens: int = 2_000,
        easy_chars: int = 300,
        hard_chars: int = 1_500,
    ) -> None:
        if not 0 < easy_output_tokens < hard_output_tokens:
            raise ValueError(
                "need 0 < easy_output_tokens < hard_output_tokens, got "
                f"{easy_output_tokens} and {hard_output_tokens}"
            )
        if not 0 < easy_chars < hard_chars:
            raise ValueError(f"need 0 < easy_chars < hard_chars, got {easy_chars}, {hard_chars}")
        self.by_difficulty: dict[str, str] = {"easy": easy, "medium": medium, "hard": hard}
        self.easy_output_tokens = easy_output_tokens
        self.hard_output_tokens = hard_output_tokens
        self.easy_chars = easy_chars
        self.hard_chars = hard_chars

    @classmethod
    def from_models(cls, models: Sequence[str], **thresholds: int) -> DifficultyRouting:
        """From an allowlist ordered strongest first: hard = first, easy = last."""
        if not models:
            raise ValueError("DifficultyRouting.from_models needs at least one model")
        middle = models[len(models) // 2]
        return cls(easy=models[-1], medium=middle, hard=models[0], **thresholds)

    def difficulty(self, task: RoutableTask) -> Difficulty:
        """The declared difficulty, else the predicted one."""
        declared = task.difficulty
        if declared in ("easy", "medium", "hard"):
            return declared  # type: ignore[return-value]  # narrowed by the check above
        expected = task.expected_output_tokens
        chars = len(task.instructions)
        if (expected is not None and expected >= self.hard_output_tokens) or (
            chars >= self.hard_chars
        ):
            return "hard"
        if (expected is None or expected <= self.easy_output_tokens) and chars < self.easy_chars:
            return "easy"
        return "medium"

    def choose(self, task: RoutableTask | None, role: Role) -> str:
        """The `hard` model for planning and synthesis; by difficulty for workers."""
        _check_role(role)
        if role != "worker" or task is None:
            return self.by_difficulty["hard"]
        return self.by_difficulty[self.difficulty(task)]

    def models(self) -> tuple[str, ...]:
        """The distinct models, hard first."""
        order = ("hard", "medium", "easy")
        return tuple(dict.fromkeys(self.by_difficulty[d] for d in order))

    def __repr__(self) -> str:
        d = self.by_difficulty
        return f"DifficultyRouting(easy={d['easy']!r}, medium={d['medium']!r}, hard={d['hard']!r})"


def check_models(policy: RoutingPolicy, allowed: Sequence[str]) -> None:
    """Raise `ValueError` naming every model `policy` may choose that `allowed` lacks.

    Only policies that list their models (a `models()` method, as the built-in ones have)
    can be checked up front; the manager checks every choice again when it is made.
    """
    models = getattr(policy, "models", None)
    outside = [m for m in models() if m not in allowed] if callable(models) else []
    if outside:
        raise ValueError(
            f"routing policy {policy!r} uses {', '.join(map(repr, outside))}, not in the "
            f"model allowlist ({', '.join(allowed)}); add them to the allowlist or route to "
            "allowed models"
        )
