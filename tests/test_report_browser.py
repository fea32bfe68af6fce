"""The report renders in a real browser: headless Chromium runs its script and draws it.

Chromium (Debian's `chromium`, installed by `.ci/run`) loads the page from a file and
dumps the DOM after the script ran; the test reads the drawn SVG from that dump. Skipped,
with the reason, where no `chromium` is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_run_helpers import FAN, in_virtual_time, make_run

from orchestrator.report import REPORT_FILE, build_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install chromium; .ci/run does it)",
)
TIMEOUT_S = 120.0


def chromium_args(user_data: Path) -> list[str]:
    """A headless Chromium that stays off the network and keeps no state of its own."""
    assert CHROMIUM is not None
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data}",
    ]


class _Elements(HTMLParser):
    """Every start tag of a document, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]

    def with_class(self, tag: str, name: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and name in a.get("class", "").split()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report-browser")
    folder, result, _ = in_virtual_time(lambda: make_run(tmp, rate_limit_429=0.3))
    assert result.status == "succeeded"
    return folder


@pytest.fixture(scope="module")
def dom(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> _Elements:
    profile = tmp_path_factory.mktemp("chromium-profile")
    page = (run_dir / REPORT_FILE).resolve().as_uri()
    args = [*chromium_args(profile), "--dump-dom", page]
    done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    parser = _Elements()
    parser.feed(done.stdout)
    return parser


def test_the_gantt_chart_is_drawn_one_bar_per_task(dom: _Elements) -> None:
    (gantt,) = dom.find("div", id="gantt")
    assert gantt["data-drawn"] == "true"
    bars = dom.with_class("rect", "task-bar")
    assert len(bars) == FAN + 1 == int(gantt["data-tasks"])
    assert {b["data-task"] for b in bars} == {*(f"part-{i}" for i in range(FAN)), "join"}
    # Every task ran, and most waited for budget first: both kinds of span are drawn.
    assert len(dom.with_class("rect", "span-run")) >= FAN + 1
    assert len(dom.with_class("rect", "span-wait")) >= FAN // 2


def test_the_critical_path_is_marked(dom: _Elements, run_dir: Path) -> None:
    data = build_report(run_dir)
    marked = {
        b["data-task"] for b in dom.with_class("rect", "task-bar") if "critical" in b["class"]
    }
    assert marked == set(data.critical_path)
    assert len(marked) == 2 and "join" in marked
    # Each failed call (here: the injected 429s) is marked where it happened.
    assert data.call_errors > 0
    assert len(dom.with_class("rect", "call-error")) == data.call_errors


def test_the_budget_chart_has_a_line_per_bucket(dom: _Elements) -> None:
    (budget,) = dom.find("div", id="budget")
    assert budget["data-drawn"] == "true"
    lines = dom.with_class("polyline", "series")
    assert Counter(line["data-bucket"] for line in lines) == Counter(
        {"requests": 1, "input_tokens": 1, "output_tokens": 1}
    )
    # Each line has one point per sample (a few hundred over ~75 virtual seconds).
    assert all(len(line["points"].split()) > 100 for line in lines)
