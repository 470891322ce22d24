"""Validates a request before anything runs. Bad input is refused with a message that names
the field (and the CLI flag) and the allowed range; nothing is silently clamped."""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass

from .config import Config
from .result import RunLimits, RunSpec

MIB = 1 << 20
NAME_MAX = 255
PATH_MAX = 4095

# request field -> (CLI flag, unit, name in config.Limits, whole numbers only). Whether a
# limit takes fractions is fixed here, not read from the config's values: a TOML default of
# `timeout_s = 10` is an int, yet SPEC allows fractional seconds.
LIMIT_FIELDS: dict[str, tuple[str, str, str, bool]] = {
    "memory_mb": ("--memory-limit", "MB", "memory_mb", False),
    "cpu_seconds": ("--cpu-limit", "seconds", "cpu_s", False),
    "timeout_seconds": ("--timeout", "seconds", "timeout_s", False),
    "max_processes": ("--max-processes", "processes", "max_processes", True),
    "max_file_size_mb": ("--max-file-size", "MB", "max_file_size_mb", False),
    "max_output_bytes": ("--max-output", "bytes", "max_output_bytes", True),
}


class Rejected(ValueError):
    """The request is invalid; the message is for the person who sent it."""


@dataclass(frozen=True)
class RawRequest:
    language: str
    code: bytes
    filename: str
    stdin: bytes
    args: list[str]
    env: dict[str, str]
    files: dict[str, bytes]
    limits: dict[str, float | int | None]


def _limit(cfg: Config, field: str, value: float | int | None) -> float:
    flag, unit, key, whole = LIMIT_FIELDS[field]
    default = getattr(cfg.limits, key)
    maximum = getattr(cfg.max_limits, key)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value) or math.isinf(value):
        raise Rejected(f"{flag}: not a number: {value!r}")
    if value <= 0 or value > maximum:
        raise Rejected(f"{flag}: must be > 0 and <= {maximum:g} {unit}, got {value:g}")
    if whole and value != int(value):
        raise Rejected(f"{flag}: must be a whole number of {unit}, got {value:g}")
    return value


def check_file_name(name: str) -> str:
    if not name or "\0" in name or name.startswith("/") or "\\" in name:
        raise Rejected(f"--file: {name!r} must be a relative path")
    norm = posixpath.normpath(name)
    if norm in (".", "..") or norm.startswith("../") or any(p in ("", ".", "..") for p in name.split("/")):
        raise Rejected(f"--file: {name!r} must not contain '.', '..' or empty components")
    _check_name_length("--file", norm)
    return norm


def _ancestors(directory: str) -> list[str]:
    """"a/b/c" -> ["a", "a/b", "a/b/c"]."""
    parts = directory.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _check_name_length(flag: str, name: str) -> None:
    """Refused here rather than failing inside the worker, where it would look like the
    program's own error: the kernel takes at most NAME_MAX bytes per component."""
    if any(len(part.encode()) > NAME_MAX for part in name.split("/")) or len(name.encode()) > PATH_MAX:
        raise Rejected(f"{flag}: {name[:40]!r}... is too long (at most {NAME_MAX} bytes per name, "
                       f"{PATH_MAX} in all)")


def admit(cfg: Config, raw: RawRequest) -> RunSpec:
    if raw.language not in cfg.languages:
        known = ", ".join(sorted(cfg.languages))
        raise Rejected(f"unknown language {raw.language!r} (available: {known})")
    caps = cfg.requests
    if not raw.code.strip():
        raise Rejected("the program is empty")
    if len(raw.code) > caps.max_code_bytes:
        raise Rejected(f"the program is {len(raw.code)} bytes; the limit is {caps.max_code_bytes}")
    if len(raw.stdin) > caps.max_stdin_bytes:
        raise Rejected(f"--stdin: {len(raw.stdin)} bytes; the limit is {caps.max_stdin_bytes}")
    if len(raw.args) > caps.max_args:
        raise Rejected(f"--arg: {len(raw.args)} arguments; the limit is {caps.max_args}")
    if any("\0" in a for a in raw.args):
        raise Rejected("--arg: arguments must not contain NUL bytes")
    if len(raw.env) > caps.max_env:
        raise Rejected(f"--env: {len(raw.env)} variables; the limit is {caps.max_env}")
    for key, value in raw.env.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise Rejected(f"--env: invalid variable {key!r} (KEY=VALUE, no NUL bytes)")
    if len(raw.files) > caps.max_files:
        raise Rejected(f"--file: {len(raw.files)} files; the limit is {caps.max_files}")
    total = sum(len(v) for v in raw.files.values())
    if total > caps.max_files_bytes:
        raise Rejected(f"--file: {total} bytes in all; the limit is {caps.max_files_bytes}")
    files: dict[str, bytes] = {}
    for name, data in raw.files.items():
        norm = check_file_name(name)
        if norm in files:
            raise Rejected(f"--file: {name!r} given twice")
        files[norm] = data
    directories = {posixpath.dirname(n) for n in files} - {""}
    parents = {d for n in directories for d in _ancestors(n)}
    for norm in files:
        if norm in parents:
            raise Rejected(f"--file: {norm!r} is both a file and the directory of another file")
    lang = cfg.languages[raw.language]
    filename = raw.filename or ("main" + (lang.extensions[0] if lang.extensions else ""))
    filename = posixpath.basename(filename)
    if not filename or filename in (".", "..") or "\0" in filename:
        raise Rejected(f"invalid program file name {raw.filename!r}")
    _check_name_length("program file name", filename)
    if filename in files or filename in parents:
        raise Rejected(f"--file: {filename!r} would overwrite the program itself")
    values = {f: _limit(cfg, f, raw.limits.get(f)) for f in LIMIT_FIELDS}
    # The worker writes these before the program starts, some before the run's file size
    # limit is in force (runners/node_runner.js): refused here, by name, instead.
    max_file = values["max_file_size_mb"] * MIB
    for name, data in [(filename, raw.code), *files.items()]:
        if len(data) > max_file:
            what = "the program" if name == filename else f"--file: {name!r}"
            raise Rejected(f"{what} is {len(data)} bytes, more than --max-file-size "
                           f"({values['max_file_size_mb']:g} MB)")
    limits = RunLimits(
        memory_bytes=int(values["memory_mb"] * MIB),
        cpu_s=float(values["cpu_seconds"]),
        timeout_s=float(values["timeout_seconds"]),
        max_processes=int(values["max_processes"]),
        max_file_size_bytes=int(values["max_file_size_mb"] * MIB),
        max_output_bytes=int(values["max_output_bytes"]),
    )
    return RunSpec(raw.language, raw.code, filename, raw.stdin, list(raw.args), dict(raw.env),
                   files, limits)
