"""Turns what was observed at the end of a run into one SPEC status.

Pure logic, kept apart from the run loop so every rule has a unit test.
"""

from __future__ import annotations

import signal as signals
from dataclasses import dataclass


@dataclass(frozen=True)
class Observation:
    kill_reason: str | None      # set when the daemon ended the run: timeout, cpu_limit, output_limit, killed
    exit_code: int | None
    signal: int | None
    oom_kills: int
    pids_limit_hits: int
    cpu_s: float
    cpu_limit_s: float
    worker_error: str | None = None
    # The worker's pid 1 caught a forbidden system call (Linux: its seccomp listener) and
    # killed the run. A bare SIGSYS is not proof of one: any program can raise it on itself.
    violation: bool = False


def classify(o: Observation) -> str:
    if o.violation:
        return "security_violation"
    if o.kill_reason:
        return o.kill_reason
    if o.oom_kills > 0:
        return "memory_limit"
    if o.signal == signals.SIGXCPU or (o.signal == signals.SIGKILL and o.cpu_s >= o.cpu_limit_s):
        return "cpu_limit"
    if o.signal == signals.SIGXFSZ:
        return "file_size_limit"
    failed = o.signal is not None or (o.exit_code not in (None, 0))
    if o.pids_limit_hits > 0 and failed:
        return "process_limit"
    if o.signal is not None:
        return "killed"
    if o.exit_code is not None:
        return "ok"
    return "error"



def violation_error(violation: dict[str, object]) -> str:
    """The `error` of a security_violation: the forbidden call a Linux worker's pid 1 caught
    through its seccomp listener ({"nr", "arch", "pid"}), named by libseccomp."""
    nr, arch = violation.get("nr"), violation.get("arch")
    if isinstance(nr, int) and isinstance(arch, int):
        from .linux.seccomp_policy import describe_violation

        return describe_violation(nr, arch)
    return "a forbidden system call (its caller was gone before it could be named): the run was killed"
