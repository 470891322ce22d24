"""What the host sees of a daemon's workers: their cgroups and their processes.

Integration tests use this to check, from outside, what a run leaves behind. Every daemon
the tests start has a cgroup parent of its own, and the ones that count processes also get
a worker uid range of their own, so another daemon on the same machine (a developer's, a
concurrent test session's) is never mistaken for a leftover.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")
UID_COUNT = 1024


def cgroup_v2() -> bool:
    return os.path.exists(f"{CGROUP_ROOT}/cgroup.controllers")


def pids_parent(cgroup_name: str) -> str:
    """The directory that holds the daemon's worker cgroups in the pids hierarchy."""
    return f"{CGROUP_ROOT}/{cgroup_name}" if cgroup_v2() else f"{CGROUP_ROOT}/pids/{cgroup_name}"


def worker_dirs(cgroup_name: str, worker: str) -> list[str]:
    """Every directory (one per v1 controller) that still exists for one worker."""
    if cgroup_v2():
        candidates = [f"{CGROUP_ROOT}/{cgroup_name}/{worker}"]
    else:
        candidates = [f"{CGROUP_ROOT}/{c}/{cgroup_name}/{worker}" for c in V1_CONTROLLERS]
    return [d for d in candidates if os.path.isdir(d)]


def workers(cgroup_name: str) -> list[str]:
    """Names of the daemon's worker cgroups, in any controller."""
    parents = [f"{CGROUP_ROOT}/{cgroup_name}"] if cgroup_v2() else [
        f"{CGROUP_ROOT}/{c}/{cgroup_name}" for c in V1_CONTROLLERS]
    names: set[str] = set()
    for parent in parents:
        if os.path.isdir(parent):
            names |= {d for d in os.listdir(parent) if os.path.isdir(f"{parent}/{d}")}
    return sorted(names)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None


def tasks(cgroup_name: str, worker: str) -> int:
    """Processes and threads in one worker's pids cgroup right now (0 once it is gone)."""
    text = _read(f"{pids_parent(cgroup_name)}/{worker}/pids.current")
    return int(text) if text else 0


def procs(cgroup_name: str, worker: str) -> list[int]:
    text = _read(f"{pids_parent(cgroup_name)}/{worker}/cgroup.procs")
    return [int(p) for p in text.split()] if text else []


def parent_pid(pid: int) -> int | None:
    text = _read(f"/proc/{pid}/status")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return None


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot): tells a reused pid apart."""
    text = _read(f"/proc/{pid}/stat")
    return int(text.rsplit(")", 1)[1].split()[19]) if text else None


def real_uid(pid: int) -> int | None:
    text = _read(f"/proc/{pid}/status")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


def processes_in_uid_range(first: int, count: int) -> list[int]:
    """Host pids whose real uid lies in [first, first + count): a daemon's workers."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            uid = real_uid(int(name))
            if uid is not None and first <= uid < first + count:
                out.append(int(name))
    return out


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, interval: float = 0.02) -> bool:
    """Polls `predicate` until it is true; False if it never was within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


@dataclass(frozen=True)
class RunWorker:
    """The worker cgroup a run is using, found from the host while the run is going on."""

    cgroup_name: str
    name: str
    pids: tuple[int, ...]
    started: tuple[int | None, ...]

    def init_pid(self) -> int:
        """The worker's pid 1 as the host numbers it: the one process whose parent is outside."""
        inside = set(self.pids)
        roots = [p for p in self.pids if parent_pid(p) not in inside]
        assert len(roots) == 1, f"expected one pid 1 among {self.pids}, found {roots}"
        return roots[0]

    def gone(self) -> bool:
        alive = [p for p, t in zip(self.pids, self.started, strict=True) if t is not None and start_time(p) == t]
        return not worker_dirs(self.cgroup_name, self.name) and not alive


def find_busy_worker(cgroup_name: str, min_tasks: int, timeout: float = 15.0) -> RunWorker:
    """The worker that holds at least `min_tasks` tasks: a run that started that many
    threads or processes, told apart from idle workers (a few tasks each) by that count."""
    found: list[RunWorker] = []

    def look() -> bool:
        for name in workers(cgroup_name):
            if tasks(cgroup_name, name) >= min_tasks:
                pids = procs(cgroup_name, name)
                found.append(RunWorker(cgroup_name, name, tuple(pids), tuple(start_time(p) for p in pids)))
                return True
        return False

    assert wait_until(look, timeout), f"no worker of {cgroup_name} reached {min_tasks} tasks"
    return found[0]


def private_uid_base() -> int:
    """A worker uid range no other daemon on this machine uses (their default is 1.8e9)."""
    return 2_000_000_000 + secrets.randbelow(1_000_000) * UID_COUNT
