"""`Workflow`: the Python builder, YAML in and out, function steps, inputs and running."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agents import Agent, LLMRequest, ScriptedLLM, tool
from orchestrator import ConfigError, RunResult, Workflow
from orchestrator.budget import Budget
from orchestrator.emulator import EmulatorConfig
from orchestrator.inputs import InputSpec
from orchestrator.journal import JOURNAL_FILE, Journal
from orchestrator.launch import Backend, emulator_backend, resume_spec
from orchestrator.spec import WorkflowSpec, parse_workflow

ROOT = Path(__file__).resolve().parents[1]
BRIEF = ROOT / "examples" / "research_brief"

FINDINGS = {
    "type": "object",
    "properties": {
        "findings": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 5},
        "open_questions": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["findings"],
}
INSTANT = EmulatorConfig.model_validate(
    {"latency": {"*": {"ttft_s": 0, "tokens_per_second": 1e9, "prefill_s_per_token": 0}}}
)


def research_brief_in_python() -> Workflow:
    """examples/research_brief/workflow.yaml, written with the builder."""
    wf = Workflow(
        "research-brief",
        description="Research a topic from three angles, then write a one-page brief.",
        model="claude-sonnet-5",
        limits={"tier": "tier2", "accounting": "actual"},
        policy="critical_path",
        context="You are part of a small research team writing for busy engineers.\n"
        "Be concrete, cite where an idea comes from, and keep each note short.\n",
        context_files=["notes/*.md"],
        base_dir=BRIEF,
        inputs={
            "topic": InputSpec(
                default="rate limits in multi-agent systems", description="What the brief is about"
            ),
            "words": InputSpec(default=400, type="integer"),
        },
        max_cost_usd=1.0,
        on_failure="fail_fast",
    )
    researcher = Agent(
        "researcher",
        model="claude-haiku-4-5",
        system="You research one angle of {{ inputs.topic }} and report findings as JSON.",
        expected_output_tokens=400,
        max_tokens=1200,
        output_schema=FINDINGS,
    )
    history = wf.task(
        "history",
        agent=researcher,
        prompt="How did {{ inputs.topic }} come about? List the key milestones.",
    )
    practice = wf.task(
        "practice",
        agent="researcher",
        prompt="How do teams handle {{ inputs.topic }} today? What works?",
    )
    risks = wf.task(
        "risks",
        agent=researcher,
        prompt="What goes wrong with {{ inputs.topic }}, and how is it noticed?",
    )
    wf.task(
        "brief",
        depends_on=[history, practice, risks],
        expected_output_tokens=600,
        max_tokens=1500,
        prompt="Write a {{ inputs.words }}-word brief on {{ inputs.topic }}.\n"
        "History: {{ tasks.history.data.findings | json }}\n"
        "Practice: {{ tasks.practice.data.findings | json }}\n"
        "Risks: {{ tasks.risks.data.findings | json }}\n",
    )
    return wf


def scripted(function: Any) -> Backend:
    return Backend(client=ScriptedLLM.from_function(function), description="scripted", offline=True)


def _prompt(request: LLMRequest) -> str:
    content = request.messages[0]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def echo(request: LLMRequest) -> str:
    return "echo: " + _prompt(request)


# -- the builder and YAML ---------------------------------------------------------------


def test_builder_and_from_yaml_give_equal_specs_and_graphs() -> None:
    built = research_brief_in_python()
    loaded = Workflow.from_yaml(BRIEF / "workflow.yaml")
    assert built.spec.model_dump() == loaded.spec.model_dump()
    assert built.spec.context_documents == loaded.spec.context_documents
    graph, expected = built.graph(), loaded.graph()
    assert graph.order == expected.order
    assert dict(graph.nodes) == dict(expected.nodes)
    assert sorted(graph.networkx.edges) == sorted(expected.networkx.edges)
    assert built.predict() == loaded.predict()


def test_to_yaml_round_trips() -> None:
    built = research_brief_in_python()
    text = built.to_yaml()
    again = parse_workflow(text, base_dir=BRIEF)
    assert again.model_dump() == built.spec.model_dump()
    assert "&" not in text and "*id" not in text  # no anchors: our loader refuses them


def test_to_yaml_refuses_function_steps_and_tools_without_an_import_path() -> None:
    wf = Workflow("w")
    wf.step("load", lambda: "x")
    with pytest.raises(ValueError, match=r"function steps \(load\)"):
        wf.to_yaml()

    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return query

    wf = Workflow("w")
    wf.task("a", agent=Agent("helper", tools=[lookup]), prompt="hi")
    with pytest.raises(ValueError, match="'lookup' have no import path"):
        wf.to_yaml()


def test_a_pydantic_output_class_is_written_by_import_path_or_as_its_schema() -> None:
    class Local(BaseModel):
        answer: str

    wf = Workflow("w")
    wf.task("a", prompt="hi", output_schema=Answer)
    wf.task("b", prompt="hi", output_schema=Local)
    assert wf.spec.task("a").output_schema == f"{__name__}:Answer"
    assert wf.spec.task("b").output_schema == Local.model_json_schema()
    assert parse_workflow(wf.to_yaml()).model_dump() == wf.spec.model_dump()


class Answer(BaseModel):
    answer: str
    score: int = Field(ge=0, le=10)


def test_yaml_cannot_declare_function_steps() -> None:
    text = "name: w\ntasks:\n  - id: a\n    prompt: hi\n    kind: step\n"
    with pytest.raises(ConfigError, match="only for Python function steps") as info:
        parse_workflow(text, file="w.yaml")
    assert info.value.issues[0].line == 5
    assert "step" not in json.dumps(
        WorkflowSpec.json_schema()["$defs"]["TaskSpec"]["properties"]["kind"]
    )


def test_errors_point_at_the_python_line_that_declared_the_task() -> None:
    wf = Workflow("w")
    wf.task("history", prompt="hi")
    line = sys._getframe().f_lineno + 1
    wf.task("brief", prompt="{{ tasks.histroy.output }}", depends_on=["histroy"])
    with pytest.raises(ConfigError) as info:
        _ = wf.spec
    issues = info.value.issues
    assert {i.file for i in issues} == {__file__}
    assert {i.line for i in issues} == {line}
    assert issues[0].path == "tasks[1].depends_on[0]"
    assert issues[0].hint == "did you mean 'history'?"


def test_duplicate_ids_and_bad_step_signatures_fail_at_once() -> None:
    wf = Workflow("w")
    wf.task("a", prompt="hi")
    with pytest.raises(ConfigError, match="duplicate task id 'a'"):
        wf.step("a", lambda: None)

    def merge(a: str) -> str:
        return a

    with pytest.raises(ConfigError, match=r"depends on 'b', but .*merge\(\) has no parameter 'b'"):
        wf.step("m", merge, depends_on=["a", "b"])
    with pytest.raises(ConfigError, match=r"parameter 'a' .* is neither a dependency"):
        wf.step("m", merge)
    wf.step("ok", lambda **results: results, depends_on=["a"])  # **kwargs takes them all
    with pytest.raises(ConfigError, match="another agent is already named 'x'"):
        wf.task("c", agent=Agent("x"), prompt="hi")
        wf.task("d", agent=Agent("x"), prompt="hi")


def test_inputs_are_checked_and_defaults_filled_in() -> None:
    wf = Workflow("w", inputs={"topic": None, "words": 400, "deep": False})
    wf.task("a", prompt="{{ inputs.topic }} {{ inputs.words }} {{ inputs.deep }}")
    assert wf.resolve_inputs({"topic": "x", "words": "300"}) == {
        "topic": "x",
        "words": 300,
        "deep": False,
    }
    with pytest.raises(ConfigError) as info:
        wf.resolve_inputs({"topik": "x", "words": 2.5})
    text = str(info.value)
    assert "unknown input 'topik'" in text and "did you mean 'topic'?" in text
    assert "input 'words' must be of type integer, got 2.5" in text
    assert "input 'topic' is required" in text


# -- running ------------------------------------------------------------------------------


def _result(
    wf: Workflow, tmp_path: Path, backend: Backend | str = "emulator", **options: Any
) -> RunResult:
    chosen = emulator_backend(wf.spec, config=INSTANT) if backend == "emulator" else backend
    return asyncio.run(wf.run(backend=chosen, out=tmp_path, **options))  # type: ignore[arg-type]


def test_function_steps_receive_their_dependencies_results(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def load(inputs: dict[str, Any]) -> dict[str, Any]:
        seen["load"] = inputs
        return {"topic": inputs["topic"], "files": ["a.md", "b.md"]}

    async def shout(summary: str) -> str:
        seen["shout"] = summary
        return summary.upper()

    def combine(load: dict[str, Any], summary: str, shout: str) -> Answer:
        seen["combine"] = (load, summary, shout)
        return Answer(answer=f"{len(load['files'])} files", score=3)

    wf = Workflow("steps", limits="tier2", inputs={"topic": "caching"})
    wf.step("load", load)
    wf.task(
        "summary",
        prompt="about {{ tasks.load.data.topic }}: {{ tasks.load.output }}",
        depends_on=["load"],
    )
    wf.step("shout", shout, depends_on=["summary"])
    wf.step("combine", combine, depends_on=["load", "summary", "shout"])
    wf.step("nothing", lambda combine: None, depends_on=["combine"])
    result = _result(wf, tmp_path, scripted(echo))

    assert result.ok, result.reason
    loaded = {"topic": "caching", "files": ["a.md", "b.md"]}
    assert seen["load"] == {"topic": "caching"}
    summary = "echo: about caching: " + json.dumps(loaded)
    assert result.output("summary") == summary
    assert seen["shout"] == summary
    assert seen["combine"] == (loaded, summary, summary.upper())
    assert result.parsed("load") == loaded
    assert result.parsed("combine", Answer) == Answer(answer="2 files", score=3)
    assert result["shout"].data is None and result.output("shout") == summary.upper()
    assert result.output("nothing") == ""
    for step in ("load", "shout", "combine"):
        record = result[step]
        assert record.usage.output_tokens == 0 and record.cost_usd == 0 and record.model is None
    run_dir = tmp_path / result.run_id
    assert json.loads((run_dir / "tasks" / "combine.json").read_text()) == {
        "answer": "2 files",
        "score": 3,
    }


def test_a_failing_step_fails_its_task_with_a_clear_error(tmp_path: Path) -> None:
    def broken() -> str:
        raise OSError("disk on fire")

    wf = Workflow("w", limits="tier2", on_failure="continue")
    wf.step("broken", broken)
    wf.step("after", lambda broken: broken, depends_on=["broken"])
    wf.step("odd", lambda: object())
    result = _result(wf, tmp_path, scripted(echo))
    assert result.status == "failed"
    assert result["broken"].error == "step 'broken' raised OSError: disk on fire"
    assert "upstream task 'broken' failed" in (result["after"].error or "")
    assert "returned a object, which is not JSON-able" in (result["odd"].error or "")
    with pytest.raises(ValueError, match="did not succeed"):
        result.output("broken")
    with pytest.raises(KeyError, match="did you mean 'after'"):
        result["aftre"]


async def test_every_turn_takes_a_lease(tmp_path: Path) -> None:
    @tool
    def search(query: str) -> list[str]:
        """Search the notes.

        Args:
            query: What to look for.
        """
        return [f"a note about {query}"]

    researcher = Agent("researcher", model="claude-haiku-4-5", tools=[search], max_turns=4)
    wf = Workflow("leases", limits="tier2")
    for name in ("a", "b", "c"):
        wf.task(name, agent=researcher, prompt=f"research {name}")
    wf.step("done", lambda a, b, c: "ok", depends_on=["a", "b", "c"])
    budgets: list[Budget] = []
    backend = emulator_backend(wf.spec, config=INSTANT)
    result = await wf.run(backend=backend, out=tmp_path, on_budget=budgets.append)
    assert result.ok, result.reason
    with Journal.open(tmp_path / result.run_id / JOURNAL_FILE, read_only=True) as journal:
        transcripts = [journal.transcript(t)[-1] for t in "abc"]
    model_turns = sum(1 for t in transcripts for m in t if m["role"] == "assistant")
    assert model_turns == 6  # the emulator: a tool call, then the answer, per task
    stats = {c.model_class: c for c in budgets[0].statistics().classes}
    assert stats["haiku-4"].admitted == stats["haiku-4"].settled == model_turns
    assert all(c.admitted == 0 for name, c in stats.items() if name != "haiku-4")  # steps: none
    requests = stats["haiku-4"].requests
    assert requests is not None and requests.granted == model_turns


def test_run_sync_outside_an_event_loop(tmp_path: Path) -> None:
    wf = Workflow("sync", limits="tier2")
    wf.task("a", prompt="hello")
    result = wf.run_sync(
        backend=emulator_backend(wf.spec, config=INSTANT), out=tmp_path, run_id="r1"
    )
    assert result.ok and result.run_id == "r1"
    assert (tmp_path / "r1" / "tasks" / "a.md").is_file()


async def test_run_sync_inside_a_running_event_loop(tmp_path: Path) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def where() -> str:
        loops.append(asyncio.get_running_loop())
        return "step ran"

    wf = Workflow("sync", limits="tier2")
    wf.step("where", where)
    wf.task("a", prompt="{{ tasks.where.output }}", depends_on=["where"])
    # As in a notebook cell; a Backend not used yet may be passed in.
    backend = emulator_backend(wf.spec, config=INSTANT)
    result = wf.run_sync(backend=backend, out=tmp_path)
    assert result.ok
    assert loops and loops[0] is not asyncio.get_running_loop()  # the run had its own loop


def test_a_run_predicted_over_its_caps_does_not_start(tmp_path: Path) -> None:
    wf = Workflow("big", max_total_tokens=10)
    wf.task("a", prompt="hello " * 100)
    with pytest.raises(ConfigError, match="exceeds max_total_tokens") as info:
        wf.run_sync(backend="emulator", out=tmp_path)
    assert info.value.issues[0].hint == "raise the cap, or pass force=True"
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_resume_from_python_runs_only_what_is_missing(tmp_path: Path) -> None:
    calls: list[str] = []
    fail = {"b": True}

    def a() -> str:
        calls.append("a")
        return "A"

    def b(a: str) -> str:
        calls.append("b")
        if fail["b"]:
            raise RuntimeError("not yet")
        return a + "B"

    wf = Workflow("resumable", limits="tier2", inputs={"n": 1})
    wf.step("a", a)
    wf.step("b", b, depends_on=["a"])
    first = _result(wf, tmp_path, scripted(echo), run_id="r", inputs={"n": 2})
    assert first.status == "failed"
    fail["b"] = False
    second = _result(wf, tmp_path, scripted(echo), run_id="r", resume=True)
    assert second.ok and second.output("b") == "AB"
    assert calls == ["a", "b", "b"]
    with pytest.raises(ConfigError, match="was started from Python"):
        resume_spec(tmp_path / "r")


def test_an_unchanged_yaml_workflow_can_be_resumed_by_the_cli(tmp_path: Path) -> None:
    wf = Workflow.from_yaml(BRIEF / "workflow.yaml")
    result = _result(wf, tmp_path)
    assert result.ok, result.reason
    spec, inputs, _ = resume_spec(tmp_path / result.run_id)
    assert spec.model_dump() == wf.spec.model_dump()
    assert inputs == {"topic": "rate limits in multi-agent systems", "words": 400}


def test_a_yaml_workflow_gains_python_steps(tmp_path: Path) -> None:
    wf = Workflow.from_yaml(BRIEF / "workflow.yaml")
    wf.step("count", lambda brief: len(brief.split()), depends_on=["brief"])
    result = _result(wf, tmp_path)
    assert result.ok, result.reason
    assert result.parsed("count") == len(result.output("brief").split())
    with pytest.raises(ConfigError, match="started from Python"):
        resume_spec(tmp_path / result.run_id)  # the file no longer says what ran


def test_the_example_runs_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python_api" / "main.py"), "--out", "runs"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("# Rate limits in multi-agent systems\n")
    assert "## Sources" in done.stdout
    assert "tool call history: search_docs(" in done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "result.json").read_text())
    assert summary["status"] == "succeeded"
    assert set(summary["tasks"]) == {"catalogue", "history", "practice", "risks", "brief", "report"}
    for angle in ("history", "practice", "risks"):
        notes = json.loads((run_dir / "tasks" / f"{angle}.json").read_text())
        assert 2 <= len(notes["findings"]) <= 5
    assert (run_dir / "tasks" / "report.md").read_text().strip() == done.stdout.strip()


def test_a_plan_task_takes_its_plan_settings_from_python() -> None:
    from orchestrator.spec import PlanSettings

    researcher = Agent(name="researcher", system="You research one question.")
    wf = Workflow("team")
    wf.add_agent(researcher)
    wf.task(
        "research",
        "Research rate limits.",
        kind="plan",
        plan={"max_tasks": 4, "max_depth": 1, "agents": ["researcher"]},
    )
    wf.task(
        "again",
        "Research caching.",
        kind="plan",
        plan=PlanSettings(max_tasks=2, synthesize=True),
    )
    wf.task("report", "{{ tasks.research.output }}", depends_on=["research", "again"])
    tasks = {t.id: t for t in wf.spec.tasks}
    assert tasks["research"].plan == PlanSettings(max_tasks=4, max_depth=1, agents=["researcher"])
    assert tasks["again"].plan == PlanSettings(max_tasks=2, synthesize=True)
    assert tasks["report"].plan is None
    # The same settings written as YAML read back the same.
    assert parse_workflow(wf.to_yaml()).tasks[0].plan == tasks["research"].plan


def test_plan_settings_on_a_model_task_or_with_a_typo_are_clear_errors() -> None:
    wf = Workflow("w")
    wf.task("a", "hi", plan={"max_tasks": 2})
    with pytest.raises(ConfigError, match="only for tasks of kind: plan"):
        _ = wf.spec
    wf2 = Workflow("w2")
    line = sys._getframe().f_lineno + 1
    wf2.task("a", "hi", kind="plan", plan={"max_task": 2})
    with pytest.raises(ConfigError) as info:
        _ = wf2.spec
    (issue,) = info.value.issues
    assert issue.line == line and "max_task" in issue.path
    assert issue.hint is not None and "max_tasks" in issue.hint


_SHARED = "Background for every task: " + " ".join(f"fact{i} about the topic." for i in range(900))


def _shared_context_fan_out(warm_first: bool) -> Workflow:
    spec = parse_workflow(
        "name: shared\n"
        "limits: {tier: tier2}\n"  # known limits: no one-at-a-time probing
        "context:\n"
        f"  text: {json.dumps(_SHARED)}\n"
        f"  warm_first: {str(warm_first).lower()}\n"
        "tasks:\n" + "".join(f"  - id: t{i}\n    prompt: Question {i}.\n" for i in range(4))
    )
    return Workflow.from_spec(spec)


@pytest.mark.looptime
@pytest.mark.parametrize("warm_first", [True, False])
async def test_context_warm_first_decides_who_writes_the_shared_prefix(
    tmp_path: Path, warm_first: bool
) -> None:
    wf = _shared_context_fan_out(warm_first)
    assert wf.spec.context.warm_first is warm_first
    result = await wf.run(backend=emulator_backend(wf.spec), out=tmp_path, run_id="r")
    assert result.ok, result.reason
    usages = [result.records[f"t{i}"].usage for i in range(4)]
    writers = [u for u in usages if u.cache_creation_input_tokens > 0]
    readers = [u for u in usages if u.cache_read_input_tokens > 0]
    if warm_first:
        # One writes the context; the others wait for the write and read it.
        assert (len(writers), len(readers)) == (1, 3)
    else:
        # Sent together, every task finds no readable entry and writes the prefix itself.
        assert (len(writers), len(readers)) == (4, 0)


def test_context_warm_first_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match="warm_first"):
        parse_workflow(
            "name: x\ncontext:\n  warm_first: sometimes\ntasks:\n  - id: a\n    prompt: hi\n"
        )
