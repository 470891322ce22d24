"""What a run is asked to do and what it produced, independent of gRPC.

Usage and Finding are the client library's own types: the daemon fills in exactly what the
client reads back, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandboxctl.result import Finding, Usage

__all__ = ["STATUSES", "Finding", "RunLimits", "RunResult", "RunSpec", "Usage"]

STATUSES = ("ok", "timeout", "cpu_limit", "memory_limit", "output_limit", "file_size_limit",
            "process_limit", "security_violation", "killed", "rejected", "error")


@dataclass(frozen=True)
class RunLimits:
    memory_bytes: int
    cpu_s: float
    timeout_s: float
    max_processes: int
    max_file_size_bytes: int
    max_output_bytes: int


@dataclass(frozen=True)
class RunSpec:
    language: str
    code: bytes
    filename: str
    stdin: bytes
    args: list[str]
    env: dict[str, str]
    files: dict[str, bytes]
    limits: RunLimits


@dataclass
class RunResult:
    id: str
    status: str
    exit_code: int | None = None
    signal: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    usage: Usage = field(default_factory=Usage)
    lint: list[Finding] = field(default_factory=list)
    warm_start: bool = False
    error: str | None = None
