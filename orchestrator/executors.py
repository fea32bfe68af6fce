"""Where a run's worker calls execute: in this process (`local`, the default) or on Ray.

The runner, the journal and the scheduling stay in the driver either way; an execution
backend only decides where `WorkflowExecutor`'s worker jobs run. `open_executor` turns
an `ExecutorChoice` (what `--executor` / `--ray-address` say) into an `Execution` whose
`wrap` takes the workflow's executor and returns the one the runner awaits, and whose
`aclose` releases what it started (actors, a local Ray instance, a loopback emulator).

```python
execution = await open_executor(ExecutorChoice(name="ray"), context)
try:
    runner = Runner(graph, execution.wrap(workflow_executor), run_id=run_id)
    await runner.run()
finally:
    await execution.aclose()
```

Ray is an optional extra (`pip install 'dagwright[ray]'`): choosing it without Ray
installed is a `ConfigError` that says so, never an import traceback.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agents.client import LLMClient
from orchestrator.budget import Budget
from orchestrator.config_errors import ConfigError, ConfigIssue, did_you_mean
from orchestrator.limits import AccountingMode, ModelLimits
from orchestrator.runner import Executor

__all__ = [
    "EXECUTORS",
    "Execution",
    "ExecutionContext",
    "ExecutorChoice",
    "LocalExecutor",
    "open_executor",
]

EXECUTORS = ("local", "ray")
"""Names accepted by `--executor`."""


@dataclass(frozen=True, kw_only=True)
class ExecutorChoice:
    """Which execution backend, and its settings.

    `ray_address`: the cluster to join (`auto`, `HOST:PORT`; None starts a local Ray
    instance for this run). `actors_per_node`: worker actors on each alive node.
    `max_concurrency`: jobs one actor runs at once. `max_resubmits`: how often one task
    is sent again after the actor running it died before it fails.
    """

    name: str = "local"
    ray_address: str | None = None
    actors_per_node: int = 1
    max_concurrency: int = 256
    max_resubmits: int = 3

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            hint = did_you_mean(self.name, EXECUTORS) or "choose one of: " + ", ".join(EXECUTORS)
            raise _error("--executor", f"unknown executor {self.name!r}", hint)
        for label, value in (
            ("actors_per_node", self.actors_per_node),
            ("max_concurrency", self.max_concurrency),
        ):
            if value < 1:
                raise _error(
                    label, f"{label} must be >= 1, got {value}", f"set {label} to 1 or more"
                )
        if self.max_resubmits < 0:
            raise _error(
                "max_resubmits", f"max_resubmits must be >= 0, got {self.max_resubmits}", None
            )
        if self.ray_address is not None and self.name != "ray":
            raise _error(
                "--ray-address",
                "--ray-address was given, but the executor is not ray",
                "add --executor ray, or drop --ray-address",
            )


@dataclass(frozen=True, kw_only=True)
class ExecutionContext:
    """What an execution backend needs to know about the run (filled by `launch`).

    `backend` is the run's `launch.Backend` (its client, or its in-process emulator);
    `budget_url` is the Redis budget's URL when the run has one (with its `namespace`
    and the number of processes expected to share it besides this run's actors);
    `cache_warm_first` is the workflow's `context.warm_first`; `output_priors` the
    output sizes earlier runs learned, by task kind (`OutputEstimator.prime`).
    """

    backend: Any
    run_id: str
    limits: Mapping[str, ModelLimits] | None = None
    mode: AccountingMode = "actual"
    policy: str = "critical_path"
    seed: int = 0
    base_dir: Path | None = None
    budget_url: str | None = None
    budget_namespace: str = "dagwright"
    budget_processes: int = 1
    cache_warm_first: bool = True
    output_priors: Mapping[str, Sequence[int]] = field(default_factory=dict)


class Execution(Protocol):
    """A started execution backend."""

    description: str

    def wrap(self, executor: Executor) -> Executor:
        """The executor the runner awaits, given the workflow's own."""
        ...

    def driver_calls(self, client: LLMClient, budget: Budget) -> tuple[LLMClient, Budget]:
        """The client and budget for the model calls the driver makes itself (planning)."""
        ...

    async def aclose(self) -> None:
        """Release what the backend started."""
        ...


class LocalExecutor:
    """Worker calls run as asyncio tasks in this process (the default)."""

    description = "local (asyncio, in this process)"

    def wrap(self, executor: Executor) -> Executor:
        """The workflow's executor, unchanged."""
        return executor

    def driver_calls(self, client: LLMClient, budget: Budget) -> tuple[LLMClient, Budget]:
        """The run's own client and budget."""
        return client, budget

    async def aclose(self) -> None:
        """Nothing was started."""


def _error(where: str, message: str, hint: str | None) -> ConfigError:
    return ConfigError([ConfigIssue(file=None, line=None, path=where, message=message, hint=hint)])


def ray_available() -> bool:
    """True when the `ray` package can be imported."""
    return importlib.util.find_spec("ray") is not None


async def open_executor(
    choice: ExecutorChoice | str | None, context: ExecutionContext
) -> Execution:
    """Start the chosen execution backend for one run (`ConfigError` if it cannot start)."""
    if choice is None:
        choice = ExecutorChoice()
    elif isinstance(choice, str):
        choice = ExecutorChoice(name=choice)
    if choice.name == "local":
        return LocalExecutor()
    if not ray_available():
        raise _error(
            "--executor",
            "--executor ray needs Ray, which is not installed",
            "install the extra: pip install 'dagwright[ray]' (or drop --executor ray)",
        )
    from orchestrator.ray_executor import RayExecutor

    execution = RayExecutor(choice, context)
    await execution.start()
    return execution
