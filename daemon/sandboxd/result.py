"""What a run is asked to do and what it produced, independent of gRPC."""

from __future__ import annotations

from dataclasses import dataclass, field

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
class Usage:
    wall_ms: float = 0.0
    cpu_user_ms: float = 0.0
    cpu_system_ms: float = 0.0
    peak_memory_bytes: int = 0
    avg_memory_bytes: int = 0
    max_processes: int = 0
    stdout_bytes: int = 0
    stderr_bytes: int = 0


@dataclass
class Finding:
    rule: str
    severity: str
    line: int
    col: int
    message: str


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
