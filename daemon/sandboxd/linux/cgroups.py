"""One cgroup per worker, on cgroup v2 or v1, behind one small interface.

The kernel enforces memory (swap included) and pids here; the daemon reads usage and OOM
events back, and kills a whole run through the cgroup so nothing it started survives.
v2: a delegated subtree (`memory.peak`, `memory.events`, `cgroup.kill`): under systemd with
    `Delegate=yes` the unit's own cgroup, so the unit's stop-time kill reaches every worker.
v1: one directory per controller (`memory.max_usage_in_bytes`, `memory.oom_control`
    — `memory.failcnt` stays 0 through a real OOM kill —, freezer to kill without races).
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..backend import Sample

log = logging.getLogger("sandboxd.cgroups")

ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "pids", "cpuacct", "freezer")
V2_CONTROLLERS = ("cpu", "memory", "pids")
# The leaf of a delegated cgroup that the daemon and its fork server move into.
DAEMON_LEAF = "daemon"
DELEGATE_XATTRS = ("trusted.delegate", "user.delegate")
EVACUATE_ROUNDS = 10


# A finished run reads about ten of these files before its result can go out: raw fds cost
# ~10 µs per file here, a Python file object (buffer, text wrapper) ~20 µs.
def _read(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(fd)


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _keyed(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


class RunCgroup(ABC):
    """The cgroup(s) of one worker; all methods are cheap file reads and writes.

    The files read for every run's usage stay open for the worker's life (a pread costs a
    third of open, read and close), and limits the daemon already set are not written again:
    the hand-over of a run with the usual limits writes nothing."""

    procs_files: list[str]

    def __init__(self) -> None:
        self._kept: dict[str, int] = {}
        self._limits: tuple[int, int] | None = None

    def _read_kept(self, path: str) -> str:
        fd = self._kept.get(path)
        if fd is None:
            fd = self._kept[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return os.pread(fd, 1 << 16, 0).decode()

    def _read_int_or_none(self, path: str) -> int | None:
        try:
            return int(self._read_kept(path))
        except FileNotFoundError:
            return None

    def keep_run_files_open(self) -> None:
        """Opens, at build time, the files a run's hand-over and result read, so that its
        critical path only preads them (each open walks a cgroupfs path: four per run)."""
        self.peak_memory()
        self.oom_kills()
        self.pids_limit_hits()
        self.pids_peak()

    def _close_kept(self) -> None:
        for fd in self._kept.values():
            os.close(fd)
        self._kept.clear()

    def set_limits(self, memory_bytes: int, max_tasks: int) -> None:
        if self._limits == (memory_bytes, max_tasks):
            return
        self._write_limits(memory_bytes, max_tasks, self._limits)
        self._limits = (memory_bytes, max_tasks)

    @abstractmethod
    def _write_limits(self, memory_bytes: int, max_tasks: int, previous: tuple[int, int] | None) -> None: ...
    @abstractmethod
    def reset_peak(self) -> None: ...
    @abstractmethod
    def sample(self) -> Sample: ...
    @abstractmethod
    def peak_memory(self) -> int: ...
    @abstractmethod
    def oom_kills(self) -> int: ...
    @abstractmethod
    def pids_limit_hits(self) -> int: ...
    @abstractmethod
    def pids_peak(self) -> int | None:
        """The most tasks (processes and threads) the cgroup ever held; None where the kernel
        keeps no pids.peak (older kernels)."""
    @abstractmethod
    def pids(self) -> list[int]: ...
    @abstractmethod
    def kill(self) -> None: ...
    @abstractmethod
    def remove(self) -> None: ...

    def kill_and_remove(self, timeout: float = 5.0) -> bool:
        """Kills every process in the cgroup and removes it; False if it would not empty.

        The removal is tried first: after a normal run the worker's pid 1 has exited, and with
        it every process of its pid namespace, so the cgroup is empty and the kill (on v1 a
        freeze, five listings and a thaw) would find nobody. The kernel refuses to remove a
        cgroup that still holds a process, and then the kill comes first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.remove()
                return True
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY) or time.monotonic() > deadline:
                    return False
            self.kill()
            time.sleep(0.002)


class V2Cgroup(RunCgroup):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.procs_files = [f"{path}/cgroup.procs"]
        self._peak_fd: int | None = None

    def _write_limits(self, memory_bytes: int, max_tasks: int, previous: tuple[int, int] | None) -> None:
        _write(f"{self.path}/memory.max", str(memory_bytes))
        if previous is None and os.path.exists(f"{self.path}/memory.swap.max"):
            _write(f"{self.path}/memory.swap.max", "0")
        _write(f"{self.path}/pids.max", str(max_tasks))

    def reset_peak(self) -> None:
        # memory.peak resets per open file: keep the fd the reset was written through.
        self._peak_fd = os.open(f"{self.path}/memory.peak", os.O_RDWR | os.O_CLOEXEC)
        os.write(self._peak_fd, b"reset\n")

    def sample(self) -> Sample:
        cpu = _keyed(self._read_kept(f"{self.path}/cpu.stat"))
        return Sample(cpu.get("user_usec", 0) * 1000, cpu.get("system_usec", 0) * 1000,
                      int(self._read_kept(f"{self.path}/memory.current")),
                      int(self._read_kept(f"{self.path}/pids.current")))

    def peak_memory(self) -> int:
        if self._peak_fd is not None:
            return int(os.pread(self._peak_fd, 64, 0))
        return int(_read(f"{self.path}/memory.peak"))

    def oom_kills(self) -> int:
        return _keyed(self._read_kept(f"{self.path}/memory.events")).get("oom_kill", 0)

    def pids_limit_hits(self) -> int:
        return _keyed(self._read_kept(f"{self.path}/pids.events")).get("max", 0)

    def pids_peak(self) -> int | None:
        return self._read_int_or_none(f"{self.path}/pids.peak")

    def pids(self) -> list[int]:
        return [int(p) for p in _read(self.procs_files[0]).split()]

    def kill(self) -> None:
        try:
            _write(f"{self.path}/cgroup.kill", "1")
        except FileNotFoundError:
            pass

    def remove(self) -> None:
        self._close_kept()
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass


class V1Cgroup(RunCgroup):
    def __init__(self, paths: dict[str, str]) -> None:
        super().__init__()
        self.paths = paths
        self.procs_files = [f"{p}/cgroup.procs" for p in paths.values()]
        self._memsw = os.path.exists(f"{paths['memory']}/memory.memsw.limit_in_bytes")

    def _f(self, controller: str, name: str) -> str:
        return f"{self.paths[controller]}/{name}"

    def _write_limits(self, memory_bytes: int, max_tasks: int, previous: tuple[int, int] | None) -> None:
        # memsw may never be below the memory limit: lower memory first, raise memsw first.
        current = previous[0] if previous else int(_read(self._f("memory", "memory.limit_in_bytes")))
        order = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
        if memory_bytes > current:
            order.reverse()
        for name in order:
            if name.startswith("memory.memsw") and not self._memsw:
                continue
            _write(self._f("memory", name), str(memory_bytes))
        _write(self._f("pids", "pids.max"), str(max_tasks))

    def reset_peak(self) -> None:
        _write(self._f("memory", "memory.max_usage_in_bytes"), "0")

    def sample(self) -> Sample:
        return Sample(int(self._read_kept(self._f("cpuacct", "cpuacct.usage_user"))),
                      int(self._read_kept(self._f("cpuacct", "cpuacct.usage_sys"))),
                      int(self._read_kept(self._f("memory", "memory.usage_in_bytes"))),
                      int(self._read_kept(self._f("pids", "pids.current"))))

    def peak_memory(self) -> int:
        return int(self._read_kept(self._f("memory", "memory.max_usage_in_bytes")))

    def oom_kills(self) -> int:
        return _keyed(self._read_kept(self._f("memory", "memory.oom_control"))).get("oom_kill", 0)

    def pids_limit_hits(self) -> int:
        return _keyed(self._read_kept(self._f("pids", "pids.events"))).get("max", 0)

    def pids_peak(self) -> int | None:
        return self._read_int_or_none(self._f("pids", "pids.peak"))

    def pids(self) -> list[int]:
        return [int(p) for p in _read(self._f("pids", "cgroup.procs")).split()]

    def kill(self) -> None:
        # Freeze first so nothing can fork between reading the list and the kill. A frozen
        # task holds its SIGKILL until it is thawed, so the thaw must happen whatever else
        # fails: a cgroup left FROZEN would keep its processes forever.
        state = self._f("freezer", "freezer.state")
        try:
            _write(state, "FROZEN")
        except FileNotFoundError:
            pass
        try:
            for pid in self._every_pid():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            try:
                _write(state, "THAWED")
            except FileNotFoundError:
                pass

    def _every_pid(self) -> set[int]:
        """Processes in any of the worker's controllers; one already removed holds none."""
        found: set[int] = set()
        for procs in self.procs_files:
            try:
                found.update(int(p) for p in _read(procs).split())
            except FileNotFoundError:
                continue
        return found

    def remove(self) -> None:
        self._close_kept()
        for path in self.paths.values():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass


@dataclass(frozen=True)
class Placement:
    """Where worker cgroups go on cgroup v2, and why: `parent` is the directory under which
    `<cgroup_name>/<worker>` is created; `evacuate` says the daemon's own processes live in
    `parent` and must first move into its `daemon` leaf (no internal processes on v2)."""

    parent: str
    evacuate: bool
    reason: str


def own_cgroup(proc_self_cgroup: str) -> str | None:
    """The v2 path of a process from its /proc/<pid>/cgroup text (the `0::/path` line);
    None without one (a pure v1 host)."""
    for line in proc_self_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "" and path.startswith("/"):
            return path
    return None


def _delegate_xattr(path: str) -> str | None:
    for name in DELEGATE_XATTRS:
        try:
            if os.getxattr(path, name) == b"1":
                return name
        except OSError:
            continue
    return None


def delegation(path: str, euid: int) -> str | None:
    """Why the cgroup at `path` is ours to subdivide, or None when it is not.

    systemd (251 and later) marks a `Delegate=yes` unit's cgroup with the trusted.delegate
    xattr (user.delegate for user managers); for a `User=` unit it also chowns the cgroup to
    that user. Either way the directory and its cgroup.procs and cgroup.subtree_control must
    be writable: a read-only cgroupfs (ProtectControlGroups=) is no delegation.
    """
    files = [path, f"{path}/cgroup.procs", f"{path}/cgroup.subtree_control"]
    if not all(os.access(f, os.W_OK) for f in files):
        return None
    marker = _delegate_xattr(path)
    if marker:
        return f"{marker}=1"
    if euid != 0 and all(os.stat(f).st_uid == euid for f in files):
        return f"owned by uid {euid}"
    return None


def choose_parent(root: str, setting: str, proc_self_cgroup: str, euid: int) -> Placement:
    """Decides the v2 parent from `sandbox.cgroup_parent` ("auto", "root" or an absolute
    cgroup path) and the daemon's own cgroup.

    "auto" works inside the daemon's own cgroup when it is delegated, so that the service
    manager's stop-time kill and accounting cover every worker; otherwise (not delegated,
    or already at the top) it falls back to the hierarchy root, as sandboxd always did.
    """
    own = own_cgroup(proc_self_cgroup)
    if setting == "root":
        return Placement(root, False, "sandbox.cgroup_parent = \"root\"")
    if setting != "auto":
        parent = root + setting.rstrip("/")
        if not os.path.isdir(parent):
            raise RuntimeError(f"sandbox.cgroup_parent: {setting} is not a cgroup (no directory {parent})")
        return Placement(parent, own == setting.rstrip("/"), f"sandbox.cgroup_parent = \"{setting}\"")
    if own is None or own == "/":
        return Placement(root, False, "the daemon runs in the hierarchy root")
    if os.path.basename(own) == DAEMON_LEAF:
        # Moved into the leaf by an earlier start in this process: the delegated cgroup is above.
        above = os.path.dirname(own)
        why = delegation(root + above, euid) if above != "/" else None
        if why:
            return Placement(root + above, True, f"delegated to the daemon: {above} ({why})")
    why = delegation(root + own, euid)
    if why:
        return Placement(root + own, True, f"delegated to the daemon: {own} ({why})")
    return Placement(root, False, f"the daemon's cgroup {own} is not delegated (no trusted.delegate "
                     "xattr; set Delegate=yes, or sandbox.cgroup_parent for systemd before 251)")


def _enable(path: str, wanted: tuple[str, ...]) -> None:
    """Enables `wanted` for the children of `path`, writing only what is missing: a
    cgroup that holds processes refuses any change (EBUSY), even a no-op one."""
    enabled = _read(f"{path}/cgroup.subtree_control").split()
    missing = [c for c in wanted if c not in enabled]
    if missing:
        _write(f"{path}/cgroup.subtree_control", " ".join(f"+{c}" for c in missing))


def _evacuate(parent: str) -> None:
    """Moves every process of `parent` into its `daemon` leaf. A delegated cgroup holds only
    this service's processes: the daemon and its fork server (whose future forks inherit the
    leaf). A process forked meanwhile shows up in the next round."""
    leaf = f"{parent}/{DAEMON_LEAF}"
    os.makedirs(leaf, exist_ok=True)
    for _ in range(EVACUATE_ROUNDS):
        pids = _read(f"{parent}/cgroup.procs").split()
        if not pids:
            return
        for pid in pids:
            try:
                _write(f"{leaf}/cgroup.procs", pid)
            except ProcessLookupError:
                continue
    raise RuntimeError(f"cannot move the daemon's processes out of {parent} into {leaf}: "
                       f"{parent}/cgroup.procs still lists {' '.join(_read(f'{parent}/cgroup.procs').split())}")


def prepare_v2(placement: Placement, name: str, wanted: tuple[str, ...]) -> str:
    """Lays out `<parent>/<name>` for workers and returns it. The order is the kernel's:
    processes out of the parent, then controllers on for its children, then each level of
    `name` created and its controllers enabled in turn."""
    parent = placement.parent
    available = set(_read(f"{parent}/cgroup.controllers").split())
    missing = set(wanted) - available
    if missing:
        hint = (" (delegate them to the unit, e.g. Delegate=yes, or set sandbox.cgroup_parent = \"root\")"
                if placement.evacuate else "")
        raise RuntimeError(f"cgroup v2 controllers not available in {parent}: {', '.join(sorted(missing))}{hint}")
    if name.split("/")[0] == DAEMON_LEAF and placement.evacuate:
        raise RuntimeError(f"sandbox.cgroup_name {name!r} collides with {parent}/{DAEMON_LEAF}, "
                           "the leaf the daemon's own processes move into")
    if placement.evacuate:
        _evacuate(parent)
    path = parent
    for part in name.split("/"):
        _enable(path, wanted)
        path = f"{path}/{part}"
        os.makedirs(path, exist_ok=True)
    _enable(path, wanted)
    return path


class Hierarchy:
    """Creates worker cgroups under the daemon's parent cgroup; detects the version once.

    `root` and `proc_self_cgroup` are parameters so that the v2 decisions can be tried
    against a directory laid out like a cgroup2 filesystem.
    """

    def __init__(self, name: str, root: str = ROOT, parent_setting: str = "auto",
                 proc_self_cgroup: str = "/proc/self/cgroup") -> None:
        self.root = root
        self.version = 2 if os.path.exists(f"{root}/cgroup.controllers") else 1
        self.name = name
        if self.version == 2:
            placement = choose_parent(root, parent_setting, _read(proc_self_cgroup), os.geteuid())
            self.parent = prepare_v2(placement, name, V2_CONTROLLERS)
            self.where = f"{self.parent} ({placement.reason})"
        else:
            base = "" if parent_setting in ("auto", "root") else parent_setting.rstrip("/")
            for controller in V1_CONTROLLERS:
                if base and not os.path.isdir(f"{root}/{controller}{base}"):
                    raise RuntimeError(f"sandbox.cgroup_parent: {base} is not a cgroup "
                                       f"(no directory {root}/{controller}{base})")
            self.parents = {c: f"{root}/{c}{base}/{name}" for c in V1_CONTROLLERS}
            for controller, path in self.parents.items():
                if not os.path.isdir(f"{root}/{controller}"):
                    raise RuntimeError(f"cgroup v1 controller {controller!r} is not mounted at {root}/{controller}")
                os.makedirs(path, exist_ok=True)
            use_hierarchy = f"{self.parents['memory']}/memory.use_hierarchy"
            if os.path.exists(use_hierarchy) and _read(use_hierarchy).strip() != "1":
                _write(use_hierarchy, "1")
            self.where = f"{root}/{{{','.join(V1_CONTROLLERS)}}}{base}/{name}"
        log.info("event=cgroup_parent version=%d path=%r", self.version, self.where)

    def create(self, worker_id: str, memory_bytes: int, max_tasks: int) -> RunCgroup:
        """The worker's cgroup with its limits set; on failure nothing of it is left."""
        cg: RunCgroup
        if self.version == 2:
            path = f"{self.parent}/{worker_id}"
            os.mkdir(path)
            cg = V2Cgroup(path)
        else:
            paths = {c: f"{p}/{worker_id}" for c, p in self.parents.items()}
            made: list[str] = []
            try:
                for path in paths.values():
                    os.mkdir(path)
                    made.append(path)
            except OSError:
                for path in made:
                    os.rmdir(path)
                raise
            cg = V1Cgroup(paths)
        try:
            cg.set_limits(memory_bytes, max_tasks)
        except OSError:
            cg.remove()
            raise
        return cg

    def remove_parents(self) -> None:
        """The levels of `sandbox.cgroup_name` that hold the workers, removed at exit, deepest
        first, while they are empty: the next start makes them again, and an empty `sandboxd`
        left in every controller after each stop is litter. A busy level (a worker that could
        not be removed) stays; the parent they sit in is never touched."""
        paths = [self.parent] if self.version == 2 else list(dict.fromkeys(self.parents.values()))
        for path in paths:
            for _ in self.name.split("/"):
                try:
                    os.rmdir(path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                        log.warning("event=cgroup_parent_kept path=%r error=%r", path, str(exc))
                    break
                path = os.path.dirname(path)

    def leftovers(self) -> list[RunCgroup]:
        """Worker cgroups a crashed daemon left behind."""
        if self.version == 2:
            return [V2Cgroup(f"{self.parent}/{d}") for d in sorted(os.listdir(self.parent))
                    if os.path.isdir(f"{self.parent}/{d}")]
        names: set[str] = set()
        for parent in self.parents.values():
            names |= {d for d in os.listdir(parent) if os.path.isdir(f"{parent}/{d}")}
        out: list[RunCgroup] = []
        for n in sorted(names):
            out.append(V1Cgroup({c: f"{p}/{n}" for c, p in self.parents.items()}))
        return out
