"""The result of one run, shaped exactly like SPEC's `--json` object."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "line": self.line, "col": self.col,
                "message": self.message}


@dataclass
class Result:
    id: str
    status: str
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    usage: Usage
    lint: list[Finding] = field(default_factory=list)
    warm_start: bool = False
    error: str | None = None
    stdout_bytes: bytes = field(default=b"", repr=False)
    stderr_bytes: bytes = field(default=b"", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "exit_code": self.exit_code, "signal": self.signal,
            "stdout": self.stdout, "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated, "stderr_truncated": self.stderr_truncated,
            "usage": asdict(self.usage), "lint": [f.to_dict() for f in self.lint],
            "warm_start": self.warm_start, "error": self.error,
        }

    @property
    def cli_exit_code(self) -> int:
        """SPEC: the program's code; 128+N when killed by signal N; 124 on a wall-clock
        timeout; 125 when the sandbox failed or refused."""
        if self.status == "timeout":
            return 124
        if self.status in ("rejected", "error"):
            return 125
        if self.signal is not None:
            return 128 + self.signal
        if self.exit_code is not None:
            return self.exit_code
        return 125


def rejected(message: str, findings: list[Finding] | None = None) -> Result:
    """A local stand-in for a request the daemon (or the CLI) refused: nothing ran."""
    return Result(id="", status="rejected", exit_code=None, signal=None, stdout="", stderr="",
                  stdout_truncated=False, stderr_truncated=False, usage=Usage(),
                  lint=findings or [], warm_start=False, error=message)
