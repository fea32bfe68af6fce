"""`Workflow`: the YAML format's graphs, built in Python — model tasks and function steps.

```python
wf = Workflow("brief", limits="tier2", inputs={"topic": "rate limits"})
researcher = Agent("researcher", model="claude-haiku-4-5", tools=[search_docs])
wf.task("notes", agent=researcher, prompt="Research {{ inputs.topic }}.")
wf.step("report", make_report, depends_on=["notes"])   # make_report(notes) -> str
result = await wf.run()                                 # or wf.run_sync() in a script
print(result.output("report"))
```

A `Workflow` is a `WorkflowSpec` (model tasks and placeholders for the steps; validated
as a whole, like a YAML file, with errors pointing at the lines that declared them)
plus what YAML cannot hold: `Agent`s with Python tools, step functions and pydantic
output classes. `Workflow.from_yaml` loads a file into the same object, and `to_yaml`
writes a workflow without function steps back out. Runs go through `launch`, exactly
like `dagwright run`: same budget, journal, outputs and events.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import structlog
from pydantic import BaseModel

from agents.agent import Agent, OutputSchema
from orchestrator._workflow_data import (
    agent_data,
    bare_issue,
    dump_yaml,
    inputs_data,
    limits_data,
    resolve_values,
    schema_data,
    tool_paths,
)
from orchestrator.budget import Budget
from orchestrator.config_errors import ConfigError, Loc, SourceMap
from orchestrator.events import Event
from orchestrator.graph import GraphCaps, TaskGraph
from orchestrator.hooks import RunHooks
from orchestrator.journal import JOURNAL_FILE, Journal
from orchestrator.launch import (
    Backend,
    Prediction,
    emulator_backend,
    launch,
    new_run_id,
    predict,
    real_backend,
)
from orchestrator.runner import RunResult
from orchestrator.spec import LimitsSpec, PlanSettings, WorkflowSpec, load_workflow
from orchestrator.steps import StepFunction, check_step_signature

__all__ = ["BackendChoice", "Workflow"]

_log = structlog.get_logger("dagwright.workflow")

BackendChoice = Backend | Literal["auto", "emulator", "api"]
"""Where a run's model calls go; `auto`: the API if `ANTHROPIC_API_KEY` is set, else the
built-in emulator (with a warning)."""


class Workflow:
    """A workflow built in Python (or loaded from YAML); see the module docstring.

    The keyword arguments are the YAML file's top-level fields. `limits` is a tier name
    (`"tier2"`), a mapping or a `LimitsSpec`; `inputs` maps names to a default value,
    None (required) or an `InputSpec`; `context` is the shared cached prefix text and
    `context_files` globs relative to `base_dir` (default: the current folder).
    """

    def __init__(
        self,
        name: str,
        *,
        description: str | None = None,
        model: str | None = None,
        limits: str | Mapping[str, Any] | LimitsSpec | None = None,
        policy: str | None = None,
        context: str | None = None,
        context_files: Sequence[str] = (),
        inputs: Mapping[str, Any] | None = None,
        max_total_tokens: int | None = None,
        max_cost_usd: float | None = None,
        deadline: float | None = None,
        on_failure: Literal["fail_fast", "continue"] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        data: dict[str, Any] = {"name": name}
        fields = {
            "description": description,
            "model": model,
            "limits": limits_data(limits),
            "policy": policy,
            "inputs": inputs_data(inputs),
            "max_total_tokens": max_total_tokens,
            "max_cost_usd": max_cost_usd,
            "deadline": deadline,
            "on_failure": on_failure,
        }
        data.update({k: v for k, v in fields.items() if v is not None})
        if context or context_files:
            data["context"] = {
                k: v for k, v in (("text", context), ("files", list(context_files))) if v
            }
        data["tasks"] = []
        self._data = data
        self._base_dir = Path(base_dir) if base_dir is not None else None
        self._agents: dict[str, Agent] = {}
        self._steps: dict[str, StepFunction] = {}
        self._output_models: dict[str, type[BaseModel]] = {}
        file, line = _caller()
        self._file = file
        self._lines: dict[Loc, int] = {(): line} if line else {}
        self._path: Path | None = None  # the YAML file it was loaded from
        self._text = ""  # that file's text, while the workflow is unchanged
        self._spec: WorkflowSpec | None = None

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def from_spec(
        cls, spec: WorkflowSpec, *, base_dir: str | os.PathLike[str] | None = None
    ) -> Workflow:
        """The workflow of a validated spec (agents' tools are imported when it runs)."""
        wf = cls.__new__(cls)
        wf._data = spec.model_dump(mode="json", exclude_unset=True)
        wf._data.setdefault("tasks", [])
        wf._base_dir = Path(base_dir) if base_dir is not None else None
        wf._agents, wf._steps, wf._output_models = {}, {}, {}
        wf._file = spec.source_map.file
        wf._lines = dict(spec.source_map.lines)
        wf._path, wf._text = None, ""
        wf._spec = spec
        return wf

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Workflow:
        """Load a YAML workflow file (`ConfigError` listing every problem)."""
        path = Path(path)
        wf = cls.from_spec(load_workflow(path), base_dir=path.parent)
        wf._path, wf._text = path.resolve(), path.read_text(encoding="utf-8")
        return wf

    # -- building ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The workflow's name."""
        return str(self._data["name"])

    @property
    def task_ids(self) -> list[str]:
        """Every task and step id, in declaration order."""
        return [t["id"] for t in self._data["tasks"]]

    @property
    def agents(self) -> Mapping[str, Agent]:
        """The `Agent` objects given in Python, by name (YAML agents are built at run time)."""
        return MappingProxyType(self._agents)

    @property
    def steps(self) -> Mapping[str, StepFunction]:
        """The function steps' functions, by task id."""
        return MappingProxyType(self._steps)

    def add_agent(self, agent: Agent, *, replace: bool = False) -> str:
        """Declare `agent` under its name (tasks may then say `agent="name"`); its name."""
        agents = self._data.setdefault("agents", {})
        known = self._agents.get(agent.name)
        if known is agent:
            return agent.name
        if agent.name in agents and not replace:
            raise self._error(
                ("agents", agent.name),
                f"another agent is already named {agent.name!r}",
                "give each Agent its own name, or pass replace=True",
            )
        self._changed()
        agents[agent.name] = agent_data(agent)
        self._agents[agent.name] = agent
        self._note_line(("agents", agent.name))
        return agent.name

    def task(
        self,
        id: str,
        prompt: str,
        *,
        agent: Agent | str | None = None,
        depends_on: Iterable[str] = (),
        model: str | None = None,
        max_tokens: int | None = None,
        expected_output_tokens: int | None = None,
        priority: int | None = None,
        output_schema: OutputSchema | str | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        kind: Literal["model", "plan"] | None = None,
        plan: PlanSettings | Mapping[str, Any] | None = None,
    ) -> str:
        """Add a model task (the YAML task fields); returns its id, for `depends_on`.

        `prompt` is a template (`{{ inputs.x }}`, `{{ tasks.y.output }}`); `agent` an
        `Agent` (declared on first use) or the name of a declared one; `output_schema` a
        pydantic model class, a JSON Schema mapping or a `"pkg.mod:Model"` path. A
        `kind="plan"` task expands at run time; `plan` (a `PlanSettings` or the YAML
        `plan:` mapping) sets its caps and the agents it may use.
        """
        if isinstance(plan, PlanSettings):
            plan = plan.model_dump(mode="json", exclude_unset=True)
        if isinstance(agent, Agent):
            agent = self.add_agent(agent)
        fields: dict[str, Any] = {
            "kind": kind,
            "depends_on": list(depends_on) or None,
            "agent": agent,
            "model": model,
            "max_tokens": max_tokens,
            "expected_output_tokens": expected_output_tokens,
            "priority": priority,
            "retries": retries,
            "timeout": timeout,
            "output_schema": None,
            "prompt": prompt,
            "plan": dict(plan) if plan is not None else None,
        }
        if output_schema is not None:
            fields["output_schema"], model_class = schema_data(output_schema)
            if model_class is not None:
                self._output_models[id] = model_class
        data: dict[str, Any] = {"id": id}
        data.update({k: v for k, v in fields.items() if v is not None})
        self._add(data)
        return id

    def step(
        self,
        id: str,
        function: StepFunction,
        *,
        depends_on: Iterable[str] = (),
        timeout: float | None = None,
        priority: int | None = None,
    ) -> str:
        """Add a function step (see `orchestrator.steps`); returns its id, for `depends_on`.

        `function` is called with each dependency's result as a keyword argument named by
        its id (and the input values as `inputs`, if it takes them); it makes no model call.
        `timeout` bounds the call in seconds.
        """
        deps = list(depends_on)
        try:
            check_step_signature(id, function, deps)
        except TypeError as exc:
            raise self._error(("tasks", len(self._data["tasks"])), str(exc)) from None
        data: dict[str, Any] = {"id": id, "kind": "step"}
        fields = {"depends_on": deps or None, "timeout": timeout, "priority": priority}
        data.update({k: v for k, v in fields.items() if v is not None})
        data["prompt"] = ""
        self._add(data)
        self._steps[id] = function
        return id

    def _add(self, data: dict[str, Any]) -> None:
        tasks: list[dict[str, Any]] = self._data["tasks"]
        ids = [t["id"] for t in tasks]
        loc: Loc = ("tasks", len(tasks))
        if data["id"] in ids:
            first = self._lines.get(("tasks", ids.index(data["id"])))
            where = f" (first declared on line {first})" if first else ""
            raise self._error(loc, f"duplicate task id {data['id']!r}{where}")
        self._changed()
        tasks.append(data)
        self._note_line(loc)

    # -- validation ----------------------------------------------------------------------

    @property
    def spec(self) -> WorkflowSpec:
        """The validated `WorkflowSpec` (`ConfigError` listing every problem)."""
        if self._spec is None:
            self._spec = WorkflowSpec.from_data(
                copy.deepcopy(self._data),
                source=SourceMap(file=self._file, lines=dict(self._lines)),
                base_dir=self._base_dir,
                function_steps=True,
            )
        return self._spec

    def graph(self, *, caps: GraphCaps | None = None) -> TaskGraph:
        """The validated task graph."""
        return TaskGraph.from_spec(self.spec, caps=caps)

    def predict(self) -> Prediction:
        """Expected tokens, cost and critical path, before any call."""
        return predict(self.graph())

    def resolve_inputs(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Input values: the defaults overridden by `values` (`ConfigError` if wrong)."""
        return resolve_values(self.spec.inputs, values or {})

    def to_yaml(self) -> str:
        """The workflow as a YAML file; `ValueError` if it has what YAML cannot hold.

        Function steps and tools without an import path (defined in `__main__` or
        inside a function) cannot be written; a pydantic output class without one is
        written as its JSON Schema. Context file globs stay relative to `base_dir`.
        """
        if self._steps:
            raise ValueError(
                f"workflow {self.name!r} has function steps ({', '.join(self._steps)}), "
                "which YAML cannot hold"
            )
        data = self.spec.model_dump(mode="json", exclude_unset=True)
        for name, agent in self._agents.items():
            paths, missing = tool_paths(agent.tools)
            if missing:
                names = ", ".join(map(repr, missing))
                raise ValueError(
                    f"agent {name!r}: tool(s) {names} have no import path; define them at "
                    "module level in an importable module to write YAML"
                )
            if paths:
                data["agents"][name]["tools"] = paths
        return dump_yaml(data)

    # -- running -------------------------------------------------------------------------

    async def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        backend: BackendChoice = "auto",
        out: str | os.PathLike[str] = "runs",
        run_id: str | None = None,
        resume: bool = False,
        hooks: RunHooks | None = None,
        policy: str | None = None,
        seed: int = 0,
        force: bool = False,
        stream: bool = False,
        listeners: Iterable[Callable[[Event], None]] = (),
        on_budget: Callable[[Budget], None] | None = None,
    ) -> RunResult:
        """Run the workflow; the `RunResult` has every task's record (never raises for a task).

        Outputs, journal and events go to `out/<run_id>/`, as with `dagwright run`.
        `resume=True` continues the journaled run `run_id` (its inputs unless given).
        A run predicted to exceed `max_total_tokens`/`max_cost_usd` does not start
        (`ConfigError`) unless `force`. Raises `ConfigError` for an invalid workflow or
        inputs, and `HookError` when `on_run_start`/`on_run_end` fails.
        """
        spec = self.spec
        graph = TaskGraph.from_spec(spec)
        out_root = Path(out)
        if resume:
            if run_id is None:
                raise ValueError("resume=True needs the run_id of the run to continue")
            if inputs is None:
                with Journal.open(out_root / run_id / JOURNAL_FILE, read_only=True) as journal:
                    inputs = journal.run_info().inputs
        values = self.resolve_inputs(inputs)
        problems = predict(graph).over_caps(spec)
        if problems and not force and not resume:
            hint = "raise the cap, or pass force=True"
            raise ConfigError([bare_issue("prediction", "; ".join(problems), hint)])
        chosen, owned = self._backend(backend, seed)
        try:
            return await launch(
                spec,
                inputs=values,
                backend=chosen,
                out_root=out_root,
                run_id=run_id or new_run_id(spec.name),
                workflow_path=self._path,
                workflow_text=self._text,
                policy=policy,
                seed=seed,
                resume=resume,
                listeners=listeners,
                on_budget=on_budget,
                stream=stream,
                agents=self._agents,
                steps=self._steps,
                output_models=self._output_models,
                hooks=hooks,
            )
        finally:
            if owned:
                await chosen.aclose()

    def run_sync(self, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
        """`run` for scripts and notebooks: blocks until the run ends.

        Inside a running event loop (Jupyter, an async app), where `asyncio.run` cannot
        be used, the run gets its own event loop in a worker thread and this call blocks
        the caller's loop until it ends; there, prefer `await wf.run(...)`. A `Backend`
        passed in must not have been used on another loop (its connections belong to the
        loop that made them); a backend given by name is always made fresh.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run(inputs, **options))
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dagwright") as pool:
            return pool.submit(asyncio.run, self.run(inputs, **options)).result()

    def _backend(self, backend: BackendChoice, seed: int) -> tuple[Backend, bool]:
        if isinstance(backend, Backend):
            return backend, False
        if backend == "auto":
            backend = "api" if os.environ.get("ANTHROPIC_API_KEY") else "emulator"
            if backend == "emulator":
                _log.warning(
                    "ANTHROPIC_API_KEY is not set: running on the built-in emulator "
                    "(offline; answers are synthetic). Pass backend='emulator' to silence this."
                )
        if backend == "emulator":
            return emulator_backend(self.spec, seed=seed), True
        if backend == "api":
            return real_backend(), True
        raise ValueError(f"backend must be a Backend, 'auto', 'emulator' or 'api'; got {backend!r}")

    # -- helpers -------------------------------------------------------------------------

    def _changed(self) -> None:
        self._spec = None
        self._text = ""  # `dagwright resume` must not rerun the file's older version

    def _note_line(self, loc: Loc) -> None:
        file, line = _caller()
        if line and file == self._file:
            self._lines[loc] = line

    def _error(self, loc: Loc, message: str, hint: str | None = None) -> ConfigError:
        file, line = _caller()
        source = SourceMap(file=file)
        return ConfigError([source.issue(loc, message, hint, line=line)])

    def __repr__(self) -> str:
        steps = f", {len(self._steps)} function steps" if self._steps else ""
        return f"<Workflow {self.name!r}: {len(self._data['tasks'])} tasks{steps}>"


def _caller() -> tuple[str | None, int | None]:
    """(file, line) of the user's code that called into this module (for error messages)."""
    frame = sys._getframe(1) if hasattr(sys, "_getframe") else None
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    if frame is None:
        return None, None
    return frame.f_code.co_filename, frame.f_lineno
