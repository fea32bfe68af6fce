"""The `dagwright` command line."""

from __future__ import annotations

import logging
import os
import sys

import structlog
import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="dagwright",
    help="Run multi-agent DAGs on the Anthropic Messages API under one shared throughput budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """dagwright: plan, budget and run DAGs of worker agents."""


def _register_subcommands() -> None:
    from orchestrator._cli_report import register as register_report
    from orchestrator._cli_run import register as register_run
    from orchestrator._cli_simulate import register as register_simulate
    from orchestrator._cli_workflow import register as register_workflow
    from orchestrator.emulator._cli import register as register_emulator

    # By name, so calling this again (tests do) or after a test registered one group is safe.
    names = {command.name for command in app.registered_commands}
    if "validate" not in names:
        register_workflow(app)
    if "emulator" not in names:
        register_emulator(app)
    if "run" not in names:
        register_run(app)
    if "simulate" not in names:
        register_simulate(app)
    if "report" not in names:
        register_report(app)
    if "plan" not in names:
        from orchestrator._cli_plan import register as register_plan

        register_plan(app)


def configure_logging(level: str | None = None) -> None:
    """structlog to stderr at `level` (default: DAGWRIGHT_LOG_LEVEL or warning).

    Run events are always written to the run's `events.jsonl`; this only decides what the
    terminal shows, so progress displays stay readable.
    """
    name = (level or os.environ.get("DAGWRIGHT_LOG_LEVEL") or "warning").upper()
    numeric = logging.getLevelName(name)
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def main() -> None:
    """Console-script entry point."""
    configure_logging()
    _register_subcommands()
    app()


if __name__ == "__main__":
    main()
