"""Quiet defaults for structlog when the application has not configured it.

structlog's out-of-the-box logger prints every level to stdout; a library must not
flood its users' terminals with debug events. If nobody configured structlog before
dagwright is imported, warnings and errors go to stderr and the rest is dropped;
applications that configure structlog themselves keep full control. Run events are
always recorded in each run's `events.jsonl` regardless.
"""

from __future__ import annotations

import logging
import sys

import structlog


def quiet_default() -> None:
    """Install a warning-level stderr logger unless structlog is already configured."""
    if structlog.is_configured():
        return
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
