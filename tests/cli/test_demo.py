"""``basecamp demo``: a failed Airflow install says why and leaves nothing behind; the
demo in a real terminal (a pty) shows a run moving, and `q`, Ctrl-C and a closed
terminal each stop everything it started; a second start reuses the installation."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from basecamp_cli.demo.airflow import AirflowInstallError, install_airflow
from basecamp_cli.demo.project import FIRST_RUN, FLAKY, DemoPaths, write_specs
from daemon.specs import parse_spec
from tests.airflow_server import AIRFLOW3_VERSION, ensure_airflow_venv
from tests.demo_terminal import Demo, started_by
from tests.waiting import wait_until


def test_an_install_that_cannot_reach_the_index_says_why_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no machine-wide mirrors
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    steps: list[str] = []
    with pytest.raises(AirflowInstallError) as info:
        install_airflow(tmp_path, AIRFLOW3_VERSION, progress=steps.append)
    message = str(info.value)
    assert message.startswith(f"Could not install Apache Airflow {AIRFLOW3_VERSION} for the "
                              "demo: the package index could not be reached.")
    assert "nothing was left half installed" in message
    assert not (tmp_path / f"airflow-{AIRFLOW3_VERSION}").exists()
    assert "creating a virtual environment" in steps


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A user cache whose Airflow installation is the tests' (no second install)."""
    venv = ensure_airflow_venv(AIRFLOW3_VERSION)
    (tmp_path / "basecamp").mkdir()
    (tmp_path / "basecamp" / f"airflow-{AIRFLOW3_VERSION}").symlink_to(venv)
    return tmp_path


@pytest.mark.airflow
@pytest.mark.parametrize("how", ["q", "ctrl+c", "terminal closed"])
def test_the_demo_moves_and_leaves_nothing_running(cache, how):
    demo = Demo(cache)
    try:
        wait_until(lambda: demo.read() or demo.runs() > 0, 240, "the demo's first run",
                   show=lambda: bytes(demo.output[-2000:]))
        assert started_by(cache), "the demo's Airflow and daemon run"
        if how == "q":
            os.write(demo.terminal, b"q")
        elif how == "ctrl+c":
            os.write(demo.terminal, b"\x03")
        else:
            os.close(demo.terminal)  # the terminal goes away: SIGHUP
        demo.wait_exit()
        wait_until(lambda: not started_by(cache), 60, "every process the demo started to end",
                   show=lambda: started_by(cache))
    finally:
        for pid in started_by(cache):
            os.kill(pid, signal.SIGKILL)


def test_the_demo_specs_are_valid_and_show_what_basecamp_does(tmp_path):
    where = DemoPaths(tmp_path)
    write_specs(where)
    parsed = {}
    for path in sorted(where.specs.rglob("*.yaml")):
        relative = path.relative_to(where.specs).as_posix()
        parsed[relative] = parse_spec(path.read_bytes(), relative, 1 << 20)  # raises if invalid
        assert parsed[relative].warnings == (), relative
    names = {key.split("/")[0]: set() for key in parsed}
    for key, result in parsed.items():
        names[key.split("/")[0]].add(result.spec.name)
    assert names["code"] & names["manual"] == {"marts.revenue"}  # an override pair
    assert names["manual"] - names["code"] == {"reports.ad_hoc_summary"}  # a manual spec
    assert {FIRST_RUN, FLAKY, "reports.slow_rollup"} <= names["code"]
    assert parsed["code/analytics/daily_clicks.yaml"].spec.parameters  # a parameterised one
    approval = parsed["code/reports/approved_publish.yaml"].spec.approval  # a person approves
    assert approval is not None and approval.subject == "Publish the weekly report of {{ ds }}?"
