"""macOS: rlimits, a Seatbelt profile through ``sandbox-exec``, a uid per worker, and polling.

macOS has no namespaces, no cgroups and no seccomp, so a worker here is weaker than on Linux
and `capabilities` says exactly how:

- **Seatbelt** (``sandbox-exec -p PROFILE``) denies by default; the profile generated below
  allows reading what the interpreters need, reading and writing the worker's own directory,
  executing only the interpreters, and signalling only processes in the same sandbox. Network
  is denied outright. Paths reach the profile as ``-D`` parameters, never spliced into its text,
  so no path can change the profile's meaning.
- **A uid per worker** (when the daemon is root): every process of a run has that real uid,
  which is how the daemon finds them all — also those that left the process group with
  ``setsid`` — to count, sample and kill them. It also makes RLIMIT_NPROC a per-run limit.
- **rlimits** are set by a small launcher (this module run as ``python -I -m``), which is a
  fresh process, so the daemon still never forks without exec. macOS cannot set another
  process's limits (no prlimit), so they sit at the configured maxima; each run's own CPU and
  memory limits are enforced by the daemon polling libproc: CPU by the run driver's sampler,
  memory here by a watchdog thread that sends SIGTERM, then SIGKILL after a grace period.
  Memory enforcement is therefore best effort: a fast allocator can overshoot between polls.

Everything that only exists on macOS (libproc, ``sandbox-exec``) is reached lazily, so the
profile text, the rlimit table, the launcher and the struct layouts are unit-tested on Linux.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import fcntl
import functools
import itertools
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..config import Config
from ..pipes import StatusChannel, close_quietly
from ..runners import source as runner_source
from ..worker import Worker
from . import Backend, BuildError, Capability, Containment, Sample

SANDBOX_EXEC = "/usr/bin/sandbox-exec"
# /private/var/tmp is canonical (Seatbelt matches resolved paths: /var is a symlink) and
# survives reboots, so leftovers of a crashed daemon can be found and removed.
WORK_ROOT = "/private/var/tmp/sandboxd"
# What every dyld-linked program reads before main(): the shared cache, system frameworks,
# libSystem, time zones and locale data.
SYSTEM_READ_PATHS = (
    "/System/Library", "/usr/lib", "/usr/share", "/private/var/db/timezone", "/private/var/db/dyld",
    "/Library/Apple/usr/lib", "/dev/urandom", "/dev/random",
)
CTL_FD, STATUS_FD, EXIT_FD = 3, 4, 5  # where runners/init.py finds its control, status and exit pipes
BUILD_TIMEOUT_S = 30.0
MIB = 1 << 20
# The worker's working directory differs per worker and is its cwd; the shared base
# environment can only name it relatively.
WORKER_ENV = {"PATH": "/usr/bin:/bin", "HOME": ".", "LANG": "C.UTF-8", "TMPDIR": "."}
POLL_S = 0.05
MAX_FD = 1 << 16  # macOS may report an unlimited RLIMIT_NOFILE; close no further than this
TERM_GRACE_S = 0.5

# libproc (sys/proc_info.h, libproc.h)
PROC_PGRP_ONLY = 2
PROC_RUID_ONLY = 5
PROC_PIDTASKINFO = 4
RUSAGE_INFO_V2 = 2


class RusageInfoV2(ctypes.Structure):
    """``struct rusage_info_v2`` (sys/resource.h): CPU times are in mach absolute-time units."""

    _fields_ = [("ri_uuid", ctypes.c_uint8 * 16)] + [(name, ctypes.c_uint64) for name in (
        "ri_user_time", "ri_system_time", "ri_pkg_idle_wkups", "ri_interrupt_wkups", "ri_pageins",
        "ri_wired_size", "ri_resident_size", "ri_phys_footprint", "ri_proc_start_abstime",
        "ri_proc_exit_abstime", "ri_child_user_time", "ri_child_system_time", "ri_child_pkg_idle_wkups",
        "ri_child_interrupt_wkups", "ri_child_pageins", "ri_child_elapsed_abstime", "ri_diskio_bytesread",
        "ri_diskio_byteswritten",
    )]


class ProcTaskInfo(ctypes.Structure):
    """``struct proc_taskinfo`` (sys/proc_info.h): only the thread count is used."""

    _fields_ = [(name, ctypes.c_uint64) for name in (
        "pti_virtual_size", "pti_resident_size", "pti_total_user", "pti_total_system", "pti_threads_user",
        "pti_threads_system",
    )] + [(name, ctypes.c_int32) for name in (
        "pti_policy", "pti_faults", "pti_pageins", "pti_cow_faults", "pti_messages_sent",
        "pti_messages_received", "pti_syscalls_mach", "pti_syscalls_unix", "pti_csw", "pti_threadnum",
        "pti_numrunning", "pti_priority",
    )]


class MachTimebase(ctypes.Structure):
    _fields_ = [("numer", ctypes.c_uint32), ("denom", ctypes.c_uint32)]


# --- the Seatbelt profile -------------------------------------------------------------------


def _sbpl_string(text: str) -> str:
    """An SBPL string literal; only used for the fixed parameter names, never for paths."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class SeatbeltProfile:
    """A profile and the ``-D NAME=VALUE`` parameters that carry its paths."""

    text: str
    params: dict[str, str]

    def argv(self, command: list[str]) -> list[str]:
        defines = [arg for name, value in self.params.items() for arg in ("-D", f"{name}={value}")]
        return [SANDBOX_EXEC, "-p", self.text, *defines, *command]


def seatbelt_profile(read_paths: Iterable[str], exec_paths: Iterable[str], workdir: str) -> SeatbeltProfile:
    """Deny by default; read the interpreters' files, read-write the working directory,
    execute only the interpreters, no network. Paths must already be canonical (realpath):
    Seatbelt compares resolved paths, so ``/tmp/x`` would never match ``/private/tmp/x``."""
    params: dict[str, str] = {"WORKDIR": workdir}
    reads, execs = [], []
    for i, path in enumerate(dict.fromkeys(read_paths)):
        params[f"READ{i}"] = path
        reads.append(f"(subpath (param {_sbpl_string(f'READ{i}')}))")
    for i, path in enumerate(dict.fromkeys(exec_paths)):
        params[f"EXEC{i}"] = path
        execs.append(f"(literal (param {_sbpl_string(f'EXEC{i}')}))")
    # Resolving any path reads the metadata of each of its parents.
    parents = sorted({p for path in params.values() for p in _parents(path)})
    for i, path in enumerate(parents):
        params[f"PARENT{i}"] = path
    parent_rules = " ".join(f"(literal (param {_sbpl_string(f'PARENT{i}')}))" for i in range(len(parents)))
    lines = [
        "(version 1)",
        "(deny default)",
        "(deny network*)",
        "(allow process-fork)",
        f"(allow process-exec {' '.join(execs)})" if execs else "",
        f"(allow file-read* {' '.join(reads + execs)})" if reads or execs else "",
        f"(allow file-read-metadata {parent_rules})" if parent_rules else "",
        '(allow file-read* file-write* (subpath (param "WORKDIR")))',
        '(allow file-read* file-write-data (literal "/dev/null") (literal "/dev/zero"))',
        "(allow sysctl-read)",
        "(allow signal (target same-sandbox))",
        "(allow process-info* (target same-sandbox))",
    ]
    return SeatbeltProfile("\n".join(line for line in lines if line) + "\n", params)


def _parents(path: str) -> list[str]:
    out = []
    while True:
        path = os.path.dirname(path)
        out.append(path)
        if path == "/":
            return out


# --- rlimits and the launcher ---------------------------------------------------------------


def rlimit_table(cfg: Config, own_uid: bool) -> dict[str, tuple[int, int]]:
    """The limits every worker starts with. They cannot be lowered per run from outside (macOS
    has no prlimit), so they sit at the configured maxima as a kernel-enforced backstop; the
    per-run limits are polled. No RLIMIT_AS/RLIMIT_DATA: macOS does not enforce them for mmap,
    which is where malloc gets its memory, so setting them would only look like a limit.
    RLIMIT_NPROC counts every process of a uid, so it is a per-worker limit only when the worker
    has a uid of its own (``own_uid``); on the daemon's shared uid it would starve the daemon."""
    mx = cfg.max_limits
    fsize = int(mx.max_file_size_mb * MIB)
    cpu = int(mx.cpu_s) + 30
    table = {"RLIMIT_CORE": (0, 0), "RLIMIT_NOFILE": (256, 256), "RLIMIT_FSIZE": (fsize, fsize),
             "RLIMIT_CPU": (cpu, cpu)}
    if own_uid:
        tasks = mx.max_processes + 16
        table["RLIMIT_NPROC"] = (tasks, tasks)
    return table


@dataclass
class LaunchSpec:
    """What the launcher does between the daemon's exec and the sandbox's: all of it is
    data, so the daemon side can be tested without running anything."""

    ctl_fd: int
    status_fd: int
    exit_fd: int
    workdir: str
    rlimits: dict[str, tuple[int, int]]
    argv: list[str]
    uid: int | None = None
    gid: int | None = None

    def to_json(self) -> str:
        return json.dumps({"ctl_fd": self.ctl_fd, "status_fd": self.status_fd, "exit_fd": self.exit_fd,
                           "workdir": self.workdir,
                           "rlimits": self.rlimits, "argv": self.argv, "uid": self.uid, "gid": self.gid})

    @classmethod
    def from_json(cls, text: str) -> LaunchSpec:
        data = json.loads(text)
        data["rlimits"] = {k: (int(v[0]), int(v[1])) for k, v in data["rlimits"].items()}
        return cls(**data)


def launch(spec: LaunchSpec) -> None:
    """Runs in the launcher process: descriptors to where init expects them, rlimits, umask,
    working directory, then the worker's uid, and finally exec of the sandboxed command."""
    # Copies above every target first, so that no dup2 can overwrite a source still needed.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in (spec.ctl_fd, spec.status_fd, spec.exit_fd)]
    for target, fd in zip((CTL_FD, STATUS_FD, EXIT_FD), high, strict=True):
        os.dup2(fd, target)  # inheritable, unlike the copies
    os.closerange(EXIT_FD + 1, min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], MAX_FD))
    for name, (soft, hard) in spec.rlimits.items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.umask(0o077)
    os.chdir(spec.workdir)
    if spec.uid is not None and spec.gid is not None:
        os.setgroups([])
        os.setgid(spec.gid)
        os.setuid(spec.uid)
    os.execv(spec.argv[0], spec.argv)


# --- libproc --------------------------------------------------------------------------------


@functools.cache
def _libproc() -> tuple[ctypes.CDLL, float]:
    """libproc and the mach tick length in ns (1 on Intel, 125/3 on Apple silicon)."""
    lib = ctypes.CDLL("/usr/lib/libproc.dylib", use_errno=True)
    lib.proc_listpids.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_int]
    lib.proc_pid_rusage.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    lib.proc_pidinfo.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int]
    system = ctypes.CDLL("/usr/lib/libSystem.dylib")
    timebase = MachTimebase()
    system.mach_timebase_info(ctypes.byref(timebase))
    return lib, timebase.numer / timebase.denom


def list_pids(kind: int, key: int) -> list[int]:
    """Processes by real uid (PROC_RUID_ONLY) or process group (PROC_PGRP_ONLY), retried
    with a larger buffer while it comes back full."""
    lib, _ = _libproc()
    size = max(lib.proc_listpids(kind, key, None, 0), 0)
    while True:
        count = size // ctypes.sizeof(ctypes.c_int) + 64
        buffer = (ctypes.c_int * count)()
        size = lib.proc_listpids(kind, key, buffer, ctypes.sizeof(buffer))
        if size < 0:
            return []
        if size < ctypes.sizeof(buffer):
            return [pid for pid in buffer[: size // ctypes.sizeof(ctypes.c_int)] if pid > 0]


@dataclass
class ProcessUsage:
    cpu_user_ns: int
    cpu_system_ns: int
    memory_bytes: int
    threads: int


def process_usage(pid: int) -> ProcessUsage | None:
    """One process's usage, children it has reaped included; None when it is already gone."""
    lib, tick_ns = _libproc()
    info = RusageInfoV2()
    if lib.proc_pid_rusage(pid, RUSAGE_INFO_V2, ctypes.byref(info)) != 0:
        return None
    task = ProcTaskInfo()
    threads = 1
    if lib.proc_pidinfo(pid, PROC_PIDTASKINFO, 0, ctypes.byref(task), ctypes.sizeof(task)) == ctypes.sizeof(task):
        threads = max(task.pti_threadnum, 1)
    return ProcessUsage(int((info.ri_user_time + info.ri_child_user_time) * tick_ns),
                        int((info.ri_system_time + info.ri_child_system_time) * tick_ns),
                        info.ri_phys_footprint, threads)


# --- one worker's containment ---------------------------------------------------------------


@dataclass
class UsageBook:
    """Cumulative usage of a run from samples of its live processes. A process's CPU time is
    kept at its last sampled value after it exits, so totals never fall; time it used after
    its last sample and before it was reaped is the part polling cannot see."""

    cpu: dict[int, tuple[int, int]] = field(default_factory=dict)
    peak_memory: int = 0

    def add(self, usages: dict[int, ProcessUsage]) -> Sample:
        for pid, u in usages.items():
            user, system = self.cpu.get(pid, (0, 0))
            self.cpu[pid] = (max(user, u.cpu_user_ns), max(system, u.cpu_system_ns))
        memory = sum(u.memory_bytes for u in usages.values())
        self.peak_memory = max(self.peak_memory, memory)
        return Sample(sum(c[0] for c in self.cpu.values()), sum(c[1] for c in self.cpu.values()), memory,
                      sum(u.threads for u in usages.values()))


@dataclass
class Watch:
    """The watchdog's decision, kept apart from signals and clocks so it can be tested: over
    the limit → SIGTERM; still alive a grace period later → SIGKILL."""

    memory_limit: int
    task_limit: int
    term_sent_at: float | None = None
    reason: str | None = None

    def decide(self, sample: Sample, now: float) -> int | None:
        if self.term_sent_at is not None:
            return signal.SIGKILL if now - self.term_sent_at >= TERM_GRACE_S else None
        if sample.memory_bytes > self.memory_limit:
            self.reason = "memory"
        elif sample.processes > self.task_limit:
            self.reason = "tasks"
        else:
            return None
        self.term_sent_at = now
        return signal.SIGTERM


class MacOSContainment(Containment):
    def __init__(self, process: subprocess.Popen[bytes], uid: int | None, workdir: str,
                 list_pids: Callable[[], list[int]] | None = None,
                 usage: Callable[[int], ProcessUsage | None] = process_usage) -> None:
        self.process = process
        self.uid = uid
        self.workdir = workdir
        self.list_pids = list_pids or self._default_pids
        self.usage = usage
        self.book = UsageBook()
        self.lock = threading.Lock()
        self.watch: Watch | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _default_pids(self) -> list[int]:
        """Every process of the worker's uid; without one (a daemon that is not root) the
        launcher's process group, which a run can leave with setsid."""
        if self.uid is not None:
            return list_pids(PROC_RUID_ONLY, self.uid)
        return list_pids(PROC_PGRP_ONLY, self.process.pid)

    def apply_limits(self, memory_bytes: int, max_tasks: int) -> None:
        self.watch = Watch(memory_bytes, max_tasks)
        self.thread = threading.Thread(target=self._watchdog, name=f"sandboxd-watch-{self.process.pid}",
                                       daemon=True)
        self.thread.start()

    def _watchdog(self) -> None:
        while not self.stop.wait(POLL_S):
            sample = self.sample()
            watch = self.watch
            sig = None if watch is None else watch.decide(sample, time.monotonic())
            if sig is not None:
                self._signal_all(sig)

    def sample(self) -> Sample:
        with self.lock:
            usages = {pid: u for pid in self.list_pids() if (u := self.usage(pid)) is not None}
            return self.book.add(usages)

    def peak_memory(self) -> int:
        return self.book.peak_memory

    def oom_kills(self) -> int:
        return 1 if self.watch is not None and self.watch.reason == "memory" else 0

    def pids_limit_hits(self) -> int:
        return 1 if self.watch is not None and self.watch.reason == "tasks" else 0

    def _signal_all(self, sig: int) -> None:
        for pid in self.list_pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        self._signal_all(signal.SIGKILL)

    def destroy(self) -> bool:
        """Kills until no process of the worker is left (a fork racing the first kill is caught
        by the next), reaps the launcher and removes the working directory."""
        self.stop.set()
        for _ in range(100):
            self.kill()
            self.process.poll()  # the launcher is ours to reap; a zombie still lists as a process
            if not self.list_pids():
                break
            time.sleep(0.01)
        else:
            return False
        shutil.rmtree(self.workdir, ignore_errors=True)
        return not os.path.exists(self.workdir)


# --- the backend ----------------------------------------------------------------------------


def interpreter_read_paths(interpreter: str) -> list[str]:
    """The installation an interpreter belongs to: ``…/bin/python3`` reads ``…/lib`` and more."""
    real = os.path.realpath(interpreter)
    prefix = os.path.dirname(os.path.dirname(real))
    return [prefix] if prefix not in ("/", "/usr") else [real]


def runner_argv(cfg: Config, language: str) -> list[str]:
    """The worker's command inside the sandbox. There is no fork server on macOS, so a
    ``fork``-mode language is started like ``exec`` mode: init plus a Python runner."""
    lang = cfg.languages[language]
    init = runner_source("init.py")
    if not lang.command:
        return [lang.interpreter, "-I", "-c", init, "python"]
    runner = runner_source(lang.runner) if lang.runner else ""
    command = [part.replace("{interpreter}", lang.interpreter).replace("{runner}", runner) for part in lang.command]
    return [cfg.sandbox.init_interpreter, "-I", "-S", "-c", init, "spawn", *command]


def capabilities(root: bool, sandbox_exec: bool) -> list[Capability]:
    per_uid = ("each worker runs as its own unprivileged uid" if root else
               "workers run as the daemon's own uid (not root): a run could signal the daemon's other "
               "processes outside Seatbelt's reach, and processes that call setsid escape counting")
    return [
        Capability("namespaces", False, "macOS has no namespaces: a run shares the host's process, "
                   "network and file-system views, restricted only by Seatbelt"),
        Capability("seatbelt", sandbox_exec, "sandbox-exec profile: deny by default; read interpreter "
                   "paths, read-write the worker's directory, exec only the interpreters, signal only "
                   "the same sandbox" if sandbox_exec else f"{SANDBOX_EXEC} not found"),
        Capability("network", sandbox_exec, "denied by the Seatbelt profile (network*)"
                   if sandbox_exec else "not restricted"),
        Capability("filesystem", sandbox_exec, f"private working directory under {WORK_ROOT}, removed "
                   "after the run; its size is not capped (only each file, by RLIMIT_FSIZE)"),
        Capability("rlimits", True, "CPU seconds, file size, open files, processes, core 0 — at the "
                   "configured maxima (macOS cannot lower another process's limits per run)"),
        Capability("cpu_limit", True, "per-run CPU time polled from libproc (at most ~0.1 s late); "
                   "RLIMIT_CPU backstop at the configured maximum"),
        Capability("memory_limit", False, "best effort: physical footprint polled every "
                   f"{POLL_S * 1000:.0f} ms, SIGTERM then SIGKILL after {TERM_GRACE_S} s; a fast "
                   "allocation can overshoot between polls; RLIMIT_AS is not enforced by macOS"),
        Capability("process_limit", root, "RLIMIT_NPROC of the worker's own uid at the configured "
                   "maximum, per-run count (processes + threads) polled" if root else
                   "not per run: RLIMIT_NPROC counts every process of the daemon's uid"),
        Capability("privileges", root, per_uid),
        Capability("seccomp", False, "macOS has no system-call filter; Seatbelt restricts operations "
                   "instead"),
        Capability("environment", True, "fixed minimal environment, descriptors closed, umask 077"),
    ]


class MacOSBackend(Backend):
    name = "macos"
    base_env = WORKER_ENV

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.root = os.geteuid() == 0
        self.counter = itertools.count()
        self.prefix = secrets.token_hex(3)
        interpreters = {cfg.sandbox.init_interpreter, *(lang.interpreter for lang in cfg.languages.values())}
        # Both spellings: argv names the configured path, Seatbelt matches the resolved one.
        self.exec_paths = sorted({p for i in interpreters for p in (i, os.path.realpath(i))})
        reads = [os.path.realpath(p) for p in (*SYSTEM_READ_PATHS, *cfg.sandbox.readonly_paths)
                 if os.path.exists(p)]
        for interpreter in interpreters:
            reads += interpreter_read_paths(interpreter)
        self.read_paths = sorted(set(reads))

    def capabilities(self) -> list[Capability]:
        return capabilities(self.root, os.access(SANDBOX_EXEC, os.X_OK))

    def check_required(self) -> None:
        if not os.access(SANDBOX_EXEC, os.X_OK):
            raise RuntimeError(f"{SANDBOX_EXEC} is missing: sandboxd cannot confine workers on this Mac")
        for name, lang in self.cfg.languages.items():
            if not os.access(lang.interpreter, os.X_OK):
                raise RuntimeError(f"languages.{name}.interpreter: {lang.interpreter} is not an executable file")

    def cleanup_leftovers(self) -> int:
        """Working directories of a crashed daemon, and whatever still runs as their uids."""
        try:
            names = os.listdir(WORK_ROOT)
        except FileNotFoundError:
            return 0
        for name in names:
            uid = _uid_of(name)
            if uid is not None and self.root:
                for pid in list_pids(PROC_RUID_ONLY, uid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            shutil.rmtree(os.path.join(WORK_ROOT, name), ignore_errors=True)
        return len(names)

    def _uid(self, seq: int) -> tuple[int, int] | tuple[None, None]:
        sb = self.cfg.sandbox
        if not self.root:
            return None, None
        uid = sb.uid_base + seq % sb.uid_count
        return uid, uid

    async def build_worker(self, language: str) -> Worker:
        started = time.monotonic()
        seq = next(self.counter)
        worker_id = f"{self.prefix}-{seq}"
        uid, gid = self._uid(seq)
        workdir = os.path.join(WORK_ROOT, f"w-{uid if uid is not None else 'own'}-{worker_id}")
        try:
            os.makedirs(WORK_ROOT, mode=0o711, exist_ok=True)
            os.mkdir(workdir, 0o700)
            if uid is not None and gid is not None:
                os.chown(workdir, uid, gid)
        except OSError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise BuildError(f"{language} worker {worker_id}: creating its working directory failed: {exc}") from exc
        profile = seatbelt_profile(self.read_paths, self.exec_paths, workdir)
        pipes = [os.pipe() for _ in range(6)]  # stdin, stdout, stderr, control, status, exit
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][0], pipes[4][1], pipes[5][1]]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][1], pipes[4][0], pipes[5][0]]
        spec = LaunchSpec(theirs[3], theirs[4], theirs[5], workdir, rlimit_table(self.cfg, uid is not None),
                          profile.argv(runner_argv(self.cfg, language)), uid, gid)
        try:
            process = subprocess.Popen(  # vfork + exec: no preexec_fn in the gRPC process
                [sys.executable, "-I", "-m", "sandboxd.backend.macos", spec.to_json()],
                stdin=theirs[0], stdout=theirs[1], stderr=theirs[2], pass_fds=theirs[3:],
                close_fds=True, start_new_session=True, env={"PATH": "/usr/bin:/bin"})
        except OSError as exc:
            for fd in theirs + ours:
                close_quietly(fd)
            shutil.rmtree(workdir, ignore_errors=True)
            raise BuildError(f"cannot start the worker launcher: {exc}") from exc
        for fd in theirs:
            close_quietly(fd)
        containment = MacOSContainment(process, uid, workdir)
        status = StatusChannel(ours[4], ours[5])
        try:
            for fd in ours[:4]:
                os.set_blocking(fd, False)
            ready = await status.next(BUILD_TIMEOUT_S)
            if not ready or not ready.get("ready"):
                raise BuildError(str((ready or {}).get("error", "worker exited before it was ready")))
            baseline = containment.sample()
        except BaseException as exc:
            for fd in ours[:4]:
                close_quietly(fd)
            status.close()
            await asyncio.get_running_loop().run_in_executor(None, containment.destroy)
            if isinstance(exc, TimeoutError):
                raise BuildError("worker build timed out") from exc
            raise
        return Worker(worker_id, language, ours[0], ours[1], ours[2], ours[3], status, containment,
                      build_ms=(time.monotonic() - started) * 1000, baseline=baseline)


def _uid_of(name: str) -> int | None:
    parts = name.split("-")
    if len(parts) >= 2 and parts[0] == "w" and parts[1].isdigit():
        return int(parts[1])
    return None


def main(argv: list[str]) -> int:
    """The launcher's entry point: ``python -I -m sandboxd.backend.macos SPEC``."""
    if len(argv) != 1:
        print("usage: python -m sandboxd.backend.macos SPEC_JSON", file=sys.stderr)
        return 2
    try:
        launch(LaunchSpec.from_json(argv[0]))
    except OSError as exc:
        message = json.dumps({"error": f"worker launch failed: {exc.strerror or exc}"}) + "\n"
        try:
            os.write(STATUS_FD, message.encode())
        except OSError as write_exc:
            if write_exc.errno != errno.EBADF:
                raise
        return 1
    return 0  # not reached: launch() ends in exec


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
