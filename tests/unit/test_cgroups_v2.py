"""cgroup v2 placement: which parent worker cgroups go under, and the order of the writes.

This host is cgroup v1, so the decisions run against a temporary directory laid out like a
cgroup2 filesystem (the kernel's files are plain files here; the delegation marker is the
same xattr systemd sets). tests/integration/test_cgroup_v2.py moves real processes on the
host's otherwise empty v2 hierarchy. The last tests give v1's explicit parent, the
clean-up of a half-made worker cgroup, and a worker cgroup's kept usage files and skipped
limit writes the same kind of tree.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sandboxd.config import ConfigError, from_dict
from sandboxd.linux import cgroups

SERVICE = "/system.slice/sandboxd.service"
PROC_IN_SERVICE = f"0::{SERVICE}\n"


def make_cgroup(path: Path, controllers: str = "cpu memory pids", procs: str = "") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "cgroup.controllers").write_text(controllers + "\n")
    (path / "cgroup.subtree_control").write_text("")
    (path / "cgroup.procs").write_text(procs)
    return path


@pytest.fixture
def fs(tmp_path: Path) -> Path:
    """A cgroup2 root with a systemd-like service cgroup under system.slice."""
    root = make_cgroup(tmp_path / "cgroup")
    (root / "cgroup.subtree_control").write_text("cpu memory pids\n")
    make_cgroup(root / "system.slice")
    make_cgroup(root / SERVICE.lstrip("/"))
    return root


def delegate(path: Path) -> None:
    os.setxattr(path, "trusted.delegate", b"1")


def test_own_cgroup_is_the_v2_line_only() -> None:
    hybrid = "9:name=systemd:/x\n4:memory:/process_api/ab\n0::/system.slice/a.service\n"
    assert cgroups.own_cgroup(hybrid) == "/system.slice/a.service"
    assert cgroups.own_cgroup("0::/\n") == "/"
    assert cgroups.own_cgroup("4:memory:/a\n1:cpu:/\n") is None
    # A v1 named hierarchy with an empty controller list is not the v2 line.
    assert cgroups.own_cgroup("1:name=systemd:/a\n") is None


def test_auto_uses_a_delegated_own_cgroup(fs: Path) -> None:
    delegate(fs / SERVICE.lstrip("/"))
    placement = cgroups.choose_parent(str(fs), "auto", PROC_IN_SERVICE, euid=0)
    assert placement.parent == f"{fs}{SERVICE}"
    assert placement.evacuate
    assert "trusted.delegate=1" in placement.reason


def test_auto_falls_back_to_the_root_when_not_delegated(fs: Path) -> None:
    placement = cgroups.choose_parent(str(fs), "auto", PROC_IN_SERVICE, euid=0)
    assert placement == cgroups.Placement(str(fs), False, placement.reason)
    assert "not delegated" in placement.reason


def test_auto_in_the_root_cgroup_stays_at_the_root(fs: Path) -> None:
    assert cgroups.choose_parent(str(fs), "auto", "0::/\n", euid=0).parent == str(fs)


def test_auto_accepts_a_cgroup_chowned_to_a_non_root_daemon(fs: Path) -> None:
    # systemd chowns a User= unit's delegated cgroup (and these two files) to that user.
    service = fs / SERVICE.lstrip("/")
    for path in (service, service / "cgroup.procs", service / "cgroup.subtree_control"):
        os.chown(path, 4321, 4321)
    assert cgroups.choose_parent(str(fs), "auto", PROC_IN_SERVICE, euid=4321).parent == str(service)
    assert cgroups.choose_parent(str(fs), "auto", PROC_IN_SERVICE, euid=4322).parent == str(fs)
    os.chown(service / "cgroup.procs", 0, 0)
    assert cgroups.choose_parent(str(fs), "auto", PROC_IN_SERVICE, euid=4321).parent == str(fs)


def test_auto_after_moving_into_the_leaf_keeps_the_delegated_parent(fs: Path) -> None:
    service = fs / SERVICE.lstrip("/")
    delegate(service)
    make_cgroup(service / cgroups.DAEMON_LEAF)
    placement = cgroups.choose_parent(str(fs), "auto", f"0::{SERVICE}/{cgroups.DAEMON_LEAF}\n", euid=0)
    assert placement.parent == str(service)


def test_root_and_explicit_settings(fs: Path) -> None:
    delegate(fs / SERVICE.lstrip("/"))
    assert cgroups.choose_parent(str(fs), "root", PROC_IN_SERVICE, euid=0) == cgroups.Placement(
        str(fs), False, 'sandbox.cgroup_parent = "root"')
    explicit = cgroups.choose_parent(str(fs), "/system.slice", PROC_IN_SERVICE, euid=0)
    assert (explicit.parent, explicit.evacuate) == (f"{fs}/system.slice", False)
    own = cgroups.choose_parent(str(fs), SERVICE, PROC_IN_SERVICE, euid=0)
    assert (own.parent, own.evacuate) == (f"{fs}{SERVICE}", True)
    with pytest.raises(RuntimeError, match="not a cgroup"):
        cgroups.choose_parent(str(fs), "/nowhere.slice", PROC_IN_SERVICE, euid=0)


def test_prepare_enables_controllers_level_by_level(fs: Path) -> None:
    service = fs / SERVICE.lstrip("/")
    # mkdir on cgroupfs makes the kernel's files; here the levels exist beforehand, as they
    # do for a daemon restarted in the same unit.
    make_cgroup(service / "pools")
    make_cgroup(service / "pools/sandboxd")
    placement = cgroups.Placement(str(service), True, "test")
    parent = cgroups.prepare_v2(placement, "pools/sandboxd", cgroups.V2_CONTROLLERS)
    assert parent == f"{service}/pools/sandboxd"
    assert (service / cgroups.DAEMON_LEAF).is_dir()
    for level in (service, service / "pools", service / "pools/sandboxd"):
        assert (level / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"


def test_prepare_writes_only_missing_controllers(fs: Path) -> None:
    # A cgroup with processes (the root here) refuses every subtree_control write, even a no-op.
    make_cgroup(fs / "sandboxd")
    (fs / "cgroup.subtree_control").write_text("cpu memory pids\n")
    cgroups.prepare_v2(cgroups.Placement(str(fs), False, "test"), "sandboxd", cgroups.V2_CONTROLLERS)
    assert (fs / "cgroup.subtree_control").read_text() == "cpu memory pids\n"
    (fs / "cgroup.subtree_control").write_text("memory\n")
    cgroups.prepare_v2(cgroups.Placement(str(fs), False, "test"), "sandboxd", cgroups.V2_CONTROLLERS)
    assert (fs / "cgroup.subtree_control").read_text() == "+cpu +pids"


def test_processes_leave_the_parent_before_controllers_are_enabled(fs: Path) -> None:
    # Plain files do not move processes the way the kernel does: the pid stays listed, the
    # evacuation gives up with a message, and subtree_control has not been touched.
    service = fs / SERVICE.lstrip("/")
    (service / "cgroup.procs").write_text("4242\n")
    make_cgroup(service / cgroups.DAEMON_LEAF)  # the kernel fills a new cgroup's directory on mkdir
    with pytest.raises(RuntimeError, match="still lists 4242"):
        cgroups.prepare_v2(cgroups.Placement(str(service), True, "test"), "sandboxd", cgroups.V2_CONTROLLERS)
    assert (service / cgroups.DAEMON_LEAF / "cgroup.procs").read_text() == "4242"
    assert (service / "cgroup.subtree_control").read_text() == ""
    assert not (service / "sandboxd").exists()


def test_missing_controllers_and_a_colliding_name_are_refused(fs: Path) -> None:
    service = fs / SERVICE.lstrip("/")
    (service / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(RuntimeError, match=r"not available in .*: cpu"):
        cgroups.prepare_v2(cgroups.Placement(str(service), True, "t"), "sandboxd", cgroups.V2_CONTROLLERS)
    (service / "cgroup.controllers").write_text("cpu memory pids\n")
    with pytest.raises(RuntimeError, match="collides"):
        cgroups.prepare_v2(cgroups.Placement(str(service), True, "t"), "daemon", cgroups.V2_CONTROLLERS)


def test_hierarchy_on_a_delegated_v2_tree(fs: Path, tmp_path: Path) -> None:
    service = fs / SERVICE.lstrip("/")
    delegate(service)
    make_cgroup(service / "sandboxd")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"1:name=systemd:/\n0::{SERVICE}\n")
    h = cgroups.Hierarchy("sandboxd", root=str(fs), parent_setting="auto", proc_self_cgroup=str(proc))
    assert h.version == 2
    assert h.parent == f"{service}/sandboxd"
    assert h.where.startswith(f"{service}/sandboxd (delegated to the daemon: {SERVICE}")
    (service / "sandboxd" / "left-1").mkdir()
    assert [c.path for c in h.leftovers()] == [f"{service}/sandboxd/left-1"]  # type: ignore[attr-defined]


def test_config_cgroup_parent() -> None:
    assert from_dict({}).sandbox.cgroup_parent == "auto"
    for ok in ("root", "/system.slice/sandboxd.service", "/user.slice/user-1000.slice/user@1000.service/app.slice"):
        assert from_dict({"sandbox": {"cgroup_parent": ok}}).sandbox.cgroup_parent == ok
    for bad in ("system.slice", "/a/../b", "/a b", ""):
        with pytest.raises(ConfigError, match=r"sandbox\.cgroup_parent"):
            from_dict({"sandbox": {"cgroup_parent": bad}})


def v1_tree(root: Path) -> Path:
    for controller in cgroups.V1_CONTROLLERS:
        (root / controller / "system.slice").mkdir(parents=True)
    return root


def test_v1_explicit_parent_and_missing_parent(tmp_path: Path) -> None:
    root = v1_tree(tmp_path / "v1")
    h = cgroups.Hierarchy("sandboxd", root=str(root), parent_setting="/system.slice")
    assert (h.version, h.parents["memory"]) == (1, f"{root}/memory/system.slice/sandboxd")
    assert h.where == f"{root}/{{memory,pids,cpuacct,freezer}}/system.slice/sandboxd"
    assert cgroups.Hierarchy("sandboxd", root=str(root)).parents["pids"] == f"{root}/pids/sandboxd"
    with pytest.raises(RuntimeError, match="not a cgroup"):
        cgroups.Hierarchy("sandboxd", root=str(root), parent_setting="/nowhere.slice")


def test_a_worker_cgroup_that_cannot_get_its_limits_is_removed(tmp_path: Path) -> None:
    # Plain directories have no memory.limit_in_bytes: the limit write fails like a kernel
    # refusal would, and every controller's directory of the worker must be gone again.
    h = cgroups.Hierarchy("sandboxd", root=str(v1_tree(tmp_path / "v1")))
    with pytest.raises(FileNotFoundError, match=r"memory\.limit_in_bytes"):
        h.create("w-1", 64 << 20, 16)
    assert not any(os.path.exists(f"{parent}/w-1") for parent in h.parents.values())
    os.mkdir(f"{h.parents['pids']}/w-2")  # a mkdir that fails part-way: EEXIST on pids
    with pytest.raises(FileExistsError):
        h.create("w-2", 64 << 20, 16)
    assert [c for c, parent in h.parents.items() if os.path.exists(f"{parent}/w-2")] == ["pids"]


def _v2_worker(path: Path) -> cgroups.V2Cgroup:
    path.mkdir()
    # Limit files start empty: _write does not truncate (the kernel's files need no truncation).
    files = {"memory.max": "", "memory.swap.max": "", "pids.max": "", "cpu.stat": "user_usec 5\nsystem_usec 7\n",
             "memory.current": "100", "pids.current": "2", "memory.events": "oom_kill 0\n", "pids.events": "max 0\n"}
    for name, text in files.items():
        (path / name).write_text(text)
    return cgroups.V2Cgroup(str(path))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_limits_already_set_are_not_written_again(tmp_path: Path) -> None:
    cg = _v2_worker(tmp_path / "w")
    cg.set_limits(64 << 20, 16)
    assert [(tmp_path / "w" / n).read_text() for n in ("memory.max", "memory.swap.max", "pids.max")] == [
        str(64 << 20), "0", "16"]
    (tmp_path / "w" / "memory.max").write_text("")
    cg.set_limits(64 << 20, 16)  # the usual hand-over: nothing to write
    assert (tmp_path / "w" / "memory.max").read_text() == ""
    cg.set_limits(32 << 20, 16)
    assert (tmp_path / "w" / "memory.max").read_text() == str(32 << 20)


def test_usage_files_stay_open_for_the_workers_life_and_close_with_it(tmp_path: Path) -> None:
    before = open_fds()
    cg = _v2_worker(tmp_path / "w")
    assert cg.sample() == cgroups.Sample(5000, 7000, 100, 2)
    assert (cg.oom_kills(), cg.pids_limit_hits(), cg.pids_peak()) == (0, 0, None)  # no pids.peak here
    held = open_fds() - before
    assert held == 5
    (tmp_path / "w" / "memory.current").write_text("4096")
    (tmp_path / "w" / "memory.events").write_text("oom_kill 1\n")
    assert (cg.sample().memory_bytes, cg.oom_kills()) == (4096, 1)  # read again, not remembered
    assert open_fds() - before == held
    for name in os.listdir(tmp_path / "w"):
        os.unlink(tmp_path / "w" / name)
    cg.remove()
    assert open_fds() == before
    assert not (tmp_path / "w").exists()
