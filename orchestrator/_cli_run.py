"""`dagwright run` and `dagwright resume`: execute a workflow with a live display."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live

from orchestrator._console import (
    EXIT_FAILURE,
    config_errors,
    fail,
    stderr_console,
    stdout_console,
)
from orchestrator._live import LiveView, PlainProgress
from orchestrator.budget import Budget, BudgetError
from orchestrator.config_errors import ConfigError
from orchestrator.executors import EXECUTORS, ExecutorChoice
from orchestrator.graph import TaskGraph
from orchestrator.journal import JOURNAL_FILE, JournalError
from orchestrator.launch import (
    Backend,
    emulator_backend,
    launch,
    new_run_id,
    predict,
    real_backend,
    resume_spec,
)
from orchestrator.runner import RunResult
from orchestrator.spec import POLICIES, WorkflowSpec, load_workflow

__all__ = ["register", "resume_command", "run_command"]

_Out = Annotated[
    Path, typer.Option("--out", help="Output root; each run gets a folder in it.", metavar="DIR")
]
_BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="Send calls to this server (e.g. a local `dagwright emulator`) instead of the "
        "API; default: the API when ANTHROPIC_API_KEY is set, else the built-in emulator.",
        metavar="URL",
    ),
]
_Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
_Json = Annotated[bool, typer.Option("--json", help="Print the result summary as JSON.")]
_Seed = Annotated[int, typer.Option("--seed", help="Seed of the built-in emulator.")]


def _backend(spec: WorkflowSpec, base_url: str | None, seed: int, quiet: bool) -> Backend:
    if base_url is not None or os.environ.get("ANTHROPIC_API_KEY"):
        try:
            return real_backend(base_url)
        except ValueError as exc:
            fail(str(exc), "set ANTHROPIC_API_KEY, or drop --base-url to use the emulator")
    backend = emulator_backend(spec, seed=seed)
    if not quiet:
        stderr_console().print(
            "note: ANTHROPIC_API_KEY is not set: running on the built-in emulator (offline; "
            "answers are synthetic).",
            highlight=False,
        )
    return backend


def _execute(
    spec: WorkflowSpec,
    *,
    inputs: dict[str, Any],
    backend: Backend,
    out: Path,
    run_id: str,
    workflow_path: Path | None,
    workflow_text: str,
    policy: str | None,
    seed: int,
    resume: bool,
    quiet: bool,
    as_json: bool,
    reuse: bool = False,
    budget_url: str | None = None,
    executor: ExecutorChoice | None = None,
) -> RunResult:
    graph = TaskGraph.from_spec(spec)
    view = LiveView(list(graph.order))
    console = stderr_console()
    interactive = console.is_terminal and not quiet and not as_json
    listeners: list[Any] = [view]
    if not quiet and not interactive:
        listeners.append(PlainProgress(console))

    def on_budget(budget: Budget) -> None:
        view.budget = budget

    async def main() -> RunResult:
        try:
            coro = launch(
                spec,
                inputs=inputs,
                backend=backend,
                out_root=out,
                run_id=run_id,
                workflow_path=workflow_path,
                workflow_text=workflow_text,
                policy=policy,
                seed=seed,
                resume=resume,
                listeners=listeners,
                on_budget=on_budget,
                reuse=reuse,
                budget_url=budget_url,
                executor=executor,
            )
            if interactive:
                with Live(console=console, get_renderable=view.render, refresh_per_second=4):
                    return await coro
            return await coro
        finally:
            await backend.aclose()

    if not quiet:
        verb = "resuming" if resume else "running"
        on_ray = ", workers on Ray" if executor is not None and executor.name == "ray" else ""
        console.print(
            f"{verb} {spec.name!r} ({len(graph)} tasks) as run {run_id} on {backend.description}"
            f"{on_ray}",
            highlight=False,
        )
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        console.print(
            f"interrupted: finished tasks are kept; continue with: dagwright resume {run_id}"
            f" --out {out}",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except ConfigError:
        raise
    except (JournalError, BudgetError) as exc:
        fail(str(exc), code=EXIT_FAILURE)


def _report(result: RunResult, out: Path, *, quiet: bool, as_json: bool) -> None:
    run_dir = out / result.run_id
    if as_json:
        stdout_console().print_json((run_dir / "result.json").read_text(encoding="utf-8"))
    elif not quiet:
        console = stdout_console()
        usage = result.usage
        console.print(
            f"{result.status}: {len(result.ids('succeeded'))}/{len(result.records)} tasks"
            f" in {result.makespan_s:.1f}s; {usage.itpm_tokens:,} input"
            f" (+{usage.cache_read_input_tokens:,} cached) / {usage.output_tokens:,} output"
            f" tokens; ${result.cost_usd:.4f}",
            highlight=False,
        )
        for task_id in result.ids("failed"):
            console.print(f"  failed: {task_id}: {result.records[task_id].error}", highlight=False)
        if result.reason:
            console.print(f"  stopped: {result.reason}", highlight=False)
        console.print(f"results: {run_dir}", highlight=False)
        if (run_dir / "report.html").is_file():
            console.print(f"report: {run_dir / 'report.html'}", highlight=False)
    if not result.ok:
        raise typer.Exit(EXIT_FAILURE)


_BudgetUrl = Annotated[
    str | None,
    typer.Option(
        "--budget-url",
        help="Share one budget with other processes through this Redis server "
        "(redis://HOST:PORT/DB); overrides the workflow's `budget:` section.",
        metavar="URL",
    ),
]


_Executor = Annotated[
    str,
    typer.Option(
        "--executor",
        help=f"Where worker calls run: {', '.join(EXECUTORS)} (ray needs "
        "`pip install 'dagwright[ray]'`).",
        metavar="NAME",
    ),
]
_RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster to join with --executor ray (`auto`, or HOST:PORT of `ray start "
        "--head`); default: start a local Ray instance.",
        metavar="ADDRESS",
    ),
]


def run_command(
    file: Annotated[
        Path | None, typer.Argument(help="The workflow YAML file.", metavar="FILE")
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="Input value, KEY=VALUE (repeatable).", metavar="KEY=VALUE"),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help=f"Split policy: {', '.join(POLICIES)}.", metavar="NAME"),
    ] = None,
    out: _Out = Path("runs"),
    base_url: _BaseUrl = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Name the run (default: generated).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Start even if the prediction exceeds a cap.")
    ] = False,
    seed: _Seed = 0,
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse",
            help="Reuse results of earlier runs under --out whose task settings, model and "
            "rendered prompt are identical (no call is made for them).",
        ),
    ] = False,
    quiet: _Quiet = False,
    as_json: _Json = False,
    budget_url: _BudgetUrl = None,
    executor: _Executor = "local",
    ray_address: _RayAddress = None,
    goal: Annotated[
        str | None,
        typer.Option("--goal", help="Plan a workflow for this goal (shown first), then run it."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --goal: run the plan without asking.")
    ] = False,
) -> None:
    """Run a workflow: every task under one shared budget, results in OUT/RUN_ID/."""
    if goal is not None or file is None:
        from orchestrator._cli_plan import workflow_from_goal

        file, run_id = workflow_from_goal(
            goal,
            file=file,
            out=out,
            run_id=run_id,
            base_url=base_url,
            seed=seed,
            yes=yes,
            quiet=quiet or as_json,
        )
    if policy is not None and policy not in POLICIES:
        from orchestrator.config_errors import did_you_mean

        fail(
            f"unknown policy {policy!r}",
            did_you_mean(policy, POLICIES) or "choose one of: " + ", ".join(POLICIES),
        )
    with config_errors():
        choice = ExecutorChoice(name=executor, ray_address=ray_address)
        spec = load_workflow(file)
        inputs = spec.resolve_inputs(sets or ())
        graph = TaskGraph.from_spec(spec)
    problems = predict(graph).over_caps(spec)
    if problems and not force:
        fail("; ".join(problems), "raise the cap in the workflow, or pass --force")
    text = file.read_text(encoding="utf-8")
    backend = _backend(spec, base_url, seed, quiet or as_json)
    with config_errors():
        result = _execute(
            spec,
            inputs=inputs,
            backend=backend,
            out=out,
            run_id=run_id or new_run_id(spec.name),
            workflow_path=file.resolve(),
            workflow_text=text,
            policy=policy,
            seed=seed,
            resume=False,
            quiet=quiet,
            as_json=as_json,
            reuse=reuse,
            budget_url=budget_url,
            executor=choice,
        )
    _report(result, out, quiet=quiet, as_json=as_json)


def resume_command(
    run_id: Annotated[str, typer.Argument(help="The run to continue.", metavar="RUN_ID")],
    out: _Out = Path("runs"),
    base_url: _BaseUrl = None,
    quiet: _Quiet = False,
    as_json: _Json = False,
    budget_url: _BudgetUrl = None,
    executor: _Executor = "local",
    ray_address: _RayAddress = None,
) -> None:
    """Continue a run that was interrupted or failed: only unfinished tasks run again."""
    with config_errors():
        choice = ExecutorChoice(name=executor, ray_address=ray_address)
    run_dir = out / run_id
    if not (run_dir / JOURNAL_FILE).is_file():
        fail(
            f"no run {run_id!r} under {out}",
            f"runs found there: {', '.join(sorted(p.name for p in out.iterdir())) or 'none'}"
            if out.is_dir()
            else "pass the --out folder the run was started with",
        )
    try:
        with config_errors():
            spec, inputs, meta = resume_spec(run_dir)
    except JournalError as exc:
        fail(str(exc), exc.hint)
    seed = int(meta.get("seed", 0))
    backend = _backend(spec, base_url, seed, quiet or as_json)
    path = Path(meta["workflow_path"]) if meta.get("workflow_path") else None
    with config_errors():
        result = _execute(
            spec,
            inputs=inputs,
            backend=backend,
            out=out,
            run_id=run_id,
            workflow_path=path,
            workflow_text=str(meta.get("workflow_text", "")),
            policy=str(meta.get("policy") or spec.policy),
            seed=seed,
            resume=True,
            quiet=quiet,
            as_json=as_json,
            budget_url=budget_url,
            executor=choice,
        )
    _report(result, out, quiet=quiet, as_json=as_json)


def register(app: typer.Typer) -> None:
    """Add `run` and `resume` to the `dagwright` CLI."""
    app.command("run")(run_command)
    app.command("resume")(resume_command)
