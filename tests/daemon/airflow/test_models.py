"""Parsing and formatting helpers shared by both dialects."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from daemon.airflow.logs import render_log, tail
from daemon.airflow.models import dag_run_from_json, parse_datetime
from daemon.core.timefmt import iso_z

UTC = timezone.utc


@pytest.mark.parametrize("text,expected", [
    ("2025-01-02T03:04:05Z", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2025-01-02T03:04:05.123456+00:00", datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    ("2025-01-02T05:04:05+02:00", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2025-01-02T03:04:05", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("", None), (None, None), ("yesterday", None), (17, None),
])
def test_parse_datetime(text, expected):
    parsed = parse_datetime(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo == UTC


def test_format_datetime_sends_utc_with_z():
    plus_two = timezone(timedelta(hours=2))
    assert iso_z(datetime(2025, 1, 1, 2, 0, tzinfo=plus_two), "auto") == "2025-01-01T00:00:00Z"
    assert iso_z(datetime(2025, 1, 1, 0, 0, 0, 500), "auto") == "2025-01-01T00:00:00.000500Z"


def test_dag_run_without_ids_is_rejected():
    with pytest.raises(ValueError):
        dag_run_from_json({"dag_id": "d", "state": "running"})


def test_tail_keeps_short_text_and_never_splits_a_character():
    assert tail("short", 100) == "short"
    cut = tail("é" * 100, 11)
    assert set(cut) == {"é"} and len(cut.encode()) <= 11


def test_render_log_passes_plain_text_through():
    assert render_log("{not json at all\nline", "text/plain") == "{not json at all\nline"
    assert render_log("plain", "text/plain") == "plain"
