"""dagwright's engine: limits, clock, budget, runner, journal, workflows, CLI and emulator.

Light names are imported eagerly; the heavier ones (budget, runner, workflow spec, ...)
load on first access, because `agents` (imported by them) itself builds on
`orchestrator`'s small modules and eager imports here would be circular.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from orchestrator.clock import Clock, LoopClock, ManualClock
from orchestrator.limits import TIERS, AccountingMode, BucketKind, ModelLimits, model_class
from orchestrator.pricing import PRICES, Price, PriceTable, cost_usd

if TYPE_CHECKING:
    from orchestrator.budget import Budget, RequestTooLarge, SpendLimitReached
    from orchestrator.call import BudgetedCaller, CallFailed, CallOptions, CallOutcome
    from orchestrator.config_errors import ConfigError, ConfigIssue
    from orchestrator.events import Event, EventLog
    from orchestrator.graph import GraphCaps, LatencyModel, TaskGraph, TaskNode
    from orchestrator.hooks import HookError, RunHooks
    from orchestrator.journal import Journal, TaskRecord
    from orchestrator.launch import launch
    from orchestrator.lowerbound import lower_bound
    from orchestrator.runner import RunCaps, Runner, RunResult, TaskContext, TaskOutput
    from orchestrator.spec import WorkflowSpec, load_workflow, parse_workflow
    from orchestrator.steps import StepError
    from orchestrator.workflow import Workflow

_LAZY = {
    "Budget": "orchestrator.budget",
    "BudgetedCaller": "orchestrator.call",
    "CallFailed": "orchestrator.call",
    "CallOptions": "orchestrator.call",
    "CallOutcome": "orchestrator.call",
    "ConfigError": "orchestrator.config_errors",
    "ConfigIssue": "orchestrator.config_errors",
    "Event": "orchestrator.events",
    "EventLog": "orchestrator.events",
    "GraphCaps": "orchestrator.graph",
    "HookError": "orchestrator.hooks",
    "Journal": "orchestrator.journal",
    "LatencyModel": "orchestrator.graph",
    "RequestTooLarge": "orchestrator.budget",
    "RunCaps": "orchestrator.runner",
    "RunHooks": "orchestrator.hooks",
    "RunResult": "orchestrator.runner",
    "Runner": "orchestrator.runner",
    "SpendLimitReached": "orchestrator.budget",
    "StepError": "orchestrator.steps",
    "TaskContext": "orchestrator.runner",
    "TaskGraph": "orchestrator.graph",
    "TaskNode": "orchestrator.graph",
    "TaskOutput": "orchestrator.runner",
    "TaskRecord": "orchestrator.journal",
    "Workflow": "orchestrator.workflow",
    "WorkflowSpec": "orchestrator.spec",
    "launch": "orchestrator.launch",
    "load_workflow": "orchestrator.spec",
    "lower_bound": "orchestrator.lowerbound",
    "parse_workflow": "orchestrator.spec",
}

__all__ = [
    "PRICES",
    "TIERS",
    "AccountingMode",
    "BucketKind",
    "Budget",
    "BudgetedCaller",
    "CallFailed",
    "CallOptions",
    "CallOutcome",
    "Clock",
    "ConfigError",
    "ConfigIssue",
    "Event",
    "EventLog",
    "GraphCaps",
    "HookError",
    "Journal",
    "LatencyModel",
    "LoopClock",
    "ManualClock",
    "ModelLimits",
    "Price",
    "PriceTable",
    "RequestTooLarge",
    "RunCaps",
    "RunHooks",
    "RunResult",
    "Runner",
    "SpendLimitReached",
    "StepError",
    "TaskContext",
    "TaskGraph",
    "TaskNode",
    "TaskOutput",
    "TaskRecord",
    "Workflow",
    "WorkflowSpec",
    "cost_usd",
    "launch",
    "load_workflow",
    "lower_bound",
    "model_class",
    "parse_workflow",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    return getattr(import_module(module), name)
