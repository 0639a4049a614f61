"""The run sync: DAG runs and task instances of managed DAGs, per cluster, incrementally."""

from daemon.run_sync.engine import RunSync, RunSyncReport

__all__ = ["RunSync", "RunSyncReport"]
