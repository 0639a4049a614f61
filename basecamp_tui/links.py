"""``w``: open the selected item in the cluster's Airflow web UI.

The link is always shown (and copied to the clipboard through the terminal, OSC 52), so
it can be opened on another machine over SSH; a browser is started only where a
graphical session is (``webbrowser`` would otherwise pick a text browser that takes over
this terminal).
"""

from __future__ import annotations

import os
import sys
import webbrowser

from textual.app import App

from daemon.read.clusters import ClusterRow, list_clusters
from daemon.read.links import airflow_link


def has_desktop() -> bool:
    return sys.platform == "darwin" or bool(os.environ.get("DISPLAY")
                                              or os.environ.get("WAYLAND_DISPLAY"))


def open_link(app: App[object], url: str) -> None:
    app.copy_to_clipboard(url)
    opened = False
    if has_desktop():
        try:
            opened = webbrowser.open(url, new=2)
        except webbrowser.Error:
            opened = False
    verb = "Opened" if opened else "Copied"
    app.notify(f"{verb}: {url}", title="Airflow", markup=False, timeout=15)


def cluster_named(name: str) -> ClusterRow | None:
    return next((c for c in list_clusters() if c.name == name), None)


def cluster_of_team(team: str | None) -> ClusterRow | None:
    return next((c for c in list_clusters() if c.team == team), None)


def open_in_airflow(app: App[object], cluster: ClusterRow | None, dataset: str,
                    dag_run_id: str | None = None, task_id: str | None = None) -> None:
    if cluster is None:
        app.notify(f"No cluster runs {dataset}: nothing to open.", severity="warning",
                   markup=False)
        return
    open_link(app, airflow_link(cluster, dataset, dag_run_id, task_id))
