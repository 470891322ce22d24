"""Lifecycle: SIGTERM drains under load, SIGHUP reloads without dropping runs, and a daemon
killed mid-run leaves nothing behind once its successor has started."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Daemon, worker_cgroups
from grpc_health.v1 import health_pb2
from sandboxctl import Client, DaemonUnavailable, RequestRejected
from svc import (
    cgroup_pids,
    descendants,
    health_status,
    launch,
    launcher,  # noqa: F401 - a fixture
    leftovers,
    reload,
    remove_cgroup_parents,
    wait_for,
)

SLEEPER = "import time\nprint('go', flush=True)\ntime.sleep({})\nprint('done')"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Runs:
    """Runs started in threads; each records its final status, or the error it raised."""

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.started = threading.Semaphore(0)
        self.outcomes: dict[str, list[str]] = {}
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def start(self, name: str, code: str) -> None:
        def go() -> None:
            outcome = "no result"
            try:
                with Client(self.socket) as c:
                    for event in c.stream(code, language="python"):
                        if event.kind == "stdout" and event.data.startswith(b"go"):
                            self.started.release()
                        if event.kind == "finished":
                            assert event.result is not None
                            outcome = event.result.status
            except Exception as exc:  # recorded, and asserted on by the test
                outcome = f"{type(exc).__name__}: {exc}"
            with self.lock:
                self.outcomes.setdefault(name, []).append(outcome)

        thread = threading.Thread(target=go)
        thread.start()
        self.threads.append(thread)

    def wait_started(self, n: int, timeout: float = 30) -> None:
        for _ in range(n):
            assert self.started.acquire(timeout=timeout), "a run did not start"

    def join(self, timeout: float = 60) -> None:
        for t in self.threads:
            t.join(timeout)
            assert not t.is_alive()


def test_sigterm_drains_under_load(launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    d = launcher({"drain_grace_s": 3, "languages": {"python": {"pool_size": 6}}})
    helpers = descendants(d.process.pid)
    assert helpers, "the daemon has a fork server"
    runs = Runs(d.socket)
    for i in range(4):
        runs.start(f"short{i}", SLEEPER.format(1.5))
    for i in range(2):
        runs.start(f"long{i}", SLEEPER.format(120))
    runs.wait_started(6)
    running_pids = cgroup_pids(d.cgroup_name)
    assert running_pids

    sent = time.monotonic()
    d.process.send_signal(signal.SIGTERM)
    assert wait_for(lambda: "event=draining" in d.log(), 5)
    with Client(d.socket) as c, pytest.raises(DaemonUnavailable, match="shutting down"):
        c.execute("print('too late')")
    assert health_status(d.socket) == health_pb2.HealthCheckResponse.NOT_SERVING
    assert d.process.wait(30) == 0, d.log()
    took = time.monotonic() - sent
    runs.join()

    assert 3 <= took < 15, f"drain took {took:.1f}s for a 3s grace period"
    assert runs.outcomes == {**{f"short{i}": ["ok"] for i in range(4)}, **{f"long{i}": ["killed"] for i in range(2)}}
    assert not [p for p in running_pids + helpers if alive(p)], "a process outlived the daemon"
    assert not leftovers(d)
    assert "event=stopped" in d.log()


def test_second_sigterm_cuts_the_drain_short(launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    d = launcher({"drain_grace_s": 60})
    runs = Runs(d.socket)
    runs.start("long", SLEEPER.format(120))
    runs.wait_started(1)
    d.process.send_signal(signal.SIGTERM)
    assert wait_for(lambda: "event=draining" in d.log(), 5)
    time.sleep(0.5)
    assert d.process.poll() is None, "still draining: the grace period is a minute"
    sent = time.monotonic()
    d.process.send_signal(signal.SIGTERM)
    assert d.process.wait(20) == 0
    assert time.monotonic() - sent < 10
    runs.join()
    assert runs.outcomes == {"long": ["killed"]}
    assert "event=drain_cut_short killing=1" in d.log()


def test_reload_changes_pool_sizes_and_limits_without_dropping_runs(launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    d = launcher({"languages": {"python": {"pool_size": 1}}})

    def pool(c: Client, language: str = "python") -> tuple[int, int]:
        p = next(p for p in c.status().pools if p.language == language)
        return p.target, p.ready

    with d.client() as c:
        assert pool(c) == (1, 1)
        runs = Runs(d.socket)
        runs.start("during", SLEEPER.format(3))
        runs.wait_started(1)

        reload(d, {"languages": {"python": {"pool_size": 3}}, "max_limits": {"memory_mb": 128},
                   "limits": {"memory_mb": 64}, "sandbox": {"workdir_size_mb": 99}}, 1)
        assert wait_for(lambda: pool(c) == (3, 3), 20), pool(c)
        assert "event=reload_needs_restart key=sandbox" in d.log()
        with pytest.raises(RequestRejected, match=r"--memory-limit: must be > 0 and <= 128 MB"):
            c.execute("print(1)", memory_limit_mb=200)

        reload(d, {"languages": {"python": {"pool_size": 0}}}, 2)
        assert wait_for(lambda: pool(c) == (0, 0), 20), pool(c)
        r = c.execute("print('cold')")
        assert (r.status, r.stdout, r.warm_start) == ("ok", "cold\n", False)

        reload(d, {"languages": {"python": {"pool_size": -1}}}, 3)
        assert "event=reload_failed" in d.log() and "pool_size: must be between 0 and 256" in d.log()
        assert c.execute("print('still serving')").stdout == "still serving\n"
        assert pool(c) == (0, 0)
        runs.join()
    assert runs.outcomes == {"during": ["ok"]}, "the run going on across the reloads finished normally"


def test_crash_recovery_leaves_nothing_behind(tmp_short: Path) -> None:
    """SIGKILL mid-run, then a new daemon with the same socket and cgroup parent."""
    directory = tmp_short / "d"
    first = launch(directory, {"languages": {"python": {"pool_size": 2}}})
    name = first.cgroup_name
    second = None
    try:
        runs = Runs(first.socket)
        runs.start("victim", SLEEPER.format(120))
        runs.wait_started(1)
        helpers = descendants(first.process.pid)
        run_pids = cgroup_pids(name)
        cgroups = worker_cgroups(name)
        assert run_pids and cgroups and helpers

        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        runs.join()
        assert runs.outcomes["victim"] != ["ok"]
        # What the crash left: the socket, the private gRPC directory.
        assert os.path.exists(first.socket) and os.path.isdir(first.socket + ".grpc")

        second = launch(directory, {"languages": {"python": {"pool_size": 1}}}, cgroup_name=name)
        log = second.log()
        assert "event=cleaned_leftovers kind=cgroups" in log
        assert "event=cleaned_leftovers kind=private_dir" in log
        assert "event=cleaned_leftovers kind=stale_socket" in log
        assert not [p for p in run_pids + helpers if alive(p)], "a process of the crashed daemon survived"
        assert not [cg for cg in cgroups if os.path.exists(cg)], "a cgroup of the crashed daemon survived"
        with second.client() as c:
            assert c.execute("print('after the crash')").stdout == "after the crash\n"
        assert second.stop() == 0
        assert not leftovers(second)
    finally:
        first.stop(signal.SIGKILL)
        if second is not None:
            second.stop(signal.SIGKILL)
        if not worker_cgroups(name):
            remove_cgroup_parents(name)
