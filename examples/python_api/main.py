"""The research brief, built in Python: tool-using researchers, a writer, function steps.

    python examples/python_api/main.py [--topic TEXT] [--words N] [--out DIR]

Offline (no ANTHROPIC_API_KEY) it runs on the built-in emulator, whose answers are
synthetic but well-formed: each researcher calls `search_docs` (a local search over
`docs/`), reads the results and answers with JSON that fits `Findings`.

    catalogue ─┬─ history ──┐
               ├─ practice ─┼─ brief ─┐
               └─ risks ────┘         ├─ report
                   (and catalogue) ───┘
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from doc_search import list_documents, search_docs  # next to this file
from pydantic import BaseModel, Field

from agents import Agent, ToolCall
from orchestrator import RunHooks, TaskNode, TaskRecord, Workflow

ANGLES = {
    "history": "How did {{ inputs.topic }} come about? List the key milestones.",
    "practice": "How do teams handle {{ inputs.topic }} today? What works?",
    "risks": "What goes wrong with {{ inputs.topic }}, and how is it noticed?",
}


class Findings(BaseModel):
    """What each researcher answers with (validated; one repair turn if invalid)."""

    findings: Annotated[list[str], Field(min_length=2, max_length=5)]
    sources: Annotated[list[str], Field(max_length=5)] = []


def catalogue() -> list[dict[str, str]]:
    """Function step: the bundled documents, so the researchers know what they can search."""
    return list_documents()


def report(
    brief: str,
    history: dict[str, Any],
    practice: dict[str, Any],
    risks: dict[str, Any],
    catalogue: list[dict[str, str]],
    inputs: dict[str, Any],
) -> str:
    """Function step: post-process the writer's brief into the final Markdown report."""
    titles = {doc["path"]: doc["title"] for doc in catalogue}
    cited = sorted({s for notes in (history, practice, risks) for s in notes.get("sources", [])})
    lines = [f"# {inputs['topic'].capitalize()}", "", brief.strip(), "", "## Findings", ""]
    for angle, notes in (("History", history), ("Practice", practice), ("Risks", risks)):
        lines += [f"**{angle}**", ""] + [f"- {item}" for item in notes["findings"]] + [""]
    lines += ["## Sources", ""]
    lines += [f"- {titles.get(s, s)} (`{s}`)" for s in cited] or ["- (none cited)"]
    return "\n".join(lines) + "\n"


def build() -> Workflow:
    """The workflow: one step, three researchers, a writer, one more step."""
    wf = Workflow(
        "research-brief-python",
        description="Research a topic from three angles in local documents, then a brief.",
        limits="tier2",
        context="You are part of a small research team writing for busy engineers.\n"
        "Be concrete, say which document an idea comes from, and keep notes short.",
        inputs={"topic": "rate limits in multi-agent systems", "words": 400},
        max_cost_usd=1.0,
    )
    researcher = Agent(
        "researcher",
        model="claude-haiku-4-5",
        system="You research one angle of a topic in the team's documents. Search them "
        "with search_docs, then answer with JSON findings; list the files you used as sources.",
        tools=[search_docs],
        output_schema=Findings,
        max_turns=4,
        expected_output_tokens=400,
        max_tokens=1200,
    )
    wf.step("catalogue", catalogue)
    for angle, question in ANGLES.items():
        wf.task(
            angle,
            agent=researcher,
            depends_on=["catalogue"],
            prompt=question + "\nDocuments you can search: {{ tasks.catalogue.output }}",
        )
    wf.task(
        "brief",
        depends_on=list(ANGLES),
        expected_output_tokens=600,
        max_tokens=1500,
        prompt="Write a {{ inputs.words }}-word brief on {{ inputs.topic }}.\n"
        "History: {{ tasks.history.data.findings | json }}\n"
        "Practice: {{ tasks.practice.data.findings | json }}\n"
        "Risks: {{ tasks.risks.data.findings | json }}",
    )
    wf.step("report", report, depends_on=["brief", *ANGLES, "catalogue"])
    return wf


class Progress(RunHooks):
    """Hooks: one line per task and per tool call, on stderr."""

    async def on_task_start(self, task_id: str, node: TaskNode) -> None:
        print(f"  started   {task_id} ({node.kind})", file=sys.stderr)

    async def on_tool_call(self, task_id: str, call: ToolCall) -> None:
        status = "error" if call.outcome.is_error else f"{len(call.outcome.content)} chars"
        arguments = json.dumps(call.input)
        print(f"  tool call {task_id}: {call.name}({arguments}) -> {status}", file=sys.stderr)

    async def on_task_end(self, task_id: str, record: TaskRecord) -> None:
        cost = f"${record.cost_usd:.4f}" if record.model else "no model"
        print(f"  {record.status:<9} {task_id} ({cost})", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", help="what the brief is about")
    parser.add_argument("--words", type=int, help="length of the brief")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="output root")
    args = parser.parse_args(argv)
    inputs = {k: v for k, v in (("topic", args.topic), ("words", args.words)) if v is not None}
    online = bool(os.environ.get("ANTHROPIC_API_KEY"))
    wf = build()
    where = "the API" if online else "the built-in emulator (offline, synthetic answers)"
    print(f"running {wf.name!r} on {where}", file=sys.stderr)
    result = wf.run_sync(
        inputs, backend="api" if online else "emulator", out=args.out, hooks=Progress()
    )
    if not result.ok:
        for task_id in result.ids("failed"):
            print(f"failed: {task_id}: {result[task_id].error}", file=sys.stderr)
        return 1
    print(result.output("report"))
    print(
        f"{len(result.records)} tasks in {result.makespan_s:.1f}s, "
        f"{result.usage.output_tokens:,} output tokens, ${result.cost_usd:.4f}; "
        f"results in {args.out / result.run_id}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
