"""The README's promises: two set-up commands first, and its library example runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_exactly_two_setup_commands() -> None:
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2
    run, test = block
    assert "pip install -e ." in run and "dagwright run examples/" in run
    assert 'pip install -e ".[dev]"' in test and "python -m pytest" in test
    example = run.split("dagwright run ", 1)[1].split()[0]
    assert (ROOT / example).is_file()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest" in ci
    assert 'pip install --quiet -e ".[dev]"' in ci


def test_readme_names_the_agents_import_clash() -> None:
    assert "`agents` is also the import name of the OpenAI Agents SDK" in README


def test_library_example_runs_offline(tmp_path: Path) -> None:
    code = README.split("## The library\n\n```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("50 answers;")
    assert "Traceback" not in done.stderr


def test_workflow_api_example_runs_offline(tmp_path: Path) -> None:
    code = README.split("### Workflows in Python", 1)[1].split("```python\n", 1)[1]
    script = tmp_path / "haiku.py"
    script.write_text(code.split("```", 1)[0], encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "succeeded:" in done.stdout
    assert "Traceback" not in done.stderr
