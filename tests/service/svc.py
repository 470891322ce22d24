"""Helpers for the service tests: daemons started the way an init system would start them
(a wrapper in front, an environment of their own), real users to connect as, and the
check that nothing of a daemon is left on the host."""

from __future__ import annotations

import configparser
import grp
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from conftest import SANDBOXCTL, Daemon, cgroup_parents, start_daemon, worker_cgroups, write_config
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harden import unreachable_ancestors

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
HARDEN = str(HERE / "harden.py")
UNIT = REPO / "packaging" / "systemd" / "sandboxd.service"

def unit_service_section() -> dict[str, str]:
    """The [Service] section of the shipped unit (systemd's syntax is close enough to INI)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return dict(parser["Service"])


def reload(d: Daemon, config: dict[str, object] | None, count: int) -> None:
    """Rewrites `d`'s config and sends SIGHUP; waits for the `count`-th reload attempt."""
    write_config(d.config_path, d.cgroup_name, config)
    d.process.send_signal(signal.SIGHUP)
    if not wait_for(lambda: len(re.findall(r"event=reload(ed|_failed)", d.log())) >= count, 10):
        raise AssertionError(f"no reload:\n{d.log()}")


def launch(directory: Path, config: dict[str, object] | None = None, *, prefix: tuple[str, ...] = (),
           env: dict[str, str] | None = None, wait: bool = True, cgroup_name: str | None = None,
           stderr_path: Path | None = None) -> Daemon:
    """A daemon the way an init system starts it: `prefix` (a hardening wrapper) in front, an
    environment of its own, and its stderr where the test wants it."""
    return start_daemon(directory, config, prefix=prefix, env=env, wait=wait, cgroup_name=cgroup_name,
                        log_path=stderr_path)


def leftovers(d: Daemon) -> list[str]:
    """What a stopped daemon left on the host: worker cgroups, its sockets, its private dir."""
    left = worker_cgroups(d.cgroup_name)
    left += [p for p in (d.socket, d.socket + ".grpc") if os.path.exists(p)]
    return left


def descendants(pid: int) -> list[int]:
    """Every live process whose parent chain reaches `pid`."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cgroup_pids(name: str) -> list[int]:
    pids: list[int] = []
    for cg in worker_cgroups(name):
        try:
            with open(f"{cg}/cgroup.procs") as f:
                pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return pids


def remove_cgroup_parents(name: str) -> None:
    for parent in cgroup_parents(name):
        if os.path.isdir(parent):
            os.rmdir(parent)


@pytest.fixture
def launcher(tmp_short: Path) -> Iterator:
    """Like `daemon_factory`, for `launch`: stops every daemon, then checks it left nothing."""
    started: list[Daemon] = []

    def make(config: dict[str, object] | None = None, *, directory: Path | None = None, **kwargs: object) -> Daemon:
        d = launch(directory or tmp_short / f"d{len(started)}", config, **kwargs)  # type: ignore[arg-type]
        started.append(d)
        return d

    yield make
    left = []
    for d in started:
        d.stop()
        if leftovers(d):
            left.append(f"{leftovers(d)} (exit {d.process.returncode}), log tail:\n" + "\n".join(
                line[:300] for line in d.log().splitlines()[-15:]))
        if not worker_cgroups(d.cgroup_name):
            remove_cgroup_parents(d.cgroup_name)
    assert not left, "left behind: " + "\n".join(left)


def _account_tool(argv: list[str], done: Callable[[], bool]) -> None:
    """Runs groupadd/useradd/gpasswd until `done()`: a concurrent test run may hold the
    lock on /etc/passwd or /etc/group for a moment, or have made the account first."""
    for _ in range(50):
        if done():
            return
        out = subprocess.run(argv, capture_output=True, text=True)
        if done():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{' '.join(argv)}: {out.stderr}")


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def ensure_group(name: str) -> int:
    _account_tool(["groupadd", "-f", "--system", name], lambda: _has_group(name))
    return grp.getgrnam(name).gr_gid


def ensure_user(name: str, groups: tuple[str, ...] = ()) -> pwd.struct_passwd:
    """A system user (no home, no login shell) for running clients as; kept between runs,
    and created only when missing."""
    _account_tool(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name],
                  lambda: _has_user(name))
    for group in groups:
        ensure_group(group)
        _account_tool(["gpasswd", "-a", name, group], lambda g=group: name in grp.getgrnam(g).gr_mem)
    return pwd.getpwnam(name)


def reach_install() -> tuple[str, ...]:
    """A prefix for a command that drops to another user and runs the client from this
    checkout: a checkout in /root (0700) is out of other users' reach, a packaged install
    (/usr/local) is not, so the command gets a mount namespace of its own where it is
    reachable (harden.py --reachable-install; it execs, so the pid stays the same)."""
    return (sys.executable, HARDEN, "--reachable-install", "--") if unreachable_ancestors() else ()


def as_user(user: pwd.struct_passwd, *argv: str, timeout: float = 60,
            stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `argv` as `user` with exactly its groups from the group database (setpriv: no
    fork-time hooks, so nothing of the test's root credentials survives the exec)."""
    return subprocess.run([*reach_install(), "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                           "--init-groups", "--", *argv], capture_output=True, text=True, timeout=timeout, input=stdin,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"}, cwd="/")


def ctl_as(user: pwd.struct_passwd, socket: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return as_user(user, sys.executable, SANDBOXCTL, "--socket", socket, *args, timeout=timeout)


def health_status(socket_path: str, service: str = "") -> int:
    """The standard gRPC health check, through the daemon's public socket."""
    with grpc.insecure_channel("unix:" + socket_path) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def wait_for(predicate: Callable[[], bool], timeout: float = 20, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
