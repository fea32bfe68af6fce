"""dagwright's LLM-facing side: the client seam, its Anthropic adapter and test fakes.

Note: `agents` is also the import name of the OpenAI Agents SDK (`openai-agents`);
install them in separate environments.

The worker's names (`Worker`, `WorkerJob`, `WorkerResult`, `TaskFailed`, `ToolCall`) and
the manager's (`Manager`, `Plan`, `PlanCaps`, `PlanError`, `PlanResult`, `plan_to_spec`)
are loaded on first access: `agents.worker` builds on `orchestrator` (budget, caller,
prices), which itself imports `agents`, so importing it eagerly here would be circular.
"""

from typing import TYPE_CHECKING, Any

from agents._logging import quiet_default
from agents.agent import Agent
from agents.anthropic_client import AnthropicClient, MissingAPIKeyError
from agents.client import LLMClient, LLMRequest, LLMResponse, StreamEventHandler, TokenCount
from agents.errors import ErrorKind, LLMError
from agents.ratelimit import BucketReading, RateLimitSnapshot
from agents.scripted import ScriptedLLM, ScriptedReply, ScriptedStep
from agents.tools import Tool, ToolOutcome, as_tool, tool
from agents.usage import Usage

quiet_default()

if TYPE_CHECKING:
    from agents.manager import Manager, Plan, PlanCaps, PlanError, PlanResult, plan_to_spec
    from agents.worker import TaskFailed, ToolCall, Worker, WorkerJob, WorkerResult

__all__ = [
    "Agent",
    "AnthropicClient",
    "BucketReading",
    "ErrorKind",
    "LLMClient",
    "LLMError",
    "LLMRequest",
    "LLMResponse",
    "Manager",
    "MissingAPIKeyError",
    "Plan",
    "PlanCaps",
    "PlanError",
    "PlanResult",
    "RateLimitSnapshot",
    "ScriptedLLM",
    "ScriptedReply",
    "ScriptedStep",
    "StreamEventHandler",
    "TaskFailed",
    "TokenCount",
    "Tool",
    "ToolCall",
    "ToolOutcome",
    "Usage",
    "Worker",
    "WorkerJob",
    "WorkerResult",
    "as_tool",
    "plan_to_spec",
    "tool",
]

_WORKER_NAMES = frozenset({"TaskFailed", "ToolCall", "Worker", "WorkerJob", "WorkerResult"})
_MANAGER_NAMES = frozenset(
    {"Manager", "Plan", "PlanCaps", "PlanError", "PlanResult", "plan_to_spec"}
)


def __getattr__(name: str) -> Any:
    if name in _WORKER_NAMES:
        from agents import worker

        return getattr(worker, name)
    if name in _MANAGER_NAMES:
        from agents import manager

        return getattr(manager, name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
