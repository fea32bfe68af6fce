"""The `dagwright` command line."""

from __future__ import annotations

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
    from orchestrator._cli_workflow import register as register_workflow
    from orchestrator.emulator._cli import register as register_emulator

    # By name, so calling this again (tests do) or after a test registered one group is safe.
    names = {command.name for command in app.registered_commands}
    if "validate" not in names:
        register_workflow(app)
    if "emulator" not in names:
        register_emulator(app)


def main() -> None:
    """Console-script entry point."""
    _register_subcommands()
    app()


if __name__ == "__main__":
    main()
