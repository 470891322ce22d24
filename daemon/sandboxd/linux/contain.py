"""The recipe: how one worker is built, top to bottom, in the order the layers are applied.

    zygote ─clone3 into new user/pid/mount/ipc/uts namespaces and an empty network
                   namespace (new, or reused: linux/netns.py)─▶ pid 1
    zygote (host root): pid 1 into its cgroups → map uid/gid 1000 to the worker's host uid
                   → report pid 1's pid → release it
    pid 1: cgroup namespace → uid/gid 1000 → private root (pivot_root) → hostname →
                   rlimits → umask → drop privileges → Landlock → seccomp → exec runner

The runner then pre-warms its interpreter and blocks on its control pipe until the daemon
hands it a run. Every step either succeeds or reports `error <reason>` on the status pipe
and exits; a worker is never left half-built.
"""

from __future__ import annotations

import _signal
import fcntl
import json
import os
import resource
import signal
import sys
from typing import NamedTuple

import prctl

from ..runners import init as init_runner
from . import landlock, libc, netns, privileges, rootfs, seccomp_load

CTL_FD = 3      # daemon -> runner: the run request
STATUS_FD = 4   # zygote, pid 1 -> daemon: "pid", "ready", the exit status
EXIT_FD = 5     # runner -> daemon: its own exit code, ahead of its teardown (runners/init.py)
NOTIFY_FD = 6   # pid 1 only: the seccomp listener (runners/init.py; the runner never has it)
RELEASE_FD = 6  # zygote -> pid 1, before NOTIFY_FD exists: its cgroups and id maps are set

# Created by clone3. The cgroup namespace is not among them: it is rooted where its creator
# stands, so pid 1 unshares it itself once the zygote has moved it into its cgroups. Nor is
# the network namespace: the zygote enters an empty one before the clone (linux/netns.py).
NAMESPACES = (libc.CLONE_NEWUSER | libc.CLONE_NEWNS | libc.CLONE_NEWPID | libc.CLONE_NEWIPC
              | libc.CLONE_NEWUTS)


# A NamedTuple, not a dataclass: dataclasses imports inspect (ast, dis, tokenize…), which
# every worker forked from the zygote would carry.
class Blueprint(NamedTuple):
    """Everything the zygote needs to build one worker; sent by the daemon as JSON."""

    worker_id: str
    argv: list[str]
    env: dict[str, str]
    cgroup_procs: list[str]
    host_uid: int
    host_gid: int
    readonly_paths: list[str]
    exec_paths: list[str]
    workdir_size_mb: int
    tmp_size_mb: int
    readonly_overlay: bool  # see rootfs.RootSpec.overlay
    rlimits: dict[str, list[int]]
    landlock_abi: int
    seccomp: str  # the allowlist profile (seccomp_policy.PYTHON / NODE), "" for none
    # "fork": pid 1 stays this (zygote-forked, already warm) Python and runs the init
    # in-process; "exec": pid 1 execs `argv`.
    mode: str
    python_path: list[str]

    @classmethod
    def from_json(cls, data: bytes) -> Blueprint:
        return cls(**json.loads(data))


def _write(path: str, text: str) -> None:
    """The zygote's writes into cgroup and /proc files: three system calls, not open()'s six."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _admit(pid: int, bp: Blueprint) -> None:
    """The zygote's part, as host root, while pid 1 waits on RELEASE_FD.

    The namespaces belong to root, not to the worker's host uid: no process of that uid on the
    host holds any capability over them.
    """
    for procs in bp.cgroup_procs:
        _write(procs, str(pid))
    _write(f"/proc/{pid}/setgroups", "deny")
    _write(f"/proc/{pid}/uid_map", f"{rootfs.INNER_UID} {bp.host_uid} 1\n")
    _write(f"/proc/{pid}/gid_map", f"{rootfs.INNER_GID} {bp.host_gid} 1\n")


def _enter_namespaces() -> None:
    """pid 1, once released: still host uid 0 (unmapped here) until it becomes 1000."""
    libc.unshare(libc.CLONE_NEWCGROUP)
    os.setresgid(rootfs.INNER_GID, rootfs.INNER_GID, rootfs.INNER_GID)
    os.setresuid(rootfs.INNER_UID, rootfs.INNER_UID, rootfs.INNER_UID)
    # Changing uid made us non-dumpable, which hands /proc/self/* to root: take it back.
    prctl.set_dumpable(True)


def _landlock_grants(bp: Blueprint) -> list[landlock.Grant]:
    grants = [landlock.Grant(p, landlock.READ_ONLY) for p in bp.readonly_paths]
    grants += [landlock.Grant(p, landlock.EXECUTE | landlock.READ_FILE) for p in bp.exec_paths]
    grants += [
        landlock.Grant("/", landlock.READ_DIR),
        landlock.Grant("/etc", landlock.READ_ONLY),
        landlock.Grant("/proc", landlock.READ_ONLY),
        landlock.Grant("/dev", landlock.READ_ONLY | landlock.WRITE_FILE),
        landlock.Grant("/dev/shm", landlock.READ_WRITE),
        landlock.Grant(rootfs.WORKDIR, landlock.READ_WRITE),
        landlock.Grant("/tmp", landlock.READ_WRITE),
    ]
    return grants


def _become_init(bp: Blueprint, seccomp: bytes) -> None:
    rootfs.build(rootfs.RootSpec(tuple(bp.readonly_paths), bp.workdir_size_mb, bp.tmp_size_mb, bp.readonly_overlay))
    libc.sethostname("sandbox")
    libc.setdomainname("sandbox")
    for name, (soft, hard) in bp.rlimits.items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.umask(0o077)
    os.chdir(rootfs.WORKDIR)
    privileges.drop_all()
    if bp.landlock_abi:
        landlock.restrict_self(_landlock_grants(bp), bp.landlock_abi)
    if seccomp:
        listener = seccomp_load.install(seccomp)
        if listener != NOTIFY_FD:  # it is when 0..5 are taken and 6 is free: dup3 onto itself fails
            os.dup2(listener, NOTIFY_FD)
            os.close(listener)
        os.set_inheritable(NOTIFY_FD, bp.mode == "exec")
    if bp.mode == "fork":
        # In the runner only: pid 1 never runs user code, and every page it writes before the
        # fork is one the runner copies again.
        init_runner.main("python", [], prepare=lambda: _forget_the_zygote(bp))
    os.execve(bp.argv[0], bp.argv, bp.env)


# The daemon's modules in the zygote, by name: listed once there (note_own_modules), so that
# no runner walks sys.modules (~100 first-touch page faults in a forked heap) to find them.
_own_modules: tuple[str, ...] = ()


def note_own_modules() -> None:
    """The zygote, once every module it will hold is imported."""
    global _own_modules
    _own_modules = tuple(name for name in sys.modules if name.partition(".")[0] in ("sandboxd", "prctl", "_prctl"))


def _forget_the_zygote(bp: Blueprint) -> None:
    """Leaves the interpreter as a fresh `python3 -I` would be: its own sys.path and
    environment, none of the daemon's modules importable by name."""
    sys.path[:] = bp.python_path
    for name in _own_modules:
        sys.modules.pop(name, None)
    init_runner.set_environment(bp.env)
    sys.argv[:] = ["-c"]


def _place_fds(fds: list[int]) -> None:
    """Moves `fds` to 0..n-1 in order, even when their numbers overlap that range."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in fds]
    for target, fd in enumerate(high):
        os.dup2(fd, target, inheritable=True)
    os.closerange(len(fds), os.sysconf("SC_OPEN_MAX"))


def start_worker(bp: Blueprint, worker_ends: list[int], networks: netns.NetnsPool | None,
                 seccomp: bytes) -> int:
    """Runs in the zygote: creates pid 1 with `worker_ends` as its fds 0..5 and admits it,
    in a network namespace from `networks` (None: a new one from clone3); pid 1 installs the
    compiled filter `seccomp` (b"": none). Returns a pidfd of pid 1 for the daemon: clone3's
    own, so no pid can be mistaken for it, ever.

    Raises if the worker cannot be admitted; pid 1 is then killed before it ran anything.
    """
    release_r, release_w = os.pipe()
    try:
        network = networks.enter() if networks is not None else None
        pidfd = None
        try:
            pid, pidfd = libc.fork_into(NAMESPACES | (libc.CLONE_NEWNET if network is None else 0))
            if pid == 0:
                try:
                    _place_fds([*worker_ends, release_r])
                    _run_init(bp, seccomp)
                finally:
                    os._exit(1)
            handed = os.dup(pidfd)
        finally:
            if networks is not None and network is not None:
                networks.leave(network, pidfd)  # keeps the pidfd until pid 1 has exited
            elif pidfd is not None:
                os.close(pidfd)
        try:
            _admit(pid, bp)
            os.write(worker_ends[STATUS_FD], (json.dumps({"pid": pid}) + "\n").encode())
            os.write(release_w, b"1")
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.close(handed)
            raise
    finally:
        os.close(release_r)
        os.close(release_w)
    return handed


def _run_init(bp: Blueprint, seccomp: bytes) -> None:
    """pid 1, in the zygote's freshly cloned child; never returns."""
    try:
        _signal.signal(signal.SIGCHLD, _signal.SIG_DFL)  # not signal.signal: see runners/init.py
        # /proc/<pid>/cmdline of a fork-mode pid 1 and of its runner would otherwise show the
        # zygote's: where the daemon is installed and its module directories. Done here, while
        # the prctl calls it makes are still allowed.
        prctl.set_proctitle("python3")
        os.setsid()
        released = os.read(RELEASE_FD, 1)
        os.close(RELEASE_FD)
        if not released:  # the zygote could not admit it and is killing it
            return
        _enter_namespaces()
        _become_init(bp, seccomp)
    except BaseException as exc:
        init_runner.report(error=f"worker setup failed: {exc}")
