"""The one interface between the platform-neutral daemon and each platform's isolation.

A backend is chosen once at start-up (`select`). It builds workers and reports, honestly,
which isolation layers it enforces on this host.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..config import Config


@dataclass(frozen=True)
class Capability:
    layer: str
    enforced: bool
    detail: str


@dataclass
class Sample:
    cpu_user_ns: int
    cpu_system_ns: int
    memory_bytes: int
    processes: int


class Containment(ABC):
    """The platform's grip on one worker: limits, usage and a kill that reaches everything."""

    @abstractmethod
    def apply_limits(self, memory_bytes: int, max_tasks: int) -> None:
        """Per-run limits of the whole worker, set at hand-over (a Python runner's own rlimits
        travel with the request: see runners/init.py)."""
    def limit_runner(self, cpu_s: float, file_size_bytes: int) -> None:
        """The run's rlimits on a runner that cannot set its own (Node), set at hand-over where
        the platform can set another process's: Linux. Elsewhere such a runner keeps the
        worker's maxima, and the run driver's CPU polling and the platform's limits hold."""
        return None
    @abstractmethod
    def sample(self) -> Sample: ...
    @abstractmethod
    def peak_memory(self) -> int: ...
    @abstractmethod
    def oom_kills(self) -> int: ...
    @abstractmethod
    def pids_limit_hits(self) -> int: ...
    def peak_processes(self) -> int | None:
        """The kernel's own high-water mark of the worker's tasks, where it keeps one:
        sampling alone misses short-lived processes and threads."""
        return None
    @abstractmethod
    def kill(self) -> None: ...
    @abstractmethod
    def destroy(self) -> bool:
        """Kills what is left and releases everything; blocking, run it off the loop."""


class BuildError(RuntimeError):
    pass


class Backend(ABC):
    name: str
    base_env: dict[str, str]
    """The fixed environment every run starts from; the request's --env is laid over it."""

    @abstractmethod
    def capabilities(self) -> list[Capability]: ...

    @abstractmethod
    def check_required(self) -> None:
        """Raises with an operator-facing message when the config demands a layer this host lacks."""

    @abstractmethod
    async def build_worker(self, language: str):  # -> worker.Worker
        ...

    def cleanup_leftovers(self) -> int:
        return 0

    def close(self) -> None:
        return None

    def release(self) -> None:
        """At exit, once no worker is left: removes what the backend made for the daemon
        itself, where nothing else uses it."""
        return None


def select(cfg: Config) -> Backend:
    if sys.platform.startswith("linux"):
        from .linux import LinuxBackend

        return LinuxBackend(cfg)
    if sys.platform == "darwin":
        from .macos import MacOSBackend

        return MacOSBackend(cfg)
    if sys.platform == "win32":
        from .windows import WindowsBackend

        return WindowsBackend(cfg)
    raise RuntimeError(f"unsupported platform {sys.platform!r}")
