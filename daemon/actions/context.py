"""What the action handlers need from the running daemon."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from daemon.actions.queue import touch
from daemon.airflow import AirflowClient
from daemon.core.config import ClusterConfig, Config
from daemon.core.errors import UserError
from daemon.core.naming import dag_id_for
from daemon.core.states import ActionState
from daemon.core.timefmt import utcnow
from daemon.spec_store import SpecStore
from daemon.store.models import Action


class Released(Exception):
    """The daemon is stopping: a long action hands itself back to the queue (its
    checkpoint kept) so that the next daemon resumes it."""


@dataclass
class ExecContext:
    config: Config
    clients: dict[str, AirflowClient]
    spec_store: SpecStore
    sync_specs: Callable[[], object]
    """Runs a spec sync now (serialized with the scheduled one)."""
    sync_runs: Callable[[str | None], object]
    """Runs the run sync of one cluster (None: all) now."""
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], datetime] = utcnow
    poll_seconds: float = 2.0
    """How often long actions (backfills) look at Airflow."""

    def cluster_for(self, team: str | None) -> tuple[ClusterConfig, AirflowClient]:
        for cluster in self.config.clusters:
            if cluster.team == team:
                return cluster, self.clients[cluster.name]
        raise UserError(
            f"No cluster serves team {team}: add a [[clusters]] entry with team = \"{team}\" "
            "to the config and reload the daemon (systemctl reload basecamp-daemon)."
        )

    def dag_of(self, team: str | None, dataset: str) -> tuple[ClusterConfig, AirflowClient, str]:
        cluster, client = self.cluster_for(team)
        return cluster, client, dag_id_for(cluster.dag_name_prefix, dataset)

    def client_of_run(self, cluster: str, run_id: str) -> AirflowClient:
        """The client of the cluster a stored run is on."""
        client = self.clients.get(cluster)
        if client is None:
            raise UserError(f"Run {run_id} is on cluster {cluster}, which is no longer in the "
                            "config.")
        return client

    def wait(self, seconds: float) -> None:
        """Sleep between polls; raises Released when the daemon is stopping."""
        if self.stop.wait(seconds):
            raise Released()


@dataclass
class Outcome:
    message: str
    result: dict[str, object] | None = None
    state: ActionState = ActionState.DONE


def checkpoint(action: Action, **values: object) -> None:
    """Persist decisions taken before an Airflow call (committed at once)."""
    touch(action, checkpoint={**(action.checkpoint or {}), **values})
