"""Regenerate `docs/report.png`: the run report of the map-reduce example, in Chromium.

    python docs/make_report_screenshot.py [--keep DIR]

Runs `examples/map_reduce_summary` on the built-in emulator in virtual time (seconds of
real time), with limits tighter than its tier's and 15% injected 429s so the report has
something to show (waits for budget, retries, a bucket running dry), then screenshots
its `report.html` with headless Chromium (`apt-get install chromium`) at 1400x1800.
Needs the dev extras (`looptime`). `--keep DIR` keeps the run folder there.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import looptime
import yaml
from anthropic._base_client import get_platform

from orchestrator.emulator import EmulatorConfig
from orchestrator.launch import emulator_backend, launch
from orchestrator.report import REPORT_FILE
from orchestrator.spec import load_workflow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "map_reduce_summary" / "workflow.yaml"
OUTPUT = ROOT / "docs" / "report.png"
LIMITS = {"rpm": 50, "itpm": 2400, "otpm": 800}
SEED = 5


def _workflow(folder: Path) -> Path:
    """The example with tight explicit limits, written next to a copy of its documents."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["limits"] = {"accounting": "actual", "classes": {"haiku-4": LIMITS}}
    path = folder / "workflow.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


async def _run(workflow: Path, out: Path) -> Path:
    spec = load_workflow(workflow)
    config = EmulatorConfig.model_validate(
        {
            "seed": SEED,
            "accounting": "actual",
            "limits": {"haiku-4": LIMITS},
            "faults": {"rate_limit_429": 0.15, "retry_after_s": 2},
        }
    )
    backend = emulator_backend(spec, config=config)
    # Resolved here, not in the SDK's worker thread, which would tie virtual time to real.
    backend.client.sdk._platform = get_platform()  # type: ignore[attr-defined]
    try:
        await launch(
            spec,
            inputs=spec.resolve_inputs(()),
            backend=backend,
            out_root=out,
            run_id="example",
            workflow_path=workflow,
            workflow_text=workflow.read_text(encoding="utf-8"),
            seed=SEED,
        )
    finally:
        await backend.aclose()
    return out / "example"


def _screenshot(page: Path, target: Path, profile: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not installed: apt-get install chromium")
    args = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--screenshot={target}",
        "--window-size=1400,1800",
        page.resolve().as_uri(),
    ]
    subprocess.run(args, check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the run folder here")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the PNG to write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        workflow = _workflow(folder)
        loop = looptime.new_event_loop(start=0.0, end=7 * 24 * 3600.0, noop_cycles=1)
        try:
            run_dir = loop.run_until_complete(_run(workflow, folder / "runs"))
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.close()
        _screenshot(run_dir / REPORT_FILE, args.output, folder / "profile")
        if args.keep is not None:
            shutil.copytree(run_dir, args.keep, dirs_exist_ok=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
