"""The recipe: how one worker is built, top to bottom, in the order the layers are applied.

    zygote ─fork─▶ builder (host root): join cgroups → become the worker's host uid →
                   unshare user/pid/net/mount/ipc/uts/cgroup → map uid 1000 → fork ─▶
    init (pid 1 of the new pid namespace): private root (pivot_root) → hostname →
                   rlimits → umask → drop privileges → Landlock → seccomp → exec runner

The runner then pre-warms its interpreter and blocks on its control pipe until the daemon
hands it a run. Every step either succeeds or reports `error <reason>` on the status pipe
and exits; a worker is never left half-built.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from typing import NamedTuple

import prctl

from ..runners import init as init_runner
from . import landlock, libc, privileges, rootfs, seccomp_policy

CTL_FD = 3      # daemon -> runner: the run request
STATUS_FD = 4   # builder, pid 1 -> daemon: "pid", "ready", the exit status
EXIT_FD = 5     # runner -> daemon: its own exit code, ahead of its teardown (runners/init.py)
NOTIFY_FD = 6   # pid 1 only: the seccomp listener (runners/init.py; the runner never has it)

NAMESPACES = (libc.CLONE_NEWUSER | libc.CLONE_NEWNS | libc.CLONE_NEWPID | libc.CLONE_NEWNET
              | libc.CLONE_NEWIPC | libc.CLONE_NEWUTS | libc.CLONE_NEWCGROUP)


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


def _report(line: dict[str, object]) -> None:
    os.write(STATUS_FD, (json.dumps(line) + "\n").encode())


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _enter_namespaces(bp: Blueprint) -> None:
    for procs in bp.cgroup_procs:
        _write(procs, "0")
    os.setgroups([])
    os.setresgid(bp.host_gid, bp.host_gid, bp.host_gid)
    os.setresuid(bp.host_uid, bp.host_uid, bp.host_uid)
    # Changing uid made us non-dumpable, which hands /proc/self/* to root: take it back.
    prctl.set_dumpable(True)
    libc.unshare(NAMESPACES)
    # A process may map exactly its own host uid into a namespace it created: no helper needed.
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{rootfs.INNER_UID} {bp.host_uid} 1\n")
    _write("/proc/self/gid_map", f"{rootfs.INNER_GID} {bp.host_gid} 1\n")


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


def _become_init(bp: Blueprint) -> None:
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
    if bp.seccomp:
        listener = seccomp_policy.load(bp.seccomp)
        if listener != NOTIFY_FD:  # it is when 0..5 are taken and 6 is free: dup3 onto itself fails
            os.dup2(listener, NOTIFY_FD)
            os.close(listener)
        os.set_inheritable(NOTIFY_FD, bp.mode == "exec")
    if bp.mode == "fork":
        _forget_the_zygote(bp)
        init_runner.main("python", [])
    os.execve(bp.argv[0], bp.argv, bp.env)


def _forget_the_zygote(bp: Blueprint) -> None:
    """Leaves the interpreter as a fresh `python3 -I` would be: its own sys.path and
    environment, none of the daemon's modules importable by name."""
    sys.path[:] = bp.python_path
    for name in list(sys.modules):
        if name.partition(".")[0] in ("sandboxd", "prctl", "_prctl", "pyseccomp"):
            del sys.modules[name]
    os.environ.clear()
    os.environ.update(bp.env)
    sys.argv[:] = ["-c"]


def build_worker(bp: Blueprint) -> None:
    """Runs in the zygote's freshly forked child; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # /proc/<pid>/cmdline of a fork-mode pid 1 and of its runner would otherwise show the
        # zygote's: where the daemon is installed and its module directories. Done here, while
        # the prctl calls it makes are still allowed.
        prctl.set_proctitle("python3")
        os.setsid()
        _enter_namespaces(bp)
        pid = os.fork()
        if pid == 0:
            try:
                _become_init(bp)
            except BaseException as exc:
                _report({"error": f"worker setup failed: {exc}"})
            os._exit(1)
        _report({"pid": pid})
        code = 0
    except BaseException as exc:
        _report({"error": f"worker setup failed: {exc}"})
    os._exit(code)
