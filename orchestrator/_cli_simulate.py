"""`dagwright simulate`: predict a workflow's makespan, tokens and cost in virtual time.

Comma lists (`--otpm 8000,80000`, `--tier tier1,tier4`, `--mode legacy,actual`) become
one scenario per combination, shown side by side. Every user mistake (a bad number, an
unknown tier, a bad limits file) is one line on stderr with exit code 2.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar, get_args

import typer
from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator._console import config_errors, fail, stderr_console, stdout_console
from orchestrator._simulate_table import duration, print_simulations
from orchestrator._yaml import load_yaml_file
from orchestrator.config_errors import ConfigError, did_you_mean, issues_from_validation_error
from orchestrator.limits import TIERS, AccountingMode
from orchestrator.simulate import (
    Assumptions,
    OutputSizes,
    Simulation,
    expand_scenarios,
    simulate,
)
from orchestrator.spec import POLICIES, LimitsSpec, WorkflowSpec, load_workflow

__all__ = ["register", "simulate_command"]

T = TypeVar("T")


def _split(text: str | None, flag: str, parse: Callable[[str], T], example: str) -> list[T]:
    if text is None:
        return []
    values = []
    for part in text.split(","):
        item = part.strip()
        try:
            values.append(parse(item))
        except ValueError as exc:
            fail(f"{flag}: {item!r} is not valid: {exc}", f"e.g. {flag} {example}")
    if not values:
        fail(f"{flag}: no value given", f"e.g. {flag} {example}")
    return values


def _per_minute(item: str) -> int:
    """`8000`, `8_000`, `8k` or `1.5m` as a whole number >= 1."""
    text = item.lower().replace("_", "")
    factor = 1
    if text.endswith(("k", "m")):
        factor = 1_000 if text.endswith("k") else 1_000_000
        text = text[:-1]
    try:
        value = float(text) * factor
    except ValueError:
        raise ValueError("expected a whole number per minute, like 8000 or 8k") from None
    if value < 1 or value != int(value):
        raise ValueError("expected a whole number >= 1")
    return int(value)


def _tier(item: str) -> str:
    if item not in TIERS:
        hint = did_you_mean(item, TIERS)
        raise ValueError(f"unknown tier ({hint or 'known: ' + ', '.join(TIERS)})")
    return item


def _mode(item: str) -> AccountingMode:
    modes: tuple[AccountingMode, ...] = get_args(AccountingMode)
    for mode in modes:
        if item == mode:
            return mode
    raise ValueError(f"unknown accounting mode; choose {' or '.join(modes)}")


class _LimitsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limits: LimitsSpec


def _limits_file(path: Path) -> LimitsSpec:
    """A `limits:` block (as in a workflow), alone or under a `limits` key."""
    with config_errors():
        document = load_yaml_file(path)
        wrapped = isinstance(document.data, dict) and "limits" in document.data
        model: type[BaseModel] = _LimitsFile if wrapped else LimitsSpec
        try:
            parsed = model.model_validate(document.data)
        except ValidationError as exc:
            raise ConfigError(issues_from_validation_error(exc, document.source, model)) from None
    if isinstance(parsed, _LimitsFile):
        return parsed.limits
    assert isinstance(parsed, LimitsSpec)
    return parsed


def _planned(goal: str, seed: int, quiet: bool) -> WorkflowSpec:
    from agents.manager import PlanError
    from orchestrator._simulate_goal import plan_goal

    try:
        planned = plan_goal(goal, seed=seed)
    except PlanError as exc:
        fail(f"no plan for the goal: {exc}", "rephrase the goal, or write the workflow as YAML")
    except ValueError as exc:
        fail(str(exc), 'e.g. --goal "Compare the rate limits of three LLM APIs"')
    if not quiet:
        stderr_console().print(
            f"planned {len(planned.spec.tasks)} task(s) for the goal on the built-in emulator "
            f"({planned.calls} call(s); an emulated planner's plan is a stand-in for a real one)"
        )
    return planned.spec


def simulate_command(
    file: Annotated[
        Path | None,
        typer.Argument(help="The workflow YAML file (or give --goal).", metavar="FILE"),
    ] = None,
    goal: Annotated[
        str | None,
        typer.Option(
            "--goal",
            help="Plan this goal with the manager (on the emulator) and simulate the plan.",
            metavar="TEXT",
        ),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="Input value, KEY=VALUE (repeatable).", metavar="KEY=VALUE"),
    ] = None,
    tier: Annotated[
        str | None,
        typer.Option(
            help="Tier preset(s) for every model class, e.g. tier1,tier4.", metavar="NAME[,NAME...]"
        ),
    ] = None,
    limits: Annotated[
        Path | None,
        typer.Option(
            "--limits",
            help="A YAML file with a `limits:` block (as in a workflow) "
            "instead of the workflow's own.",
            metavar="FILE",
        ),
    ] = None,
    rpm: Annotated[
        str | None, typer.Option(help="Requests per minute, for every class.", metavar="N[,N...]")
    ] = None,
    itpm: Annotated[
        str | None,
        typer.Option(help="Input tokens per minute, for every class.", metavar="N[,N...]"),
    ] = None,
    otpm: Annotated[
        str | None,
        typer.Option(
            help="Output tokens per minute, for every class (e.g. 8000,80000).", metavar="N[,N...]"
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="OTPM accounting: legacy, actual, or legacy,actual for both.",
            metavar="MODE[,MODE]",
        ),
    ] = None,
    output_tokens: Annotated[
        int | None,
        typer.Option("--output-tokens", help="Every task answers N tokens.", min=1, metavar="N"),
    ] = None,
    output_fraction: Annotated[
        float | None,
        typer.Option(
            "--output-fraction",
            help="Every task answers F x its max_tokens "
            "(default: declared expected_output_tokens, else 0.4).",
            metavar="F",
        ),
    ] = None,
    ttft: Annotated[
        float | None, typer.Option(help="Seconds to the first token.", metavar="S")
    ] = None,
    tps: Annotated[
        float | None, typer.Option(help="Output tokens per second.", metavar="N")
    ] = None,
    jitter: Annotated[
        float | None, typer.Option(help="Latency jitter in [0, 1).", metavar="J")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help=f"Split policy: {', '.join(POLICIES)}.", metavar="NAME"),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the emulator (jitter, content).")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where the simulated runs' folders go (default: a new temporary folder).",
            metavar="DIR",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """Predict makespan, tokens, cost and the binding limit, in seconds of wall time."""
    if policy is not None and policy not in POLICIES:
        fail(
            f"unknown policy {policy!r}",
            did_you_mean(policy, POLICIES) or "choose one of: " + ", ".join(POLICIES),
        )
    try:
        sizes = OutputSizes(tokens=output_tokens, fraction=output_fraction)
        assumptions = Assumptions(
            sizes=sizes, ttft=ttft, tokens_per_second=tps, jitter=jitter, seed=seed
        )
    except ValueError as exc:
        fail(str(exc), "see dagwright simulate --help")
    written = _limits_file(limits) if limits is not None else None
    try:
        scenarios = expand_scenarios(
            tiers=_split(tier, "--tier", _tier, "tier1,tier4"),
            rpms=_split(rpm, "--rpm", _per_minute, "50,1000"),
            itpms=_split(itpm, "--itpm", _per_minute, "30000,450000"),
            otpms=_split(otpm, "--otpm", _per_minute, "8000,80000"),
            modes=_split(mode, "--mode", _mode, "legacy,actual"),
            limits=written,
        )
    except ValueError as exc:
        fail(str(exc))
    if (file is None) == (goal is None):
        fail(
            "give a workflow FILE or --goal, not both" if file else "no workflow given",
            'dagwright simulate workflow.yaml, or dagwright simulate --goal "..."',
        )
    if file is not None:
        with config_errors():
            spec = load_workflow(file)
        text = file.read_text(encoding="utf-8")
    else:
        spec = _planned(goal or "", seed, as_json)
        text = ""
    with config_errors():
        inputs = spec.resolve_inputs(sets or ())
    root = out if out is not None else Path(tempfile.mkdtemp(prefix="dagwright-sim-"))
    progress = stderr_console()
    sims: list[Simulation] = []
    for index, scenario in enumerate(scenarios, start=1):
        if not as_json:
            progress.print(f"simulating {scenario.label} ({index}/{len(scenarios)})...")
        with config_errors():
            sim = simulate(
                spec,
                inputs=inputs,
                out_root=root,
                scenario=scenario,
                assumptions=assumptions,
                workflow_path=file.resolve() if file is not None else None,
                workflow_text=text,
                policy=policy,
            )
        sims.append(sim)
        if not as_json:
            progress.print(
                f"  {duration(sim.makespan_s)} of traffic in {sim.wall_s:.1f}s", style="dim"
            )
    if as_json:
        stdout_console().print_json(json.dumps([s.to_json() for s in sims]))
    else:
        console = stdout_console()
        if not console.is_terminal:
            # Piped or captured: room for every column rather than rich's default 80.
            console.width = max(console.width, 40 + 36 * len(sims))
        print_simulations(sims, console)


def register(app: typer.Typer) -> None:
    """Add `simulate` to the `dagwright` CLI."""
    app.command("simulate")(simulate_command)
