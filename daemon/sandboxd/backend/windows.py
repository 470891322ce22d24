"""Windows: Job Objects for a run's memory, CPU and process limits, with kill-on-close.

A Job Object is the one kernel mechanism Windows has for treating a process tree as a unit:
every process a run starts is in the job (breakaway is not allowed), the job's memory and
user-CPU limits cover them all together, ``ActiveProcessLimit`` caps how many exist at once,
and ``KILL_ON_JOB_CLOSE`` means closing the daemon's handle — including the daemon dying —
kills whatever is left. Limit hits arrive as messages on an I/O completion port tied to the
job, so a memory-limit kill is known, not guessed from an exit code.

What Windows does not give this daemon, and `capabilities` says so:

- **Transport.** grpcio offers no named-pipe transport (grpc#13447) and no AF_UNIX from
  Python on Windows, so clients would reach the daemon over loopback TCP with a token file
  readable only by allowed users — every local process can connect to the port, and the token
  is the whole access check.
- **Run I/O.** The run driver streams a worker's output with ``add_reader`` on pipe
  descriptors, which asyncio supports only for sockets on Windows, and the worker's init
  relies on fork and inherited descriptor numbers. Until a socket-based worker protocol
  exists the backend refuses to start (`check_required`) rather than run code unconfined.
- **Isolation.** No file-system or network restriction (that would need AppContainer or a
  restricted token), no system-call filter, threads are not counted by the process limit, and
  the job CPU limit counts user time only.

The structure layouts below are the 64-bit Windows ones; they are built with fixed-width
ctypes so that they pack identically, and are unit-tested, on Linux. Everything that calls
kernel32 is imported lazily.
"""

from __future__ import annotations

import ctypes
import functools
import subprocess
from typing import Any

from ..config import Config
from . import Backend, BuildError, Capability, Containment, Sample

# winnt.h: JOBOBJECTINFOCLASS
JOB_OBJECT_BASIC_ACCOUNTING_INFORMATION = 1
JOB_OBJECT_ASSOCIATE_COMPLETION_PORT_INFORMATION = 7
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9
# LimitFlags
JOB_OBJECT_LIMIT_JOB_TIME = 0x00000004
JOB_OBJECT_LIMIT_ACTIVE_PROCESS = 0x00000008
JOB_OBJECT_LIMIT_JOB_MEMORY = 0x00000200
JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION = 0x00000400
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
# Completion-port messages
JOB_OBJECT_MSG_END_OF_JOB_TIME = 1
JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT = 3
JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT = 9
JOB_OBJECT_MSG_JOB_MEMORY_LIMIT = 10
INFINITE_PORT_THREADS = 1
HUNDRED_NS = 100
KILLED_EXIT_CODE = 0xC000013A  # STATUS_CONTROL_C_EXIT, what TerminateJobObject leaves behind

DWORD = ctypes.c_uint32
LARGE_INTEGER = ctypes.c_int64
SIZE_T = ctypes.c_uint64
ULONG_PTR = ctypes.c_uint64
ULONGLONG = ctypes.c_uint64
HANDLE = ctypes.c_uint64


class JobObjectBasicLimitInformation(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", LARGE_INTEGER),
        ("PerJobUserTimeLimit", LARGE_INTEGER),
        ("LimitFlags", DWORD),
        ("MinimumWorkingSetSize", SIZE_T),
        ("MaximumWorkingSetSize", SIZE_T),
        ("ActiveProcessLimit", DWORD),
        ("Affinity", ULONG_PTR),
        ("PriorityClass", DWORD),
        ("SchedulingClass", DWORD),
    ]


class IoCounters(ctypes.Structure):
    _fields_ = [(name, ULONGLONG) for name in (
        "ReadOperationCount", "WriteOperationCount", "OtherOperationCount", "ReadTransferCount",
        "WriteTransferCount", "OtherTransferCount",
    )]


class JobObjectExtendedLimitInformation(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", JobObjectBasicLimitInformation),
        ("IoInfo", IoCounters),
        ("ProcessMemoryLimit", SIZE_T),
        ("JobMemoryLimit", SIZE_T),
        ("PeakProcessMemoryUsed", SIZE_T),
        ("PeakJobMemoryUsed", SIZE_T),
    ]


class JobObjectBasicAccountingInformation(ctypes.Structure):
    _fields_ = [
        ("TotalUserTime", LARGE_INTEGER),
        ("TotalKernelTime", LARGE_INTEGER),
        ("ThisPeriodTotalUserTime", LARGE_INTEGER),
        ("ThisPeriodTotalKernelTime", LARGE_INTEGER),
        ("TotalPageFaultCount", DWORD),
        ("TotalProcesses", DWORD),
        ("ActiveProcesses", DWORD),
        ("TotalTerminatedProcesses", DWORD),
    ]


class JobObjectAssociateCompletionPort(ctypes.Structure):
    _fields_ = [("CompletionKey", ctypes.c_uint64), ("CompletionPort", HANDLE)]


def limit_information(memory_bytes: int, cpu_seconds: float, max_processes: int) -> JobObjectExtendedLimitInformation:
    """The job's limits for one run: memory of all its processes together, user CPU time of
    all of them (in 100 ns units), processes alive at once; killed when the handle closes, and
    a crashing process dies instead of waiting on an error dialog."""
    info = JobObjectExtendedLimitInformation()
    basic = info.BasicLimitInformation
    basic.LimitFlags = (JOB_OBJECT_LIMIT_JOB_MEMORY | JOB_OBJECT_LIMIT_JOB_TIME | JOB_OBJECT_LIMIT_ACTIVE_PROCESS
                        | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION)
    basic.PerJobUserTimeLimit = int(cpu_seconds * 1e9 / HUNDRED_NS)
    basic.ActiveProcessLimit = max_processes
    info.JobMemoryLimit = memory_bytes
    return info


class JobEvents:
    """Counts the limit messages the job posts to its completion port."""

    def __init__(self) -> None:
        self.memory = 0
        self.processes = 0
        self.cpu = 0

    def record(self, message: int) -> None:
        if message in (JOB_OBJECT_MSG_JOB_MEMORY_LIMIT, JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT):
            self.memory += 1
        elif message == JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT:
            self.processes += 1
        elif message == JOB_OBJECT_MSG_END_OF_JOB_TIME:
            self.cpu += 1


@functools.cache
def _kernel32() -> Any:
    """kernel32 with the signatures used here; only on Windows."""
    from ctypes import wintypes

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    k32.CreateJobObjectW.restype = wintypes.HANDLE
    k32.CreateJobObjectW.argtypes = [wintypes.LPVOID, wintypes.LPCWSTR]
    k32.SetInformationJobObject.argtypes = [wintypes.HANDLE, ctypes.c_int, wintypes.LPVOID, wintypes.DWORD]
    k32.QueryInformationJobObject.argtypes = [wintypes.HANDLE, ctypes.c_int, wintypes.LPVOID, wintypes.DWORD,
                                              wintypes.LPVOID]
    k32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
    k32.TerminateJobObject.argtypes = [wintypes.HANDLE, wintypes.UINT]
    k32.CreateIoCompletionPort.restype = wintypes.HANDLE
    k32.CreateIoCompletionPort.argtypes = [wintypes.HANDLE, wintypes.HANDLE, ctypes.c_size_t, wintypes.DWORD]
    k32.GetQueuedCompletionStatus.argtypes = [wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD),
                                              ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(wintypes.LPVOID),
                                              wintypes.DWORD]
    k32.CloseHandle.argtypes = [wintypes.HANDLE]
    return k32


def _check(ok: int, what: str) -> None:
    if not ok:
        raise ctypes.WinError(ctypes.get_last_error(), what)  # type: ignore[attr-defined]


class JobContainment(Containment):
    """One worker's job: created empty, the worker's process assigned before it is given any
    code, limits set per run at hand-over."""

    def __init__(self, cpu_backstop_s: float) -> None:
        k32 = _kernel32()
        self.job = k32.CreateJobObjectW(None, None)
        _check(self.job, "CreateJobObjectW")
        self.port = k32.CreateIoCompletionPort(ctypes.c_void_p(-1).value, None, 0, INFINITE_PORT_THREADS)
        _check(self.port, "CreateIoCompletionPort")
        assoc = JobObjectAssociateCompletionPort(0, self.port)
        _check(k32.SetInformationJobObject(self.job, JOB_OBJECT_ASSOCIATE_COMPLETION_PORT_INFORMATION,
                                           ctypes.byref(assoc), ctypes.sizeof(assoc)), "associate port")
        self.events = JobEvents()
        self.cpu_backstop_s = cpu_backstop_s

    def assign(self, process: subprocess.Popen[bytes]) -> None:
        handle = int(process._handle)  # type: ignore[attr-defined]  # Popen's process handle on Windows
        _check(_kernel32().AssignProcessToJobObject(self.job, handle), "AssignProcessToJobObject")

    def apply_limits(self, memory_bytes: int, max_tasks: int) -> None:
        """Memory and processes are the run's own; the job's CPU limit is a backstop at the
        configured maximum, since the interface hands a run's CPU seconds to the runner (and
        the run driver polls them), as on every platform."""
        info = limit_information(memory_bytes, self.cpu_backstop_s, max_tasks)
        _check(_kernel32().SetInformationJobObject(self.job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION,
                                                   ctypes.byref(info), ctypes.sizeof(info)),
               "SetInformationJobObject")

    def _query(self, klass: int, info: ctypes.Structure) -> None:
        _check(_kernel32().QueryInformationJobObject(self.job, klass, ctypes.byref(info), ctypes.sizeof(info),
                                                     None), "QueryInformationJobObject")

    def _drain_events(self) -> None:
        from ctypes import wintypes

        k32 = _kernel32()
        message, key, overlapped = wintypes.DWORD(), ctypes.c_size_t(), wintypes.LPVOID()
        while k32.GetQueuedCompletionStatus(self.port, ctypes.byref(message), ctypes.byref(key),
                                            ctypes.byref(overlapped), 0):
            self.events.record(message.value)

    def sample(self) -> Sample:
        acct = JobObjectBasicAccountingInformation()
        self._query(JOB_OBJECT_BASIC_ACCOUNTING_INFORMATION, acct)
        limits = JobObjectExtendedLimitInformation()
        self._query(JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, limits)
        # The job reports only its peak commit charge; it is the closest to current use it has.
        return Sample(acct.TotalUserTime * HUNDRED_NS, acct.TotalKernelTime * HUNDRED_NS,
                      limits.PeakJobMemoryUsed, acct.ActiveProcesses)

    def peak_memory(self) -> int:
        limits = JobObjectExtendedLimitInformation()
        self._query(JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, limits)
        return int(limits.PeakJobMemoryUsed)

    def oom_kills(self) -> int:
        self._drain_events()
        return self.events.memory

    def pids_limit_hits(self) -> int:
        self._drain_events()
        return self.events.processes

    def kill(self) -> None:
        _kernel32().TerminateJobObject(self.job, KILLED_EXIT_CODE)

    def destroy(self) -> bool:
        k32 = _kernel32()
        self.kill()
        job_closed = bool(k32.CloseHandle(self.job))
        port_closed = bool(k32.CloseHandle(self.port))
        return job_closed and port_closed


def capabilities() -> list[Capability]:
    return [
        Capability("transport", False, "grpcio has no named pipes (grpc#13447) and no AF_UNIX on Windows: "
                   "clients would connect over loopback TCP with a token file readable only by allowed "
                   "users; any local process can reach the port"),
        Capability("workers", False, "not available: the run driver needs a socket-based worker protocol on "
                   "Windows (asyncio watches only sockets there; init needs fork); the daemon refuses to start"),
        Capability("job_objects", True, "one Job Object per worker: memory of all processes together, "
                   "processes alive at once, kill-on-close, no breakaway, limit hits reported through a "
                   "completion port"),
        Capability("cpu_limit", True, "per-run CPU time polled from the job's accounting; a job user-time "
                   "limit at the configured maximum as the kernel-enforced backstop"),
        Capability("process_limit", True, "ActiveProcessLimit counts processes, not threads"),
        Capability("filesystem", False, "no restriction: a run sees what its user account sees "
                   "(AppContainer or a restricted token would be needed)"),
        Capability("network", False, "no restriction"),
        Capability("seccomp", False, "Windows has no system-call filter"),
        Capability("environment", True, "fixed minimal environment; handles not inherited"),
    ]


class WindowsBackend(Backend):
    name = "windows"
    base_env = {"PATH": r"C:\Windows\System32", "LANG": "C.UTF-8"}

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def capabilities(self) -> list[Capability]:
        return capabilities()

    def check_required(self) -> None:
        raise RuntimeError("sandboxd cannot run workers on Windows yet: Job Object limits are implemented "
                           "(sandboxd.backend.windows), but the run driver has no Windows worker transport; "
                           "refusing to start rather than run code without its limits")

    async def build_worker(self, language: str):  # -> worker.Worker
        raise BuildError(f"{language}: no Windows worker transport (see `sandboxctl capabilities`)")
