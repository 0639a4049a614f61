"""Printing results: rich tables for people, JSON (ISO-8601 UTC with ``Z``) for scripts.

Every cell is a ``rich.text.Text``: names, errors and messages come from specs and
Airflow and must never be read as Rich markup.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, Callable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from daemon.core.text import clean
from daemon.core.timefmt import iso_z, when


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_z(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")


def short_time(value: datetime | None) -> str:
    return "-" if value is None else when(value, precision="minutes")


Column = tuple[str, Callable[[dict[str, Any]], str | None]]


Empty = str | Callable[[], str]
"""What an empty table says (a callable: worked out only when the table is empty)."""


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], empty: Empty) -> None:
    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)
    if not rows:
        console.print(Text(empty() if callable(empty) else empty, style="dim"))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(Text(clean(cell(row) or "-")) for _, cell in columns))
    console.print(table)


def render(fmt: str, rows: Sequence[dict[str, Any]], columns: Sequence[Column],
           empty: Empty) -> None:
    if fmt == "json":
        print_json(list(rows))
    else:
        print_table(rows, columns, empty)
