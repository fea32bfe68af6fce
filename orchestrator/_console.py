"""What the CLI shows when something goes wrong: one line per problem on stderr, no traceback.

Exit codes: 0 success, 1 failure (the work could not be done), 2 usage (the user's input
is wrong: a bad workflow, option or path). Text is printed as `rich.text.Text`, never as
markup, so brackets in paths and YAML locations (`tasks[2]`) print as they are; lines are
not wrapped, so each stays one greppable line.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from orchestrator.config_errors import ConfigError, ConfigIssue

__all__ = [
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "config_errors",
    "emit",
    "fail",
    "issue_text",
    "print_config_error",
    "print_error",
    "stderr_console",
    "stdout_console",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2


def stderr_console() -> Console:
    """A console on the current `sys.stderr` (looked up now, so test runners capture it)."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    """A console on the current `sys.stdout`."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def issue_text(issue: ConfigIssue) -> Text:
    """`file:line: path: message (hint)`, the location bold and the hint dim when styled."""
    text = Text()
    if issue.file is not None:
        where = f"{issue.file}:{issue.line}: " if issue.line is not None else f"{issue.file}: "
        text.append(where, style="bold")
    text.append(f"{issue.path}: ", style="bold")
    text.append(issue.message)
    if issue.hint:
        text.append(f" ({issue.hint})", style="dim")
    return text


def print_config_error(error: ConfigError, *, console: Console | None = None) -> None:
    """Every issue of `error`, one per line, on stderr."""
    console = console or stderr_console()
    for issue in error.issues:
        console.print(issue_text(issue))


def print_error(message: str, hint: str | None = None, *, console: Console | None = None) -> None:
    """`error: message (hint)` on stderr."""
    text = Text("error: ", style="bold red")
    text.append(message)
    if hint:
        text.append(f" ({hint})", style="dim")
    (console or stderr_console()).print(text)


def fail(message: str, hint: str | None = None, *, code: int = EXIT_USAGE) -> NoReturn:
    """Print `error: message (hint)` and end the command with `code`."""
    print_error(message, hint)
    raise typer.Exit(code)


@contextlib.contextmanager
def config_errors() -> Iterator[None]:
    """Inside: a `ConfigError` is printed issue by issue and the command exits with 2."""
    try:
        yield
    except ConfigError as exc:
        print_config_error(exc)
        raise typer.Exit(EXIT_USAGE) from None


def emit(text: str, output: Path | None) -> None:
    """Write `text` to `output`, or to stdout when it is None or `-`; exit 1 if impossible."""
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", code=EXIT_FAILURE)
