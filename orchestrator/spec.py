"""The workflow format: a pydantic `WorkflowSpec`, loaded from YAML and checked as a whole.

Field-level mistakes come from pydantic and are translated into `ConfigIssue`s; checks
across fields (dependencies, agents, template references, context files) run in one
pass after them (see `orchestrator._spec_checks`). Either way a bad workflow raises
`ConfigError` listing every issue. Inputs and `--set` values live in `orchestrator.inputs`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orchestrator._spec_checks import (
    IMPORT_PATH,
    bare_issue,
    check_import_path,
    check_model,
    check_name,
    check_output_schema,
    check_pattern,
    choice,
    cross_check,
    fail,
)
from orchestrator._yaml import YamlCaps, load_yaml_file, load_yaml_text, read_confined_files
from orchestrator.config_errors import (
    ConfigError,
    SourceMap,
    did_you_mean,
    issues_from_validation_error,
)
from orchestrator.graph import TaskKind
from orchestrator.inputs import InputSpec, parse_set, resolve_inputs
from orchestrator.limits import MODEL_CLASSES, TIERS, AccountingMode, ModelLimits

__all__ = [
    "CONTEXT_MAX_BYTES",
    "DEFAULT_MODEL",
    "POLICIES",
    "YAML_TASK_KINDS",
    "AgentSpec",
    "BudgetSpec",
    "ClassLimits",
    "ContextDocument",
    "ContextSpec",
    "InputSpec",
    "LimitsSpec",
    "PlanSettings",
    "PolicyName",
    "TaskSpec",
    "WorkflowSpec",
    "load_workflow",
    "parse_set",
    "parse_workflow",
    "resolve_output_model",
]

DEFAULT_MODEL = "claude-sonnet-5"
CONTEXT_MAX_BYTES = 2_000_000
"""Cap on the total size of the shared context files."""

PolicyName = Literal["fifo", "fair", "priority", "critical_path"]
POLICIES: tuple[str, ...] = get_args(PolicyName)

Name = Annotated[str, AfterValidator(check_name)]
ModelName = Annotated[str, AfterValidator(check_model)]
ImportPath = Annotated[str, AfterValidator(check_import_path)]
OutputSchema = Annotated[dict[str, Any] | str, BeforeValidator(check_output_schema)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassLimits(_Model):
    """Per-minute limits of one model class; a burst defaults to its limit."""

    rpm: PositiveInt
    itpm: PositiveInt
    otpm: PositiveInt
    rpm_burst: PositiveInt | None = None
    itpm_burst: PositiveInt | None = None
    otpm_burst: PositiveInt | None = None

    def to_model_limits(self) -> ModelLimits:
        """The same limits as the budget's `ModelLimits`."""
        return ModelLimits(**self.model_dump())


class LimitsSpec(_Model):
    """A tier preset and/or explicit limits per model class, plus the OTPM accounting mode."""

    tier: str | None = None
    accounting: Annotated[
        AccountingMode, BeforeValidator(choice("accounting mode", get_args(AccountingMode)))
    ] = "actual"
    classes: dict[str, ClassLimits] = Field(default_factory=dict)

    @field_validator("tier")
    @classmethod
    def _known_tier(cls, value: str | None) -> str | None:
        if value is not None and value not in TIERS:
            hint = did_you_mean(value, TIERS) or "choose one of: " + ", ".join(TIERS)
            raise fail(f"unknown tier {value!r}", hint)
        return value

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: dict[str, ClassLimits]) -> dict[str, ClassLimits]:
        names = [name for name, _ in MODEL_CLASSES]
        for key in value:
            if key not in names:
                hint = did_you_mean(key, names) or "model classes: " + ", ".join(names)
                raise fail(f"unknown model class {key!r}", hint)
        return value

    def for_class(self, name: str) -> ModelLimits | None:
        """Limits of model class `name`: explicit, else the tier's, else None (discover)."""
        if name in self.classes:
            return self.classes[name].to_model_limits()
        return TIERS[self.tier] if self.tier is not None else None


class BudgetSpec(_Model):
    """Where the throughput budget lives: in this process (`memory`) or shared through Redis.

    `budget: {backend: redis, url: redis://127.0.0.1:6379/0, expected_processes: 4}` lets
    several `dagwright` processes on one API key share one budget (`--budget-url` on
    `dagwright run`/`resume` selects Redis too, and wins over `url`).
    """

    backend: Annotated[
        Literal["memory", "redis"], BeforeValidator(choice("budget backend", ("memory", "redis")))
    ] = "memory"
    url: str | None = None
    namespace: str = Field(default="dagwright", min_length=1)
    expected_processes: PositiveInt = 1


class ContextSpec(_Model):
    """Shared context sent as a cached prefix: inline text and files/globs.

    `warm_first` (default on): when several ready calls share a cacheable prefix, one is
    sent first and the rest wait, holding no budget, until its response reports the
    cache write; they then read the prefix from the cache (see `orchestrator.cachewarm`).
    Off, they are all sent as the budget allows, and those sent before the write is
    readable pay for the prefix again.
    """

    text: str = ""
    files: list[Annotated[str, AfterValidator(check_pattern)]] = Field(default_factory=list)
    warm_first: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class ContextDocument:
    """One context file, read at load time; `path` is relative to the workflow's folder."""

    path: str
    text: str


class AgentSpec(_Model):
    """A reusable worker: model, system prompt, tools and output settings."""

    model: ModelName | None = None
    system: str = ""
    tools: list[ImportPath] = Field(default_factory=list)
    output_schema: OutputSchema | None = None
    max_turns: PositiveInt = 10
    expected_output_tokens: PositiveInt | None = None
    max_tokens: PositiveInt | None = None


class PlanSettings(_Model):
    """How a `kind: plan` task may expand at run time: the plan's caps and its workers.

    `agents` are the agents the planner may assign (default: every agent of the
    workflow); `synthesize` merges the children's results with one more model call
    instead of joining them as they are.
    """

    max_tasks: PositiveInt = 8
    max_depth: PositiveInt = 3
    max_fanout: PositiveInt = 8
    max_total_tokens: PositiveInt | None = None
    max_cost_usd: PositiveFloat | None = None
    agents: list[str] | None = None
    worker_model: ModelName | None = None
    synthesize: bool = False
    max_repairs: NonNegativeInt = 2


YAML_TASK_KINDS: tuple[str, ...] = ("model", "plan")
"""Task kinds a YAML file may use; `step` (a Python function) exists only in `Workflow`."""


def _task_kind(value: Any, info: ValidationInfo) -> Any:
    steps = bool((info.context or {}).get("function_steps"))
    if value == "step" and not steps:
        raise fail(
            "kind 'step' is only for Python function steps",
            "add the step in Python with Workflow.step(...); YAML tasks are model or plan",
        )
    return choice("task kind", get_args(TaskKind) if steps else YAML_TASK_KINDS)(value)


class TaskSpec(_Model):
    """One node of the workflow; unset settings come from its agent, then the workflow."""

    id: Name
    prompt: str
    depends_on: list[str] = Field(default_factory=list)
    agent: str | None = None
    model: ModelName | None = None
    max_tokens: PositiveInt | None = None
    expected_output_tokens: PositiveInt | None = None
    priority: int = 0
    output_schema: OutputSchema | None = None
    retries: NonNegativeInt = 2
    timeout: PositiveFloat | None = None
    kind: Annotated[TaskKind, BeforeValidator(_task_kind)] = "model"
    plan: PlanSettings | None = None

    @model_validator(mode="after")
    def _plan_has_no_schema(self) -> TaskSpec:
        if self.kind == "plan" and self.output_schema is not None:
            raise fail("a plan task cannot have an output_schema", "its output is the plan")
        if self.plan is not None and self.kind != "plan":
            raise fail("plan settings are only for tasks of kind: plan", "add 'kind: plan'")
        return self

    @property
    def plan_settings(self) -> PlanSettings:
        """The plan settings, defaults filled in (meaningful for `kind: plan`)."""
        return self.plan if self.plan is not None else PlanSettings()


def _inputs_shorthand(value: Any) -> Any:
    # `topic: rate limits` means a default; `topic:` (empty) means a required input.
    if not isinstance(value, dict):
        return value
    return {
        k: v if isinstance(v, dict) else ({} if v is None else {"default": v})
        for k, v in value.items()
    }


class WorkflowSpec(_Model):
    """A whole workflow as written in YAML; see `load_workflow`."""

    name: str = Field(min_length=1)
    description: str = ""
    model: ModelName = DEFAULT_MODEL
    limits: LimitsSpec | None = None
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    policy: Annotated[PolicyName, BeforeValidator(choice("policy", POLICIES))] = "critical_path"
    context: ContextSpec = Field(default_factory=ContextSpec)
    inputs: Annotated[dict[Name, InputSpec], BeforeValidator(_inputs_shorthand)] = Field(
        default_factory=dict
    )
    agents: dict[Name, AgentSpec] = Field(default_factory=dict)
    tasks: list[TaskSpec] = Field(min_length=1)
    max_total_tokens: PositiveInt | None = None
    max_cost_usd: PositiveFloat | None = None
    deadline: PositiveFloat | None = None
    on_failure: Annotated[
        Literal["fail_fast", "continue"],
        BeforeValidator(choice("on_failure mode", ("fail_fast", "continue"))),
    ] = "fail_fast"

    _source: SourceMap = PrivateAttr(default_factory=SourceMap)
    _documents: tuple[ContextDocument, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _check_whole(self, info: ValidationInfo) -> WorkflowSpec:
        context = info.context or {}
        source = context.get("source") or SourceMap()
        base_dir = Path(context.get("base_dir") or Path.cwd())
        issues = cross_check(self, source)
        files, problems = read_confined_files(
            self.context.files, base_dir, max_bytes=CONTEXT_MAX_BYTES
        )
        issues += [source.issue(("context", "files", i), m, h) for i, m, h in problems]
        if issues:
            raise ConfigError(issues)
        self._source = source
        self._documents = tuple(ContextDocument(path=p, text=t) for p, t in files)
        return self

    @classmethod
    def from_data(
        cls,
        data: Any,
        *,
        source: SourceMap | None = None,
        base_dir: Path | None = None,
        function_steps: bool = False,
    ) -> WorkflowSpec:
        """Validate plain data (context files relative to `base_dir`, default cwd).

        `function_steps` admits tasks of kind `step` (the placeholders of a Python
        `Workflow`'s function steps); YAML workflows never have them.
        """
        source = source or SourceMap()
        context = {"source": source, "base_dir": base_dir, "function_steps": function_steps}
        try:
            return cls.model_validate(data, context=context)
        except ValidationError as exc:
            raise ConfigError(issues_from_validation_error(exc, source, cls)) from None

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) of the YAML format, for editors and `dagwright schema`."""
        schema = cls.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = "dagwright workflow"
        kind = schema["$defs"]["TaskSpec"]["properties"]["kind"]
        kind["enum"] = [k for k in kind["enum"] if k in YAML_TASK_KINDS]
        schema["properties"]["inputs"]["additionalProperties"] = {
            "anyOf": [
                {"$ref": "#/$defs/InputSpec"},
                {"type": ["string", "number", "boolean", "array", "null"]},
            ]
        }
        return schema

    @property
    def source_map(self) -> SourceMap:
        """Where each node of the YAML came from (empty for specs built from data)."""
        return self._source

    @property
    def context_documents(self) -> tuple[ContextDocument, ...]:
        """The context files, read and confined at load time, sorted by path."""
        return self._documents

    def context_prefix(self) -> str:
        """Inline context text followed by each file, as one cacheable prefix."""
        parts = [self.context.text] if self.context.text else []
        parts += [f'<document path="{d.path}">\n{d.text}\n</document>' for d in self._documents]
        return "\n\n".join(parts)

    def task(self, task_id: str) -> TaskSpec:
        """The task named `task_id` (`KeyError` with a did-you-mean otherwise)."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        hint = did_you_mean(task_id, [t.id for t in self.tasks])
        raise KeyError(f"unknown task {task_id!r}" + (f" ({hint})" if hint else ""))

    def resolve_inputs(self, sets: Iterable[str] = ()) -> dict[str, Any]:
        """Input values: defaults overridden by `--set key=value` strings (last one wins).

        `ConfigError` for unknown or ill-typed values and for required inputs not set.
        """
        return resolve_inputs(self.inputs, sets, source=self._source)


def parse_workflow(
    text: str, *, file: str = "<string>", base_dir: Path | None = None
) -> WorkflowSpec:
    """Load a workflow from YAML text; raises `ConfigError` with every issue found."""
    document = load_yaml_text(text, file=file)
    return WorkflowSpec.from_data(document.data, source=document.source, base_dir=base_dir)


def load_workflow(path: str | os.PathLike[str], *, caps: YamlCaps | None = None) -> WorkflowSpec:
    """Load a workflow file; context files are resolved relative to its folder."""
    path = Path(path)
    document = load_yaml_file(path, caps=caps)
    return WorkflowSpec.from_data(document.data, source=document.source, base_dir=path.parent)


def resolve_output_model(ref: str, *, where: str = "output_schema") -> type[BaseModel]:
    """Import the pydantic model named by `"pkg.mod:Model"`; `ConfigError` if impossible."""
    if not IMPORT_PATH.match(ref):
        raise ConfigError(
            [bare_issue(where, f"invalid import path {ref!r}", "use 'pkg.mod:Model'")]
        )
    module_name, _, attribute = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError([bare_issue(where, f"cannot import {module_name!r}: {exc}")]) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            message = f"{module_name!r} has no attribute {attribute!r}"
            raise ConfigError([bare_issue(where, message, did_you_mean(part, names))])
        target = getattr(target, part)
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        raise ConfigError([bare_issue(where, f"{ref!r} is not a pydantic model class")])
    return target
