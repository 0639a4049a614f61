"""The Airflow REST client: one interface over Airflow 3 (``/api/v2``) and 2 (``/api/v1``).

Only the daemon talks to Airflow; the CLI and the dashboard go through actions.
"""

from daemon.airflow.client import AirflowClient
from daemon.airflow.errors import (
    AirflowAuthError,
    AirflowBadRequest,
    AirflowCircuitOpen,
    AirflowConflict,
    AirflowConnectionError,
    AirflowError,
    AirflowNotFound,
    AirflowPermissionError,
    AirflowProtocolError,
    AirflowRateLimited,
    AirflowServerError,
    AirflowTimeout,
    AirflowUnsupported,
)
from daemon.airflow.models import (
    DagRunInfo,
    HitlRequest,
    ImportErrorInfo,
    TaskInstanceInfo,
    VersionInfo,
)

__all__ = [
    "AirflowAuthError",
    "AirflowBadRequest",
    "AirflowCircuitOpen",
    "AirflowClient",
    "AirflowConflict",
    "AirflowConnectionError",
    "AirflowError",
    "AirflowNotFound",
    "AirflowPermissionError",
    "AirflowProtocolError",
    "AirflowRateLimited",
    "AirflowServerError",
    "AirflowTimeout",
    "AirflowUnsupported",
    "DagRunInfo",
    "HitlRequest",
    "ImportErrorInfo",
    "TaskInstanceInfo",
    "VersionInfo",
]
