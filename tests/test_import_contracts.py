"""The layers hold (pyproject.toml ``[tool.importlinter]``): ``daemon/`` never imports
Textual, the dashboard or the CLI; the dashboard and the CLI import only the read API
(``daemon.read``), the action queue API (``daemon.actions``), core, specs and the store's
connection; nothing in ``daemon/`` imports the runtime; core sits below the store and
the store below the read API, which imports no engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                "sys.exit(lint_imports_command([\"--no-cache\"]))"]


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(LINT_IMPORTS, cwd=root, capture_output=True, text=True, timeout=120,
                          check=False)


def test_the_import_contracts_are_kept() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def test_a_dashboard_module_reading_the_models_breaks_a_contract(tmp_path: Path) -> None:
    """The contracts can fail: a copy of the tree with one forbidden import."""
    for name in ("pyproject.toml", "daemon", "basecamp_tui", "basecamp_cli"):
        source = ROOT / name
        target = tmp_path / name
        if source.is_dir():
            subprocess.run(["cp", "-r", str(source), str(target)], check=True)
        else:
            target.write_text(source.read_text())
    screen = tmp_path / "basecamp_tui" / "screens" / "run_detail.py"
    screen.write_text(screen.read_text() + "\nfrom daemon.store.models import Run  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode == 1
    assert "basecamp_tui.screens.run_detail -> daemon.store.models" in result.stdout
