"""Shared fixtures: a real sandboxd on a temporary socket, driven through the real client.

Every daemon a test starts gets its own cgroup parent (`sandbox.cgroup_name`), so daemons
started by different tests (or by a developer's own daemon) never clean up each other's
workers, and a test can check that nothing of its runs is left behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from sandboxctl import Client

BIN = Path(sys.executable).parent
SANDBOXD = str(BIN / "sandboxd")
SANDBOXCTL = str(BIN / "sandboxctl")
CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")


def cgroup_parents(name: str) -> list[str]:
    """Where a daemon with `sandbox.cgroup_name = name` keeps its worker cgroups."""
    if os.path.exists(f"{CGROUP_ROOT}/cgroup.controllers"):
        return [f"{CGROUP_ROOT}/{name}"]
    return [f"{CGROUP_ROOT}/{c}/{name}" for c in V1_CONTROLLERS if os.path.isdir(f"{CGROUP_ROOT}/{c}")]


def fork_servers_of(daemon_pid: int) -> list[int]:
    """The pids of a running daemon's fork servers (its children running the zygote module)."""
    children = Path(f"/proc/{daemon_pid}/task/{daemon_pid}/children").read_text().split()
    return [int(c) for c in children if b"sandboxd.linux.zygote" in Path(f"/proc/{c}/cmdline").read_bytes()]


def worker_cgroups(name: str) -> list[str]:
    out = []
    for parent in cgroup_parents(name):
        if os.path.isdir(parent):
            out += [f"{parent}/{d}" for d in os.listdir(parent) if os.path.isdir(f"{parent}/{d}")]
    return out


def one_process_per_worker(name: str) -> list[int]:
    """A host pid of each live worker of the daemon with `sandbox.cgroup_name = name` (from
    the pids hierarchy on v1); a worker's processes all share its namespaces."""
    v2 = os.path.exists(f"{CGROUP_ROOT}/cgroup.controllers")
    pids = []
    for path in worker_cgroups(name):
        if v2 or path.startswith(f"{CGROUP_ROOT}/pids/"):
            try:
                with open(f"{path}/cgroup.procs") as f:
                    pids += [int(p) for p in f.read().split()[:1]]
            except FileNotFoundError:
                continue
    return pids


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def to_toml(data: dict[str, object], prefix: str = "") -> str:
    """Enough TOML for test configs: scalars, lists and nested tables."""
    scalars = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [to_toml(v, f"{prefix}{k}.") for k, v in data.items() if isinstance(v, dict)]
    head = f"[{prefix[:-1]}]\n" if prefix and scalars else ""
    return head + "".join(line + "\n" for line in scalars) + "".join(tables)


def merge(base: dict[str, object], extra: dict[str, object]) -> dict[str, object]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v  # type: ignore[arg-type]
    return out


# Every daemon this session started, for the check that the session left nothing behind.
STARTED: list[Daemon] = []


@dataclass
class Daemon:
    """A running sandboxd: its socket, config, log and process."""

    dir: Path
    socket: str
    config_path: Path
    cgroup_name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    clients: list[Client] = field(default_factory=list)

    def __post_init__(self) -> None:
        STARTED.append(self)

    def client(self, **kwargs: object) -> Client:
        c = Client(self.socket, **kwargs)  # type: ignore[arg-type]
        self.clients.append(c)
        return c

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ctl(self, *args: str, stdin: bytes | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        """Runs the real `sandboxctl` CLI against this daemon."""
        return subprocess.run([SANDBOXCTL, "--socket", self.socket, *args], input=stdin,
                              capture_output=True, timeout=timeout, env=env)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sandboxd exited with {self.process.returncode}:\n{self.log()}")
            if "event=ready" in self.log():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sandboxd did not become ready in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        for c in self.clients:
            c.close()
        self.clients.clear()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def remove_cgroup_parents(self) -> None:
        for parent in cgroup_parents(self.cgroup_name):
            if os.path.isdir(parent):
                os.rmdir(parent)

    def stop_and_clean(self) -> list[str]:
        """Stops the daemon and returns the worker cgroups it left behind; when there are
        none, its cgroup parents are removed too."""
        self.stop()
        leftovers = worker_cgroups(self.cgroup_name)
        if not leftovers:
            self.remove_cgroup_parents()
        return leftovers


# Small pools so that tests start fast; every daemon gets its own cgroup parent on top.
TEST_CONFIG: dict[str, object] = {
    "socket_mode": "0600",
    "languages": {
        "python": {"interpreter": "/usr/bin/python3", "extensions": [".py"], "pool_size": 2, "mode": "fork"},
        "javascript": {"interpreter": "/usr/bin/node", "extensions": [".js", ".mjs", ".cjs"], "pool_size": 1,
                       "runner": "node_runner.js", "command": ["{interpreter}", "-e", "{runner}"],
                       "memory_floor_mb": 64},
    },
}
# What an init system or the developer's shell may have set that must not reach a test daemon.
FOREIGN_ENV = ("SANDBOXD_SOCKET", "NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID")


def write_config(path: Path, cgroup_name: str, config: dict[str, object] | None) -> None:
    """The test defaults, the daemon's own cgroup parent, then `config` on top."""
    path.write_text(to_toml(merge(merge(TEST_CONFIG, {"sandbox": {"cgroup_name": cgroup_name}}), config or {})))


def start_daemon(directory: Path, config: dict[str, object] | None = None, *, wait: bool = True,
                 cgroup_name: str | None = None, extra_args: tuple[str, ...] = (), prefix: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, log_path: Path | None = None) -> Daemon:
    """Starts `prefix... sandboxd --foreground` on `directory`/sandboxd.sock with `config` laid
    over the test defaults. Each start in the same directory (a restart) logs to a file of
    its own."""
    name = cgroup_name or f"sandboxd-test-{secrets.token_hex(4)}"
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "sandboxd.toml"
    write_config(config_path, name, config)
    log_path = log_path or next(directory / f"daemon{i}.log" for i in range(1000)
                                if not (directory / f"daemon{i}.log").exists())
    sock = str(directory / "sandboxd.sock")
    base_env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    with open(log_path, "ab") as log:
        process = subprocess.Popen([*prefix, SANDBOXD, "--socket", sock, "--config", str(config_path), "--foreground",
                                    "--log-level", "debug", *extra_args], stdout=log, stderr=subprocess.STDOUT,
                                   env={**base_env, **(env or {})})
    d = Daemon(directory, sock, config_path, name, process, log_path)
    if wait:
        try:
            d.wait_ready()
        except BaseException:
            d.stop(signal.SIGKILL)
            raise
    return d


@pytest.fixture(scope="session", autouse=True)
def nothing_of_the_session_left_on_the_host() -> Iterator[None]:
    """Once every other fixture is torn down: each daemon the session started has exited, and
    its directory and cgroup parents are gone (each test's own fixtures already check its
    worker cgroups; this catches what no fixture owned)."""
    yield
    left: list[str] = []
    for d in STARTED:
        if d.process.poll() is None:
            left.append(f"sandboxd pid {d.process.pid} ({d.socket}) still running")
            d.stop(signal.SIGKILL)
        left += [p for p in cgroup_parents(d.cgroup_name) if os.path.isdir(p)]
        if d.dir.exists():
            left.append(str(d.dir))
    assert not left, "the test session left behind: " + ", ".join(sorted(set(left)))


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of the test's own, to set limits on or signal."""
    p = subprocess.Popen(["sleep", "30"])
    yield p
    p.kill()
    p.wait()


@pytest.fixture
def tmp_short() -> Iterator[Path]:
    """A short temporary directory: unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sbx-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon_factory(tmp_short: Path) -> Iterator:
    """Starts daemons on demand; stops them and checks their cgroups are gone afterwards."""
    started: list[Daemon] = []

    def make(config: dict[str, object] | None = None, **kwargs: object) -> Daemon:
        d = start_daemon(tmp_short / f"d{len(started)}", config, **kwargs)  # type: ignore[arg-type]
        started.append(d)
        return d

    yield make
    leftovers = [cg for d in started for cg in d.stop_and_clean()]
    assert not leftovers, f"worker cgroups left behind: {leftovers}"


@pytest.fixture(scope="session")
def shared_daemon() -> Iterator[Daemon]:
    """One daemon for the many tests that only need runs to work; started once per session."""
    path = Path(tempfile.mkdtemp(prefix="sbx-shared-", dir="/tmp"))
    d = start_daemon(path, {"languages": {"python": {"pool_size": 4}, "javascript": {"pool_size": 2}}})
    yield d
    leftovers = d.stop_and_clean()
    shutil.rmtree(path, ignore_errors=True)
    assert not leftovers, f"worker cgroups left behind: {leftovers}"


@pytest.fixture
def client(shared_daemon: Daemon) -> Iterator[Client]:
    c = Client(shared_daemon.socket)
    yield c
    c.close()


@pytest.fixture
def host_listener() -> Iterator[socket.socket]:
    """A TCP listener on the host's loopback that no run may reach."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()
