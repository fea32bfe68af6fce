"""`dagwright run` and `resume` end to end: kill -9, Ctrl-C, injected faults, secrets, bad input.

Real subprocesses where the behaviour under test belongs to a process (a SIGKILL, a
SIGINT, what reaches stdout/stderr); in-process `CliRunner` calls elsewhere, which skip
the interpreter's start-up. Every wait polls state (the run's journal) with a bounded
deadline; nothing sleeps a fixed time and hopes.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
import typer
from typer.testing import CliRunner

from orchestrator.cli import _register_subcommands, app, configure_logging
from orchestrator.emulator import EmulatorConfig
from orchestrator.emulator.faults import FaultInjector
from orchestrator.emulator.server import BackgroundServer
from orchestrator.journal import JOURNAL_FILE, Journal, JournalError, TaskRecord
from orchestrator.launch import emulator_backend, launch, real_backend
from orchestrator.spec import load_workflow

CLI = [sys.executable, "-m", "orchestrator.cli"]
WAIT_S = 60.0
"""Upper bound of any wait: generous for a loaded machine, never reached when all is well."""

_NOTE_SCHEMA = {
    "type": "object",
    "properties": {"note": {"type": "string"}},
    "required": ["note"],
}


# Workflows ---------------------------------------------------------------------------


def _chain(n: int, *, shared_agent: bool = False) -> dict[str, Any]:
    """`n` tasks in a line, each a short structured answer on Haiku (~0.4 s each).

    By default every task is its own task kind (no agent): output sizes are then never
    learned across tasks, so each request's bytes are the same in any process.
    """
    tasks: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        task: dict[str, Any] = {"id": f"s{i}", "prompt": f"Step {i}."}
        if i > 1:
            task["depends_on"] = [f"s{i - 1}"]
            task["prompt"] = f"Step {i}, after: {{{{ tasks.s{i - 1}.data.note }}}}"
        if shared_agent:
            task["agent"] = "step"
        else:
            task |= {"expected_output_tokens": 40, "max_tokens": 400, "output_schema": _NOTE_SCHEMA}
        tasks.append(task)
    spec: dict[str, Any] = {"name": "chain", "model": "claude-haiku-4-5", "tasks": tasks}
    if shared_agent:
        spec["agents"] = {
            "step": {"expected_output_tokens": 40, "max_tokens": 400, "output_schema": _NOTE_SCHEMA}
        }
    return spec


def _fan(n: int, *, timeout: float | None = None) -> dict[str, Any]:
    """`n` independent short tasks and one task that joins them."""
    common: dict[str, Any] = {
        "expected_output_tokens": 40,
        "max_tokens": 400,
        "output_schema": _NOTE_SCHEMA,
    }
    if timeout is not None:
        common["timeout"] = timeout
    tasks = [{"id": f"m{i}", "prompt": f"Part {i}.", **common} for i in range(1, n + 1)]
    refs = " ".join(f"{{{{ tasks.m{i}.data.note }}}}" for i in range(1, n + 1))
    join = {"id": "join", "depends_on": [t["id"] for t in tasks], "prompt": f"Join: {refs}"}
    return {"name": "fan", "model": "claude-haiku-4-5", "tasks": [*tasks, join | common]}


def _write(path: Path, spec: dict[str, Any]) -> Path:
    # JSON is YAML, and never has the anchors that dagwright refuses.
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path


# Helpers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    _register_subcommands()
    return app


@pytest.fixture
def quiet_logs() -> None:
    """structlog at warning level, so debug events do not land on the captured stdout."""
    configure_logging("warning")


def _offline_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "DAGWRIGHT_LOG_LEVEL")
    }
    return env | extra


def _default_sigint() -> None:
    # A test run started in the background (`cmd &` in a script) ignores SIGINT, and a
    # child inherits that: Python would then never turn Ctrl-C into KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def _completed(run_dir: Path) -> dict[str, TaskRecord]:
    """The journal's succeeded tasks, read the way another process may while the run writes."""
    path = run_dir / JOURNAL_FILE
    if not path.is_file():
        return {}
    try:
        with Journal.open(path, read_only=True) as journal:
            return journal.completed()
    except JournalError:
        return {}  # the run is still creating its journal


def _wait_until(check: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"timed out after {WAIT_S:g}s waiting until {what}")
        time.sleep(0.02)


def _task_files(run_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((run_dir / "tasks").iterdir())}


def _events(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _segments(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The events of each process that worked on the run (each begins with run.started)."""
    out: list[list[dict[str, Any]]] = []
    for event in events:
        if event["event"] == "run.started":
            out.append([])
        out[-1].append(event)
    return out


def _outcome(result_json: Path) -> dict[str, Any]:
    """What must not depend on how a run got done: per task, status, answer size, model."""
    summary = json.loads(result_json.read_text(encoding="utf-8"))
    return {
        task_id: (task["status"], task["model"], task["usage"]["output_tokens"])
        for task_id, task in summary["tasks"].items()
    }


# kill -9, then resume ----------------------------------------------------------------


@pytest.mark.usefixtures("quiet_logs")
def test_kill_9_then_resume_reruns_only_unfinished_tasks(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 6
    workflow = _write(tmp_path / "chain.yaml", _chain(n))
    out, ref_out = tmp_path / "runs", tmp_path / "reference"
    env = _offline_env()
    victim = _start(
        "run", str(workflow), "--out", str(out), "--run-id", "victim", "--seed", "7", "--quiet",
        env=env,
    )  # fmt: skip
    run_dir = out / "victim"
    resumed: subprocess.Popen[str] | None = None
    try:
        _wait_until(lambda: len(_completed(run_dir)) >= 2, victim, "2 tasks completed")
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=WAIT_S)
        assert victim.returncode == -signal.SIGKILL
        before = _completed(run_dir)
        assert 2 <= len(before) < n, "the kill came too late to test anything"
        with Journal.open(run_dir / JOURNAL_FILE, read_only=True) as journal:
            assert journal.run_info().status == "running"  # killed: nobody marked it

        resumed = _start("resume", "victim", "--out", str(out), "--quiet", env=env)
        # Meanwhile, in this process: the uninterrupted run of the same workflow and seed.
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        args = ["run", str(workflow), "--out", str(ref_out), "--run-id", "ref", "--seed", "7"]
        reference = CliRunner().invoke(cli, [*args, "--quiet"])
        assert reference.exit_code == 0, reference.output
        _, stderr = resumed.communicate(timeout=WAIT_S)
        assert resumed.returncode == 0, stderr
    finally:
        for proc in (victim, resumed):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()

    after = _completed(run_dir)
    assert sorted(after) == sorted(f"s{i}" for i in range(1, n + 1))
    # Tasks finished before the kill were not run again: their records are untouched...
    for task_id, record in before.items():
        assert after[task_id] == record, task_id
    # ...and the resumed process started exactly the others.
    first, second = _segments(_events(run_dir))
    assert second[0]["resumed"] == len(before)
    started_again = {e["task_id"] for e in second if e["event"] == "task.started"}
    assert started_again == set(after) - set(before)
    started = Counter(e["task_id"] for e in first + second if e["event"] == "task.started")
    assert all(started[task_id] == 1 for task_id in before), started

    # The final results are those of the uninterrupted run.
    assert _task_files(run_dir) == _task_files(ref_out / "ref")
    assert _outcome(run_dir / "result.json") == _outcome(ref_out / "ref" / "result.json")
    summary = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    assert summary["status"] == "succeeded"


def test_resume_reproduces_answers_of_a_shared_agent(tmp_path: Path) -> None:
    # Same mechanics as the kill test, in-process: the run is cancelled (as Ctrl-C does)
    # after two tasks, then resumed by a fresh `launch`, as `dagwright resume` would.
    n = 8
    path = _write(tmp_path / "chain.yaml", _chain(n, shared_agent=True))
    spec = load_workflow(path)
    text = path.read_text(encoding="utf-8")

    async def go(run_id: str, *, stop_after: int | None = None, resume: bool = False) -> None:
        finished = 0
        main = asyncio.current_task()
        assert main is not None

        def listener(event: Any) -> None:
            nonlocal finished
            if event.name == "task.finished":
                finished += 1
                if finished == stop_after:
                    main.cancel()

        await launch(
            spec,
            inputs={},
            backend=emulator_backend(spec, seed=7),
            out_root=tmp_path / "runs",
            run_id=run_id,
            workflow_path=path,
            workflow_text=text,
            seed=7,
            resume=resume,
            listeners=[listener],
        )

    async def both() -> None:
        async def interrupted() -> None:
            with pytest.raises(asyncio.CancelledError):
                await go("resumed", stop_after=2)
            await go("resumed", resume=True)

        await asyncio.gather(go("reference"), interrupted())

    asyncio.run(both())
    runs = tmp_path / "runs"
    assert len(_completed(runs / "resumed")) == n
    assert _task_files(runs / "resumed") == _task_files(runs / "reference")


# Ctrl-C --------------------------------------------------------------------------------


@pytest.mark.usefixtures("quiet_logs")
def test_ctrl_c_exits_130_and_resume_completes_the_run(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 6
    workflow = _write(tmp_path / "chain.yaml", _chain(n))
    out = tmp_path / "runs"
    run_dir = out / "ctrl-c"
    proc = _start(
        "run", str(workflow), "--out", str(out), "--run-id", "ctrl-c", "--quiet", env=_offline_env()
    )
    try:
        _wait_until(lambda: len(_completed(run_dir)) >= 1, proc, "1 task completed")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert f"continue with: dagwright resume ctrl-c --out {out}" in stderr
    assert "Traceback" not in stderr + stdout
    with Journal.open(run_dir / JOURNAL_FILE, read_only=True) as journal:
        assert journal.run_info().status == "interrupted"
        before = journal.completed()
    assert 1 <= len(before) < n

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["resume", "ctrl-c", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded"
    assert all(task["status"] == "succeeded" for task in summary["tasks"].values())
    assert len(summary["tasks"]) == n
    with Journal.open(run_dir / JOURNAL_FILE, read_only=True) as journal:
        assert journal.run_info().status == "finished"
        assert len(journal.completed()) == n
    assert len(list((run_dir / "tasks").iterdir())) == n


# Injected faults -------------------------------------------------------------------------

_FAULT_KINDS = (
    "rate_limit_429",
    "overloaded_529",
    "server_500",
    "connection_reset",
    "timeout",
    "midstream_error",
)
_ERROR_KIND = {
    "rate_limit_429": "rate_limited",
    "overloaded_529": "overloaded",
    "server_500": "server",
    "connection_reset": "connection",
    "timeout": "timeout",
    "midstream_error": "overloaded",  # an SSE error event of type overloaded_error
}
"""How each injected fault is classified (`agents.errors.ErrorKind`)."""
_FAULT_SEED = 5542
"""An emulator seed whose first 13 requests meet every kind of fault (checked below)."""
_FAN = 12


def _faulty_config() -> EmulatorConfig:
    # 10% in all, spread over every kind. A hang lasts 3 s; the tasks' 1.5 s call timeout
    # gives up sooner, so a timeout costs little.
    faults: dict[str, Any] = {kind: 0.1 / len(_FAULT_KINDS) for kind in _FAULT_KINDS}
    return EmulatorConfig.model_validate(
        {"seed": _FAULT_SEED, "faults": faults | {"timeout_s": 3.0, "retry_after_s": 1}}
    )


def _first_faults(requests: int, *, stream: bool) -> Counter[str]:
    """The faults the first `requests` requests meet: drawn in request order from the seed
    alone, so any run of that many requests or more meets at least these."""
    config = _faulty_config()
    injector = FaultInjector(config.faults, config.seed)
    return Counter(str(k) for _ in range(requests) if (k := injector.draw(stream=stream)))


@pytest.mark.usefixtures("quiet_logs")
@pytest.mark.parametrize("stream", [False, True], ids=["cli", "streaming"])
def test_run_completes_through_ten_percent_injected_faults(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    tasks = _FAN + 1
    expected = _first_faults(tasks, stream=stream)
    # Mid-stream errors need streaming, which `dagwright run` does not do: that variant
    # runs the same workflow through `launch(stream=True)`, the function the CLI calls.
    kinds = set(_FAULT_KINDS) if stream else set(_FAULT_KINDS) - {"midstream_error"}
    assert set(expected) == kinds, f"seed {_FAULT_SEED} no longer meets every fault: {expected}"
    workflow = _write(tmp_path / "fan.yaml", _fan(_FAN, timeout=1.5))
    key = "dummy-key-for-the-emulator"
    with BackgroundServer(_faulty_config()) as server:
        if stream:
            spec = load_workflow(workflow)
            result = asyncio.run(
                launch(
                    spec,
                    inputs={},
                    backend=real_backend(server.base_url, api_key=key),
                    out_root=tmp_path,
                    run_id="streaming",
                    workflow_path=workflow,
                    stream=True,
                )
            )
            assert result.ok, result.records
            summary = json.loads((tmp_path / "streaming" / "result.json").read_text())
        else:
            monkeypatch.setenv("ANTHROPIC_API_KEY", key)
            args = ["run", str(workflow), "--out", str(tmp_path), "--base-url", server.base_url]
            output = CliRunner().invoke(cli, [*args, "--json"])
            assert output.exit_code == 0, output.output
            summary = json.loads(output.stdout)
        injected = Counter(server.emulator.stats()["faults"])

    assert summary["status"] == "succeeded"
    assert len(summary["tasks"]) == tasks
    assert all(task["status"] == "succeeded" for task in summary["tasks"].values())
    run_dir = tmp_path / summary["run_id"]
    assert len(list((run_dir / "tasks").glob("*.json"))) == tasks
    assert all(injected[kind] >= count for kind, count in expected.items()), (injected, expected)
    errors = Counter(e["kind"] for e in _events(run_dir) if e["event"] == "call.error")
    expected_errors: Counter[str] = Counter()
    for fault, count in expected.items():
        expected_errors[_ERROR_KIND[fault]] += count
    assert all(errors[kind] >= count for kind, count in expected_errors.items()), errors
    # Every failed call was retried: attempts = one per task + one per error.
    attempts = sum(task["attempts"] for task in summary["tasks"].values())
    assert attempts == tasks + errors.total()


# The API key never leaks -------------------------------------------------------------------


def test_api_key_appears_nowhere(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"sk-ant-canary-{secrets.token_hex(12)}"
    workflow = _write(tmp_path / "fan.yaml", _fan(2))
    # One server takes any key; one accepts only another key, so every call fails with 401.
    accepting = BackgroundServer(EmulatorConfig())
    rejecting = BackgroundServer(EmulatorConfig(api_keys=[f"sk-ant-other-{secrets.token_hex(8)}"]))
    logs = io.StringIO()
    with accepting, rejecting:
        # A real process, with every debug log line on its stderr...
        env = _offline_env(ANTHROPIC_API_KEY=canary, DAGWRIGHT_LOG_LEVEL="debug")
        base_url = ["--base-url", accepting.base_url]
        proc = _start("run", str(workflow), "--out", str(tmp_path / "accepted"), *base_url, env=env)
        try:
            # ...and meanwhile the rejected run in this process, its logs kept in `logs`.
            monkeypatch.setenv("ANTHROPIC_API_KEY", canary)
            structlog.configure(
                wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
                logger_factory=structlog.PrintLoggerFactory(logs),
            )
            args = ["run", str(workflow), "--out", str(tmp_path / "rejected")]
            rejected = CliRunner().invoke(cli, [*args, "--base-url", rejecting.base_url])
            stdout, stderr = proc.communicate(timeout=WAIT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
    assert rejected.exit_code == 1, rejected.output
    assert "invalid x-api-key" in rejected.stdout  # the failed tasks' errors are reported

    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    for run in ("accepted", "rejected"):
        names = {p.relative_to(tmp_path / run).parts[-1] for p in files if run in p.parts}
        assert {"events.jsonl", "result.json", "journal.sqlite"} <= names, run
    assert any(p.parent.name == "tasks" for p in files)
    texts = {
        "stdout": stdout,
        "stderr": stderr,
        "rejected stdout": rejected.stdout,
        "rejected stderr": rejected.stderr,
        "rejected logs": logs.getvalue(),
    }
    assert "call.error" in texts["rejected logs"] and "task.finished" in stderr  # logs were on
    for where, text in texts.items():
        assert canary not in text, where
        assert canary[-16:] not in text, where
        assert "Traceback" not in text, f"{where}: {text}"
    for path in files:
        data = path.read_bytes()
        assert canary.encode() not in data, path
        # The key's tail alone would be a leak too (e.g. a truncated or reformatted key).
        assert canary[-16:].encode() not in data, path


# Bad input through the CLI ---------------------------------------------------------------


def _user_error(result: Any) -> str:
    """Exit 2 and one short paragraph on stderr, no traceback; returns stderr."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    stderr: str = result.stderr
    assert stderr.strip(), "no error message"
    assert "\n\n" not in stderr.strip(), stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return stderr


@pytest.fixture
def chain_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "chain.yaml", _chain(2))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--policy", "fastest"], "unknown policy 'fastest'"),
        (["--policy", "critical-path"], "did you mean 'critical_path'"),
        (["--set", "topic"], "expected KEY=VALUE"),
        (["--set", "topic=x"], "unknown input 'topic'"),
    ],
)
def test_bad_options(
    cli: typer.Typer, chain_file: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    result = CliRunner().invoke(cli, ["run", str(chain_file), "--out", str(tmp_path), *args])
    assert expected in _user_error(result)
    assert not list(tmp_path.glob("*/journal.sqlite")), "a run started anyway"


def test_missing_file(cli: typer.Typer, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(cli, ["run", str(missing), "--out", str(tmp_path)])
    stderr = _user_error(result)
    assert str(missing) in stderr and "No such file" in stderr


def test_cyclic_workflow(cli: typer.Typer, tmp_path: Path) -> None:
    spec = _chain(3)
    spec["tasks"][0]["depends_on"] = ["s3"]
    spec["tasks"][0]["prompt"] = "Step 1."
    workflow = _write(tmp_path / "cycle.yaml", spec)
    stderr = _user_error(CliRunner().invoke(cli, ["run", str(workflow), "--out", str(tmp_path)]))
    assert "dependency cycle" in stderr and "tasks[0].depends_on[0]" in stderr


def test_unknown_run_to_resume(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["resume", "nope", "--out", str(tmp_path)])
    assert "no run 'nope'" in _user_error(result)


@pytest.mark.usefixtures("quiet_logs")
def test_predicted_cost_over_the_cap_needs_force(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {
        "name": "costly",
        "model": "claude-opus-4-1",
        "max_cost_usd": 0.01,
        "tasks": [{"id": "essay", "prompt": "Write.", "expected_output_tokens": 2000}],
    }
    workflow = _write(tmp_path / "costly.yaml", spec)
    result = CliRunner().invoke(cli, ["run", str(workflow), "--out", str(tmp_path)])
    stderr = _user_error(result)
    assert "exceeds max_cost_usd $0.01" in stderr and "--force" in stderr
    assert not list(tmp_path.glob("*/journal.sqlite")), "a run started anyway"

    # With --force it runs. (A short structured answer: Opus is the emulator's slowest model.)
    spec["tasks"][0]["output_schema"] = _NOTE_SCHEMA
    _write(workflow, spec)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    args = ["run", str(workflow), "--out", str(tmp_path), "--force", "--json"]
    forced = CliRunner().invoke(cli, args)
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["tasks"]["essay"]["status"] == "succeeded"
