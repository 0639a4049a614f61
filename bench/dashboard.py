"""Dashboard benchmark on a big store: 10,000 workflows, 100,000 runs (1,000 running).

    .venv/bin/python bench/dashboard.py [--workflows 10000] [--runs 100000] [--running 1000]
                                        [--store FILE.db | --postgres]

Starts the dashboard as a user does (``basecamp ui --config FILE``, its own process) in a
pseudo-terminal of 120×40 (``TERM=xterm-256color``), types into it and reads what it
sends the terminal, and prints five figures against their targets: time to first rows
painted (≤ 1.5 s), filter keystroke to repaint (≤ 100 ms), store change to screen (p95
≤ 1 s; written by this process, as the daemon would from its own), idle CPU on the
Runs tab with 1,000 running durations ticking (≤ 3 % of a core), and peak RSS (≤ 300 MB).

Each figure ends when the terminal output holds text that only the new screen has, in
the raw bytes the dashboard wrote (escape sequences and all): first rows, a dataset name
in the Workflows table (timed from the launch, so it counts Python's start and the
imports; the part after the app's first output is printed beside it); a filter
keystroke, the status line's ``filter: …`` for the new value, which the handler of the
filter's change writes with the table's new rows (timed from the key's bytes written to
the terminal, so it counts Textual's input thread and key parsing); a store change (a
run's current task, written at a random moment of the dashboard's 0.25 s poll cycle), the
new task in that run's row on the Runs tab. Idle CPU and peak RSS are the dashboard
process's own, from /proc (utime + stime over 10 s; VmHWM). Linux only.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import random
import re
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_seed import seed  # noqa: E402

from daemon.store.db import open_store  # noqa: E402
from daemon.store.models import Run, utcnow  # noqa: E402
from tests.pgserver import create_database, start_postgres, stop_postgres  # noqa: E402

SIZE = (120, 40)  # columns, rows
DATASET = re.compile(rb"ds\.team\d+\.table_\d{5}")
RUNNING_ROW = re.compile(  # a Runs tab row: "RUNNING", then its dataset before the next line
    rb"RUNNING(?:(?!\x1b\[\d+;\d+H)[\s\S]){0,600}?(" + DATASET.pattern + rb")")
KEYS = {"slash": b"/", "backspace": b"\x7f", "escape": b"\x1b", "ctrl+c": b"\x03"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Dashboard:
    """``basecamp ui`` in a pseudo-terminal of its own; ``output`` is every byte it wrote."""

    def __init__(self, config: Path, home: Path) -> None:
        self.launched = time.perf_counter()
        self.pid, self.terminal = pty.fork()
        if self.pid == 0:  # the child: the terminal's session leader
            try:
                columns, rows = SIZE
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
                os.environ.update(TERM="xterm-256color", XDG_CONFIG_HOME=str(home / "config"),
                                  XDG_STATE_HOME=str(home / "state"),
                                  XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache"))
                os.chdir(ROOT)
                os.execv(sys.executable, [sys.executable, "-m", "basecamp_cli.main", "ui",
                                          "--config", str(config)])
            finally:
                os._exit(127)  # not the bench's own code in the child
        self.output = bytearray()
        self.first_output = 0.0

    def read(self, timeout: float) -> float:
        """Wait up to ``timeout`` s for output and take what is there; the time it came."""
        ready, _, _ = select.select([self.terminal], [], [], timeout)
        if not ready:
            return 0.0
        try:
            chunk = os.read(self.terminal, 1 << 16)
        except OSError:  # the dashboard ended (EIO)
            chunk = b""
        if not chunk:
            raise RuntimeError(f"the dashboard ended; it wrote:\n{bytes(self.output[-3000:])!r}")
        now = time.perf_counter()
        self.first_output = self.first_output or now
        self.output.extend(chunk)
        return now

    def drain(self, seconds: float) -> None:
        """Read (and keep) what it writes for ``seconds``: a full pty would block it."""
        until = time.perf_counter() + seconds
        while (left := until - time.perf_counter()) > 0:
            self.read(left)

    def wait_for(self, pattern: re.Pattern[bytes], since: int, timeout: float = 10) -> float:
        """The time the output written after byte ``since`` first held ``pattern``."""
        deadline = came = time.perf_counter()
        deadline += timeout
        while not pattern.search(self.output, since):
            if (left := deadline - time.perf_counter()) <= 0:
                raise TimeoutError(f"no {pattern.pattern!r} on screen; the end of the output:\n"
                                   f"{bytes(self.output[-3000:])!r}")
            came = self.read(left) or came
        return came

    def press(self, key: str) -> tuple[float, int]:
        """Type ``key`` as a terminal sends it; (the time, the output's length then)."""
        self.drain(0)
        mark = len(self.output)
        sent = time.perf_counter()
        os.write(self.terminal, KEYS.get(key, key.encode()))
        return sent, mark

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/PID/status")

    def quit(self) -> None:
        deadline = time.perf_counter() + 10
        try:
            os.write(self.terminal, KEYS["ctrl+c"])
            while time.perf_counter() < deadline:
                self.drain(0.1)
        except (OSError, RuntimeError):
            pass  # it closed the terminal
        while not os.waitpid(self.pid, os.WNOHANG)[0]:
            if time.perf_counter() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.05)
        os.close(self.terminal)


def filter_shown(value: str) -> re.Pattern[bytes]:
    """The status line once the table shows ``value``'s rows (and not a longer value's)."""
    if value:
        return re.compile(rb"filter: " + re.escape(value.encode()) + rb"(?=[ \x1b])")
    return re.compile(rb"source: [a-z]+(?! \xc2\xb7 filter)[ \x1b]")  # no "· filter: …"


def measure(dashboard: Dashboard, changes: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    painted = dashboard.wait_for(DATASET, 0, timeout=60)
    figures["first_rows_s"] = painted - dashboard.launched
    figures["first_rows_app_s"] = painted - dashboard.first_output
    dashboard.drain(1.0)  # the first load settles

    sent, mark = dashboard.press("slash")
    dashboard.wait_for(re.compile(rb"filter: name, team"), mark)  # the filter's placeholder
    end_to_end = []
    word = "table_01"
    typed = [(char, word[: i + 1]) for i, char in enumerate(word)]
    typed += [("backspace", word[:i]) for i in range(len(word) - 1, -1, -1)]
    for key, value in typed:
        dashboard.drain(0.2)  # a user types between frames
        sent, mark = dashboard.press(key)
        end_to_end.append(dashboard.wait_for(filter_shown(value), mark) - sent)
    figures["filter_median_ms"] = statistics.median(end_to_end) * 1000
    figures["filter_max_ms"] = max(end_to_end) * 1000
    dashboard.press("escape")
    dashboard.drain(0.5)

    _, mark = dashboard.press("2")
    dashboard.wait_for(re.compile(rb"sort: running first"), mark)
    dashboard.drain(0.5)
    on_screen = list(dict.fromkeys(m.decode() for m in RUNNING_ROW.findall(dashboard.output, mark)))
    running = {run.dataset_name: run.dag_run_id for run in Run.select().where(
        Run.dataset_name.in_(on_screen), Run.status == "RUNNING")}
    shown = [running[name] for name in on_screen if name in running]  # one running run each
    assert shown, "no running run on the Runs tab"
    tag = f"b{int(time.time()) % 100_000:05d}"  # new on every bench run: a reused store too
    rnd = random.Random(7)
    delays = []
    for i in range(changes):
        # A change comes at any moment of the dashboard's poll cycle, not right after one.
        dashboard.drain(rnd.uniform(0.1, 0.4))
        task = f"{tag}-{i:02d}"
        mark = len(dashboard.output)
        Run.update(current_task=task, updated_at=utcnow()).where(
            Run.dag_run_id == shown[i % len(shown)]).execute()
        committed = time.perf_counter()
        shows = re.compile(re.escape(task.encode()) + rb"(?!\d)")
        delays.append(dashboard.wait_for(shows, mark, timeout=60) - committed)
    figures["change_p50_s"] = statistics.median(delays)
    figures["change_p95_s"] = percentile(delays, 95)

    idle_seconds = 10.0
    cpu0, wall0 = dashboard.cpu_seconds(), time.perf_counter()
    dashboard.drain(idle_seconds)
    figures["idle_cpu_pct"] = 100 * (dashboard.cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
    figures["peak_rss_mb"] = dashboard.peak_rss_mb()
    return figures


@contextmanager
def store_url(args: argparse.Namespace, tmp: Path) -> Iterator[tuple[str, bool]]:
    """The store's URL and whether it needs seeding."""
    if not args.postgres:
        db_path = (args.store or tmp / "bench.db").resolve()
        yield f"sqlite:///{db_path}", not db_path.exists()
        return
    server_url, server = start_postgres()
    try:
        yield create_database(server_url), True
    finally:
        stop_postgres(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--running", type=int, default=1_000)
    parser.add_argument("--changes", type=int, default=30, help="store changes timed")
    parser.add_argument("--store", type=Path, help="reuse (or create) this SQLite file")
    parser.add_argument("--postgres", action="store_true",
                        help="a throwaway PostgreSQL store instead (started on loopback, seeded)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, store_url(args, Path(tmp)) as (url, fresh):
        db = open_store(url)
        if fresh:
            print(f"seeding {args.workflows:,} workflows, {args.runs:,} runs "
                  f"({args.running:,} running)…", file=sys.stderr)
            seed(args.workflows, args.runs, args.running, datetime.now(timezone.utc))
        config = Path(tmp) / "basecamp.toml"
        config.write_text(f'[database]\nurl = "{url}"\n')
        dashboard = Dashboard(config, Path(tmp))
        try:
            figures = measure(dashboard, args.changes)
        finally:
            dashboard.quit()
            db.close()
    print(f"first rows painted     {figures['first_rows_s']:.2f} s   (target ≤ 1.5 s; from launch, "
          f"{figures['first_rows_app_s']:.2f} s from the app's first output)")
    print(f"filter keystroke       median {figures['filter_median_ms']:.0f} ms, "
          f"max {figures['filter_max_ms']:.0f} ms   (target ≤ 100 ms; keypress → frame)")
    print(f"store change → screen  p50 {figures['change_p50_s']:.2f} s, "
          f"p95 {figures['change_p95_s']:.2f} s   (target p95 ≤ 1 s)")
    print(f"idle CPU (Runs tab)    {figures['idle_cpu_pct']:.1f} % of a core   (target ≤ 3 %)")
    print(f"peak RSS               {figures['peak_rss_mb']:.0f} MB   (target ≤ 300 MB)")


if __name__ == "__main__":
    main()
