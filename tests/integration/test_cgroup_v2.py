"""cgroup v2 for real, on this hybrid host's otherwise empty v2 hierarchy.

No controller is enabled there, so limits cannot be tried; what the kernel does enforce is
what matters for placement: a delegated cgroup (marked with systemd's trusted.delegate
xattr) is found, the processes living in it really move into its `daemon` leaf, a worker
cgroup is created beside that leaf, and `cgroup.kill` kills everything in it before it is
removed.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandboxd.linux import cgroups

UNIFIED = "/sys/fs/cgroup/unified"

pytestmark = pytest.mark.skipif(not os.path.exists(f"{UNIFIED}/cgroup.controllers") or os.geteuid() != 0,
                                reason="needs root and a cgroup2 mount at /sys/fs/cgroup/unified")


def v2_path(pid: int) -> str | None:
    with open(f"/proc/{pid}/cgroup") as f:
        return cgroups.own_cgroup(f.read())


def remove_tree(path: str) -> None:
    for dirpath, _, _ in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
        if os.path.exists(f"{dirpath}/cgroup.kill"):
            with open(f"{dirpath}/cgroup.kill", "w") as f:
                f.write("1")
        deadline = time.monotonic() + 5
        while True:
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


@pytest.fixture
def service() -> Iterator[str]:
    """A stand-in for a systemd unit's delegated cgroup, holding two running processes."""
    name = f"/sbx-test-{secrets.token_hex(4)}.service"
    path = UNIFIED + name
    os.mkdir(path)
    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    try:
        for p in procs:
            with open(f"{path}/cgroup.procs", "w") as f:
                f.write(str(p.pid))
        yield name
    finally:
        remove_tree(path)
        for p in procs:
            p.kill()
            p.wait()


def test_delegated_cgroup_is_used_and_its_processes_move_to_the_leaf(service: str) -> None:
    path = UNIFIED + service
    pids = [int(p) for p in Path(path, "cgroup.procs").read_text().split()]
    assert len(pids) == 2 and all(v2_path(p) == service for p in pids)
    assert cgroups.choose_parent(UNIFIED, "auto", f"0::{service}\n", 0).parent == UNIFIED
    os.setxattr(path, "trusted.delegate", b"1")
    placement = cgroups.choose_parent(UNIFIED, "auto", f"0::{service}\n", 0)
    assert (placement.parent, placement.evacuate) == (path, True)

    parent = cgroups.prepare_v2(placement, "sandboxd", ())
    assert parent == f"{path}/sandboxd"
    assert Path(path, "cgroup.procs").read_text() == ""
    assert all(v2_path(p) == f"{service}/{cgroups.DAEMON_LEAF}" for p in pids)
    # Found again from inside the leaf, as a second start in the same process would.
    again = cgroups.choose_parent(UNIFIED, "auto", f"0::{service}/{cgroups.DAEMON_LEAF}\n", 0)
    assert (again.parent, cgroups.prepare_v2(again, "sandboxd", ())) == (path, parent)


def test_worker_cgroup_kill_reaches_every_process_and_is_removed(service: str) -> None:
    os.setxattr(UNIFIED + service, "trusted.delegate", b"1")
    parent = cgroups.prepare_v2(cgroups.choose_parent(UNIFIED, "auto", f"0::{service}\n", 0), "sandboxd", ())
    os.mkdir(f"{parent}/w-1")
    cg = cgroups.V2Cgroup(f"{parent}/w-1")
    # A shell and the child it forks; the child is in the cgroup by inheritance only.
    shell = subprocess.Popen(["sh", "-c", "read _; sleep 60 & echo $!; wait"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with open(cg.procs_files[0], "w") as f:
            f.write(str(shell.pid))
        assert shell.stdin is not None and shell.stdout is not None
        shell.stdin.write("go\n")
        shell.stdin.flush()
        child = int(shell.stdout.readline())
        assert sorted(cg.pids()) == sorted([shell.pid, child])
        # A v2 cgroup can only be removed once no process is left in it.
        assert cg.kill_and_remove()
        assert shell.wait(5) == -9
        assert not os.path.exists(f"{parent}/w-1")
    finally:
        shell.kill()
        shell.wait()
