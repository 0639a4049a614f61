"""``daemon/`` never imports Textual or the dashboard (STYLE.md, convention 2)."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = ("textual", "basecamp_tui", "basecamp_cli")


def test_daemon_imports_neither_textual_nor_the_dashboard_nor_the_cli():
    root = Path(__file__).resolve().parent.parent / "daemon"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
