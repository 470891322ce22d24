"""The recipe: how one worker is built, top to bottom, in the order the layers are applied.

    zygote ─clone3 into new user/pid/mount/ipc/uts namespaces and an empty network
                   namespace (new, or reused: linux/netns.py)─▶ pid 1
    zygote (host root): pid 1 into its cgroups → map uid/gid 1000 to the worker's host uid
                   → report pid 1's pid → release it
    pid 1: cgroup namespace → uid/gid 1000 → private root (pivot_root) → hostname →
                   rlimits → umask → drop privileges → Landlock → seccomp → fork the
                   runner, which goes on in this interpreter (fork mode) or execs `argv`
                   (exec mode)

pid 1's part is C (linux/pid1.c): a fork of this warm interpreter pays a copy-on-write fault
for every page its Python touches. Python decides every value here, in the zygote, before the
clone; the C only applies them. The runner then pre-warms its interpreter and blocks on its
control pipe until the daemon hands it a run. Every step either succeeds or reports
`error <reason>` on the status pipe and exits; a worker is never left half-built.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from typing import NamedTuple

from ..runners import init as init_runner
from . import landlock, libc, netns, pid1

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
    # Read-only directories as a private overlayfs instead of a bind mount: every worker then
    # has inodes of its own, so POSIX/OFD record locks on the files all runs share (which no
    # filter can tell from locks on the run's own files) are invisible to other runs.
    readonly_overlay: bool
    rlimits: dict[str, list[int]]
    landlock_abi: int
    seccomp: str  # the allowlist profile (seccomp_policy.PYTHON / NODE), "" for none
    # "fork": pid 1 forks the runner from this (zygote-forked, already warm) interpreter;
    # "exec": the runner pid 1 forks execs `argv`.
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
    """The zygote's part, as host root, while pid 1 waits on its release pipe.

    The namespaces belong to root, not to the worker's host uid: no process of that uid on the
    host holds any capability over them.
    """
    for procs in bp.cgroup_procs:
        _write(procs, str(pid))
    _write(f"/proc/{pid}/setgroups", "deny")
    _write(f"/proc/{pid}/uid_map", f"{pid1.INNER_UID} {bp.host_uid} 1\n")
    _write(f"/proc/{pid}/gid_map", f"{pid1.INNER_GID} {bp.host_gid} 1\n")


def _landlock_grants(readonly_paths: list[str], exec_paths: list[str]) -> list[tuple[str, int]]:
    grants = [(p, landlock.READ_ONLY) for p in readonly_paths]
    grants += [(p, landlock.EXECUTE | landlock.READ_FILE) for p in exec_paths]
    grants += [
        ("/", landlock.READ_DIR),
        ("/etc", landlock.READ_ONLY),
        ("/proc", landlock.READ_ONLY),
        ("/dev", landlock.READ_ONLY | landlock.WRITE_FILE),
        ("/dev/shm", landlock.READ_WRITE),
        (pid1.WORKDIR, landlock.READ_WRITE),
        ("/tmp", landlock.READ_WRITE),
    ]
    return grants


def exceeds_pid1(readonly_paths: list[str], exec_paths: list[str]) -> str:
    """Why pid 1 cannot take these paths, "" when it can: it holds its recipe in fixed arrays
    (linux/pid1.c), and a worker it refuses is a build that fails every time."""
    if len(readonly_paths) > pid1.MAX_PATHS:
        return f"sandbox.readonly_paths: at most {pid1.MAX_PATHS} paths, got {len(readonly_paths)}"
    rules = len(_landlock_grants(readonly_paths, exec_paths))
    if rules > pid1.MAX_GRANTS:
        return (f"the Landlock ruleset would need {rules} rules (sandbox.readonly_paths and the "
                f"interpreters' files), more than the {pid1.MAX_GRANTS} a worker's pid 1 takes")
    return ""


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


def _spawn(bp: Blueprint, namespaces: int, fds: list[int], seccomp: bytes) -> tuple[int, int]:
    """pid1.spawn with the blueprint's values, all decided here: pid 1 only applies them."""
    exec_mode = bp.mode == "exec"
    return pid1.spawn(
        namespaces, tuple(fds), bp.readonly_paths, bp.readonly_overlay, bp.workdir_size_mb, bp.tmp_size_mb,
        [(getattr(resource, name), soft, hard) for name, (soft, hard) in bp.rlimits.items()],
        landlock.ruleset(bp.landlock_abi) if bp.landlock_abi else None,
        _landlock_grants(bp.readonly_paths, bp.exec_paths) if bp.landlock_abi else [],
        seccomp,
        bp.argv if exec_mode else [],
        [f"{key}={value}" for key, value in bp.env.items()] if exec_mode else [])


def start_worker(bp: Blueprint, worker_ends: list[int], networks: netns.NetnsPool | None,
                 seccomp: bytes) -> int:
    """Runs in the zygote: creates pid 1 with `worker_ends` as its fds 0..5 and admits it,
    in a network namespace from `networks` (None: a new one from clone3); pid 1 installs the
    compiled filter `seccomp` (b"": none). Returns a pidfd of pid 1 for the daemon: clone3's
    own, so no pid can be mistaken for it, ever.

    Raises if the worker cannot be admitted; pid 1 is then killed before it ran anything.
    In fork mode the runner that pid 1 forks comes back out of pid1.spawn here too (pid 0)
    and goes on into runners/init.py, which never returns.
    """
    release_r, release_w = os.pipe()
    try:
        network = networks.enter() if networks is not None else None
        pidfd = None
        try:
            pid, pidfd = _spawn(bp, NAMESPACES | (libc.CLONE_NEWNET if network is None else 0),
                                [*worker_ends, release_r], seccomp)
            if pid == 0:
                try:
                    init_runner.become_runner("python", [], prepare=lambda: _forget_the_zygote(bp))
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
            os.write(worker_ends[pid1.STATUS_FD], (json.dumps({"pid": pid}) + "\n").encode())
            os.write(release_w, b"1")
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.close(handed)
            raise
    finally:
        os.close(release_r)
        os.close(release_w)
    return handed
