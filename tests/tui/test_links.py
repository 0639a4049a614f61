"""``w``: the item's page in the cluster's Airflow web UI, for Airflow 3 and 2; shown and
copied always, a browser started only in a graphical session."""

from __future__ import annotations

from typing import Any

import pytest

from basecamp_tui import links
from daemon.read.clusters import ClusterRow
from daemon.read.links import airflow_link
from tests.tui.conftest import loaded
from tests.waiting import pilot_until

pytestmark = pytest.mark.anyio


def cluster(api_version: str) -> ClusterRow:
    return ClusterRow("c", "@t", "https://airflow.example/", None, api_version, None, True,
                      None, None, None, None, dag_name_prefix="dp")


def test_links_for_airflow_3_and_2() -> None:
    run = "scheduled__2025-06-02T00:00:00+00:00"
    assert airflow_link(cluster("v2"), "ds.clicks") == "https://airflow.example/dags/dp__ds.clicks"
    assert airflow_link(cluster("v2"), "ds.clicks", run, "load") == (
        "https://airflow.example/dags/dp__ds.clicks/runs/"
        "scheduled__2025-06-02T00%3A00%3A00%2B00%3A00/tasks/load")
    assert airflow_link(cluster("v1"), "ds.clicks", run, "load") == (
        "https://airflow.example/dags/dp__ds.clicks/grid?"
        "dag_run_id=scheduled__2025-06-02T00%3A00%3A00%2B00%3A00&task_id=load")


async def test_w_shows_and_copies_the_link_and_opens_no_browser_over_ssh(make_app, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(links.sys, "platform", "linux")
    opened: list[str] = []
    monkeypatch.setattr(links.webbrowser, "open", lambda url, new=0: opened.append(url))
    app = make_app()
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("w")  # the first workflow: ds.[red]markup[/red] of @data-platform
        await pilot_until(pilot, lambda: copied)
        notes = [n.message for n in app._notifications]
        assert copied[0] == "http://dp.example:8080/dags/ds.%5Bred%5Dmarkup%5B%2Fred%5D"
        assert any(n == f"Copied: {copied[0]}" for n in notes)
        assert opened == []


async def test_w_opens_a_browser_in_a_desktop_session(make_app, monkeypatch: Any):
    monkeypatch.setenv("DISPLAY", ":0")
    opened: list[str] = []
    monkeypatch.setattr(links.webbrowser, "open", lambda url, new=0: opened.append(url) or True)
    app = make_app()
    app.copy_to_clipboard = lambda _text: None  # type: ignore[method-assign]
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("2", "w")
        await pilot_until(pilot, lambda: opened)
        assert "/runs/" in opened[0]
