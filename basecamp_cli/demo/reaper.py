"""Ends what ``basecamp demo`` started when the demo itself ends without doing it (killed,
or its terminal closed).

``python -m basecamp_cli.demo.reaper DEMO_PID AIRFLOW_HOME ROOT_PID...`` runs in a
session of its own (a closing terminal does not reach it), waits for the demo process to
go, then ends each root's process group and everything below it, and whatever still
works in Airflow's home. When the demo stops its processes itself, nothing is left.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from basecamp_cli.demo.airflow import (
    alive,
    processes_in,
    terminate_pids,
    terminate_tree,
)

POLL_SECONDS = 0.5


def main(argv: list[str]) -> int:
    demo, home, roots = int(argv[0]), Path(argv[1]), [int(arg) for arg in argv[2:]]
    while alive(demo):
        time.sleep(POLL_SECONDS)
    for root in roots:
        terminate_tree(root, timeout=10)
    terminate_pids(processes_in(home), timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
