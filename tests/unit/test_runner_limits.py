"""The daemon's prlimit on a spawned runner (backend/linux.py), against real processes."""

from __future__ import annotations

import os
import resource
import subprocess
from typing import cast

from sandboxd.backend.linux import LinuxContainment, Runner
from sandboxd.linux import cgroups


def containment_of(runner: Runner) -> LinuxContainment:
    c = LinuxContainment(cast(cgroups.RunCgroup, None), None)  # limit_runner needs no cgroup
    c.runner = runner
    return c


def test_the_runner_gets_the_runs_limits_plus_what_it_used_to_start(sleeper: subprocess.Popen[bytes]) -> None:
    pidfd = os.pidfd_open(sleeper.pid)
    try:
        containment_of(Runner(sleeper.pid, pidfd, cpu_s=1.5)).limit_runner(2.0, 1 << 20)
    finally:
        os.close(pidfd)
    assert resource.prlimit(sleeper.pid, resource.RLIMIT_CPU) == (4, 5)
    assert resource.prlimit(sleeper.pid, resource.RLIMIT_FSIZE) == (1 << 20, 1 << 20)


def test_a_runner_that_has_exited_is_left_alone_whoever_has_its_pid_now(
        sleeper: subprocess.Popen[bytes]) -> None:
    """Its pidfd says it is gone: the pid may be another process's by now (here: the sleeper's)."""
    dead = subprocess.Popen(["true"])
    pidfd = os.pidfd_open(dead.pid)
    dead.wait()
    before = resource.prlimit(sleeper.pid, resource.RLIMIT_CPU), resource.prlimit(sleeper.pid, resource.RLIMIT_FSIZE)
    try:
        containment_of(Runner(sleeper.pid, pidfd, cpu_s=0.0)).limit_runner(2.0, 1 << 20)
    finally:
        os.close(pidfd)
    after = resource.prlimit(sleeper.pid, resource.RLIMIT_CPU), resource.prlimit(sleeper.pid, resource.RLIMIT_FSIZE)
    assert after == before
