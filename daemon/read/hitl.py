"""Tasks waiting for a person (Airflow ≥ 3.1 human-in-the-loop), as the run sync stored
them: what the Runs tab marks, the run detail and ``workflow status`` show, and what the
respond dialog and ``workflow respond`` answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daemon.store.models import Cluster, HitlRequest

RunKey = tuple[str, str, str]
"""(cluster, dag_id, dag_run_id)"""


@dataclass(frozen=True)
class InputRequest:
    """One task's question: its subject and body, the options to choose from (several
    when ``multiple``), the form's parameters (name → ``{"value", "description",
    "schema"}``), and the answer once given."""

    task_id: str
    map_index: int
    subject: str
    body: str | None
    options: tuple[str, ...]
    multiple: bool
    defaults: tuple[str, ...]
    params: dict[str, Any]
    created_at: datetime | None
    response_received: bool
    chosen_options: tuple[str, ...]
    responded_by: str | None
    responded_at: datetime | None

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    @classmethod
    def of(cls, row: HitlRequest) -> InputRequest:
        return cls(row.task_id, row.map_index, row.subject, row.body, tuple(row.options or ()),
                   bool(row.multiple), tuple(row.defaults or ()), dict(row.params or {}),
                   row.created_at, bool(row.response_received),
                   tuple(row.chosen_options or ()), row.responded_by, row.responded_at)

    def as_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "map_index": self.map_index, "subject": self.subject,
                "body": self.body, "options": list(self.options), "multiple": self.multiple,
                "defaults": list(self.defaults),
                "params": {name: (p or {}).get("value") if isinstance(p, dict) else p
                           for name, p in self.params.items()},
                "created_at": self.created_at}


def waiting_run_keys() -> set[RunKey]:
    """The runs with a task waiting for an answer (a small table: only open questions
    are unanswered)."""
    rows = (HitlRequest.select(HitlRequest.cluster, HitlRequest.dag_id, HitlRequest.dag_run_id)
            .where(HitlRequest.response_received == False).tuples())  # noqa: E712
    return set(rows)


def waiting_requests(cluster: str, dag_id: str, dag_run_id: str) -> list[InputRequest]:
    """The run's tasks waiting for an answer, oldest question first."""
    rows = (HitlRequest.select()
            .where((HitlRequest.cluster == cluster) & (HitlRequest.dag_id == dag_id)
                   & (HitlRequest.dag_run_id == dag_run_id)
                   & (HitlRequest.response_received == False))  # noqa: E712
            .order_by(HitlRequest.created_at, HitlRequest.task_id, HitlRequest.map_index))
    return [InputRequest.of(row) for row in rows]


HITL_SINCE = (3, 1)


def hitl_unsupported(cluster: str) -> str | None:
    """Why the cluster can have no task waiting for a person (its Airflow is older than
    3.1, as its last health check saw it), or None."""
    row = Cluster.get_or_none(Cluster.name == cluster)
    version = row.airflow_version if row is not None else None
    if not version:
        return None
    parts = version.split(".")
    try:
        major_minor = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        return None
    if major_minor >= HITL_SINCE:
        return None
    return (f"Cluster {cluster} runs Airflow {version}: tasks that wait for a person "
            "(human-in-the-loop) need Airflow 3.1 or later.")
