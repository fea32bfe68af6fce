"""The emulator's answer to a planning request: a sensible plan derived from the goal's text.

A request is a planning request when its structured output schema is titled `Plan` with
a `tasks` array, and its first user turn has a `<goal>` section (the layout the manager
sends, see `agents._plan_prompt`). The answer depends only on that turn, the schema and
the number of repair turns, never on the random seed, so the same request always gets the
same plan:

- The goal is split into clauses (sentences, `;`, `,`, "and", "vs", "then", bullets),
  duplicates dropped. A goal of w words gets `1 + w // 10` research tasks at most; extra
  clauses are grouped into those tasks, so every clause is covered.
- A one-clause goal of under 10 words is one task that answers it. Otherwise the
  research tasks are independent (they run in parallel) and a final `write_answer` task
  depends on all of them.
- Caps are read from the `<caps>` section (`max_tasks`, `max_depth`, `max_fanout`,
  `max_total_tokens`): research tasks are cut to fit `max_tasks` (one slot for the final
  task), `max_depth: 1` drops the final task, and expected output sizes shrink to fit
  `max_total_tokens`. `max_cost_usd` is not modelled (prices depend on routing).
- Agents come from the schema's `agent` enum: research tasks take the one whose name or
  `<agents>` line mentions research or search (else one with tools), the final task one
  whose name suggests writing or synthesis; none when nothing fits. `model` stays null.
- Each repair turn in the conversation drops one research task and halves the sizes, so
  a plan rejected for its size converges instead of repeating itself.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["is_plan_request", "plan_answer"]

_CLAUSE_SPLIT = re.compile(
    r"[.;!?\n]+\s*|,\s*|\s+(?:and|versus|vs\.?|then|as well as|plus)\s+|^\s*[-*]\s+",
    re.IGNORECASE | re.MULTILINE,
)
_WORD = re.compile(r"[A-Za-z0-9]+")
# one string is easier to read than a long list literal
_STOP = frozenset(
    "a an and the of to in on for with by from about what how why which who is are be "  # noqa: SIM905
    "do does it its this that these those their our your my as at or vs then also "
    "include including finish discuss cover write give make".split()
)
_RESEARCH_HINTS = ("research", "search", "find", "look", "browse", "fetch")
_WRITER_HINTS = ("writ", "synth", "edit", "report", "summar", "author")
_RESEARCH_TOKENS = 800
_ANSWER_TOKENS = 1_200
_MIN_TOKENS = 32


def _first_user_text(body: Mapping[str, Any]) -> str:
    for message in body.get("messages") or []:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "".join(str(b.get("text", "")) for b in content or [] if isinstance(b, Mapping))
    return ""


def _section(text: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", text, re.DOTALL)
    return match.group(1) if match else None


def is_plan_request(body: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    """True for a manager's planning request (schema titled `Plan`, prompt with `<goal>`)."""
    properties = schema.get("properties")
    if schema.get("title") != "Plan" or not isinstance(properties, Mapping):
        return False
    return "tasks" in properties and _section(_first_user_text(body), "goal") is not None


def _caps(text: str) -> dict[str, float]:
    caps: dict[str, float] = {}
    for line in (_section(text, "caps") or "").splitlines():
        name, _, value = line.partition(":")
        try:
            caps[name.strip()] = float(value.strip())
        except ValueError:
            continue
    return caps


def _enum(schema: Mapping[str, Any], field: str) -> list[str]:
    task = (schema.get("$defs") or {}).get("PlannedTask") or {}
    spec = (task.get("properties") or {}).get(field) or {}
    names: list[str] = []
    for option in [spec, *(spec.get("anyOf") or [])]:
        names += [v for v in option.get("enum") or [] if isinstance(v, str)]
    return names


def _pick_agent(names: Sequence[str], lines: Mapping[str, str], hints: Sequence[str]) -> str | None:
    for name in names:
        if any(h in name.lower() for h in hints):
            return name
    for name in names:
        if any(h in lines.get(name, "").lower() for h in hints):
            return name
    return None


def _clauses(goal: str) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for piece in _CLAUSE_SPLIT.split(goal):
        clause = " ".join(piece.split()).strip(" -*")
        key = clause.lower()
        if clause and _WORD.search(clause) and key not in seen:
            seen.add(key)
            out.append(clause)
    return out or [" ".join(goal.split())]


def _groups(clauses: list[str], count: int) -> list[list[str]]:
    """`clauses` in `count` contiguous groups of near-equal size."""
    size, extra = divmod(len(clauses), count)
    groups, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        groups.append(clauses[start:end])
        start = end
    return groups


def _slug(text: str, taken: set[str]) -> str:
    words = [w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP][:3]
    base = ("research_" + "_".join(words))[:48] if words else "research"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}_{n}", n + 1
    taken.add(slug)
    return slug


def plan_answer(body: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """The plan (JSON text) answering a planning request; see the module docstring."""
    text = _first_user_text(body)
    goal = " ".join((_section(text, "goal") or "").split())
    caps = _caps(text)
    repairs = sum(1 for m in body.get("messages") or [] if m.get("role") == "user") - 1
    max_tasks = max(1, int(caps.get("max_tasks", 12)))
    max_depth = max(1, int(caps.get("max_depth", 4)))
    words = len(goal.split())
    clauses = _clauses(goal)
    single = (len(clauses) == 1 and words < 10) or max_tasks == 1
    with_answer = not single and max_depth >= 2
    room = max_tasks - (1 if with_answer else 0)
    count = max(1, min(len(clauses), 1 + words // 10, room) - max(0, repairs))
    shrink = 0.5 ** max(0, repairs)
    research_tokens = _RESEARCH_TOKENS * shrink
    answer_tokens = _ANSWER_TOKENS * shrink
    budget = caps.get("max_total_tokens")
    if budget is not None:
        # predict(): each task's prompt (~goal + framing) plus outputs, the final task
        # reading every research output once more.
        prompt = len(goal) / 4 + 400
        fixed = (count + 1) * prompt
        wanted = 2 * count * research_tokens + answer_tokens
        scale = min(1.0, max(0.0, 0.8 * budget - fixed) / wanted)
        research_tokens *= scale
        answer_tokens *= scale
    agents = _enum(schema, "agent")
    lines = {}
    for line in (_section(text, "agents") or "").splitlines():
        name, _, rest = line.strip().lstrip("- ").partition(":")
        lines[name.strip()] = rest
    researcher = _pick_agent(agents, lines, _RESEARCH_HINTS)
    if researcher is None:
        researcher = next((n for n in agents if "tools: none" not in lines.get(n, "")), None)
    writer = _pick_agent([n for n in agents if n != researcher], lines, _WRITER_HINTS)
    tasks: list[dict[str, Any]] = []
    if single and not with_answer:
        tasks.append(
            _task(
                "answer",
                f"Answer the goal directly and completely: {goal}",
                [],
                researcher,
                max(_MIN_TOKENS, math.floor(answer_tokens)),
                "medium",
            )
        )
    else:
        taken: set[str] = set()
        for group in _groups(clauses, count):
            topic = "; ".join(group)
            tasks.append(
                _task(
                    _slug(topic, taken),
                    f"Research this part of the goal: {topic}. Report the relevant facts, "
                    "figures and their sources concisely.",
                    [],
                    researcher,
                    max(_MIN_TOKENS, math.floor(research_tokens)),
                    "easy" if len(topic.split()) <= 6 else "medium",
                )
            )
        if with_answer:
            tasks.append(
                _task(
                    "write_answer",
                    f"Combine the research results into one complete answer to the goal: {goal}",
                    [t["id"] for t in tasks],
                    writer,
                    max(_MIN_TOKENS, math.floor(answer_tokens)),
                    "hard",
                )
            )
    summary = f"{len(tasks) - (1 if with_answer else 0)} parallel research task(s)" + (
        ", then one task writes the answer." if with_answer else "."
    )
    return json.dumps({"summary": summary, "tasks": tasks}, ensure_ascii=False)


def _task(
    task_id: str,
    instructions: str,
    depends_on: list[str],
    agent: str | None,
    tokens: int,
    difficulty: str,
) -> dict[str, Any]:
    return {
        "id": task_id,
        "instructions": instructions,
        "depends_on": depends_on,
        "agent": agent,
        "expected_output_tokens": tokens,
        "model": None,
        "difficulty": difficulty,
    }
