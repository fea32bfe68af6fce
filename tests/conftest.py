"""Suite-wide test settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    # dagwright installs a quiet warning-level logger when imported; tests assert on
    # debug events with `capture_logs`, which needs structlog's unfiltered defaults.
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
