"""A built worker as the daemon holds it: its pipes, its status channel, its containment."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .backend import Containment, Sample
from .pipes import StatusChannel, close_quietly


@dataclass
class Worker:
    id: str
    language: str
    stdin_fd: int
    stdout_fd: int
    stderr_fd: int
    ctl_fd: int
    status: StatusChannel
    containment: Containment
    build_ms: float
    baseline: Sample  # usage of the idle, ready worker: a run is charged only beyond it
    ready_at: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        """An idle worker that closed its status pipe or spoke out of turn is dead or stale."""
        return not self.status.closed and self.status.messages.empty()

    def close_fds(self) -> None:
        for fd in (self.stdin_fd, self.stdout_fd, self.stderr_fd, self.ctl_fd):
            close_quietly(fd)
        self.status.close()
