"""What a run is predicted to take before it starts: tokens, dollars, critical path.

Kept free of the client and budget so `dagwright validate` stays quick to start.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.usage import Usage
from orchestrator.graph import TaskGraph
from orchestrator.pricing import cost_usd
from orchestrator.spec import WorkflowSpec

__all__ = ["Prediction", "predict"]


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """What a run is expected to take before it starts (no caching assumed)."""

    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    critical_path_s: float

    def over_caps(self, spec: WorkflowSpec) -> list[str]:
        """Human-readable reasons this prediction breaks the spec's caps."""
        problems = []
        total = self.input_tokens + self.output_tokens
        if spec.max_total_tokens is not None and total > spec.max_total_tokens:
            problems.append(
                f"predicted {total:,} tokens exceeds max_total_tokens {spec.max_total_tokens:,}"
            )
        if (
            spec.max_cost_usd is not None
            and self.cost_usd is not None
            and self.cost_usd > spec.max_cost_usd
        ):
            problems.append(
                f"predicted ${self.cost_usd:.2f} exceeds max_cost_usd ${spec.max_cost_usd:.2f}"
            )
        return problems


def predict(graph: TaskGraph) -> Prediction:
    """Tokens, cost and critical path from the graph's estimates."""
    tokens_in = sum(node.input_tokens for node in graph)
    tokens_out = sum(node.expected_output_tokens for node in graph)
    cost: float | None = 0.0
    for node in graph:
        if node.kind == "step":
            continue  # plain Python: no model call
        usage = Usage(input_tokens=node.input_tokens, output_tokens=node.expected_output_tokens)
        try:
            cost = (cost or 0.0) + cost_usd(node.model or "", usage)
        except KeyError:
            cost = None
            break
    return Prediction(
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=cost,
        critical_path_s=graph.critical_path().duration,
    )
