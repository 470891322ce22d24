"""Daemon configuration: dataclasses loaded from TOML, refused loudly when wrong.

Unknown keys and values of the wrong type or range are errors naming the file, the key and
the reason; nothing is silently ignored or clamped.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin, get_type_hints

DEFAULT_CONFIG = "/etc/sandboxd/sandboxd.toml"
DEFAULT_SOCKET = "/run/sandboxd/sandboxd.sock"
LINT_POLICIES = ("off", "warn", "deny")
LOG_LEVELS = ("debug", "info", "warning", "error")
LANDLOCK_MODES = ("required", "best", "off")


class ConfigError(ValueError):
    """A configuration problem, phrased for the operator who has to fix the file."""


@dataclass
class Limits:
    memory_mb: float = 256
    cpu_s: float = 5
    timeout_s: float = 10
    max_processes: int = 64
    max_file_size_mb: float = 16
    max_output_bytes: int = 1 << 20


def _default_maxima() -> Limits:
    return Limits(memory_mb=4096, cpu_s=120, timeout_s=600, max_processes=1024,
                  max_file_size_mb=1024, max_output_bytes=64 << 20)


@dataclass
class LanguageConfig:
    """One language is data: an interpreter, how to start its runner, a pool size.

    `command` is the runner's argv inside the sandbox; `{interpreter}` and `{runner}` (the
    runner file's source text) are substituted. Without a command the worker's init runs
    Python code itself: `mode = "fork"` forks it from the daemon's already-warm fork server
    (the interpreter must be the daemon's own), `mode = "exec"` starts `interpreter` afresh.
    """

    interpreter: str
    extensions: list[str]
    pool_size: int = 2
    mode: str = "exec"
    runner: str = ""
    command: list[str] = field(default_factory=list)
    memory_floor_mb: float = 0


@dataclass
class SandboxConfig:
    seccomp: bool = True
    landlock: str = "best"
    readonly_paths: list[str] = field(default_factory=lambda: ["/usr", "/bin", "/lib", "/lib64"])
    workdir_size_mb: int = 256
    tmp_size_mb: int = 64
    uid_base: int = 1_800_000_000
    uid_count: int = 65536
    cgroup_name: str = "sandboxd"
    init_interpreter: str = "/usr/bin/python3"


@dataclass
class RequestCaps:
    max_code_bytes: int = 1 << 20
    max_stdin_bytes: int = 16 << 20
    max_files: int = 64
    max_files_bytes: int = 32 << 20
    max_args: int = 256
    max_env: int = 256


@dataclass
class Config:
    socket: str = ""
    socket_mode: str = "0660"
    socket_group: str = "sandboxd"
    allowed_uids: list[int] = field(default_factory=list)
    allowed_gids: list[int] = field(default_factory=list)
    max_runs_per_uid: int = 32
    max_queue: int = 256
    max_building: int = 2
    log_level: str = "info"
    lint_policy: str = "warn"
    drain_grace_s: float = 10
    limits: Limits = field(default_factory=Limits)
    max_limits: Limits = field(default_factory=_default_maxima)
    requests: RequestCaps = field(default_factory=RequestCaps)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    languages: dict[str, LanguageConfig] = field(default_factory=lambda: default_languages())

    def language_for_extension(self, ext: str) -> str | None:
        for name, lang in self.languages.items():
            if ext in lang.extensions:
                return name
        return None


def default_languages() -> dict[str, LanguageConfig]:
    return {
        "python": LanguageConfig(interpreter="/usr/bin/python3", extensions=[".py"], pool_size=4, mode="fork"),
        "javascript": LanguageConfig(
            interpreter="/usr/bin/node", extensions=[".js", ".mjs", ".cjs"], pool_size=2,
            runner="node_runner.js", command=["{interpreter}", "-e", "{runner}"],
            memory_floor_mb=64,
        ),
    }


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table")
        return _build(hint, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table")
        _, value_hint = get_args(hint)
        return {k: _convert(v, value_hint, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        (item_hint,) = get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list")
        return [_convert(v, item_hint, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {hint}")


def _build(cls: Any, data: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: missing required key {missing[0]!r}")
    return cls(**kwargs)


def _check_limits(limits: Limits, where: str) -> None:
    for f in dataclasses.fields(limits):
        if getattr(limits, f.name) <= 0:
            raise ConfigError(f"{where}.{f.name}: must be positive, got {getattr(limits, f.name)}")


def validate(cfg: Config) -> None:
    if cfg.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level: must be one of {', '.join(LOG_LEVELS)}, got {cfg.log_level!r}")
    if cfg.lint_policy not in LINT_POLICIES:
        raise ConfigError(f"lint_policy: must be one of {', '.join(LINT_POLICIES)}, got {cfg.lint_policy!r}")
    if cfg.sandbox.landlock not in LANDLOCK_MODES:
        raise ConfigError(f"sandbox.landlock: must be one of {', '.join(LANDLOCK_MODES)}, "
                          f"got {cfg.sandbox.landlock!r}")
    try:
        mode = int(cfg.socket_mode, 8)
    except ValueError:
        raise ConfigError(f"socket_mode: not an octal mode: {cfg.socket_mode!r}") from None
    if not 0 < mode <= 0o777:
        raise ConfigError(f"socket_mode: out of range: {cfg.socket_mode!r}")
    _check_limits(cfg.limits, "limits")
    _check_limits(cfg.max_limits, "max_limits")
    for f in dataclasses.fields(Limits):
        if getattr(cfg.limits, f.name) > getattr(cfg.max_limits, f.name):
            raise ConfigError(f"limits.{f.name}: default {getattr(cfg.limits, f.name)} is above "
                              f"max_limits.{f.name} = {getattr(cfg.max_limits, f.name)}")
    for name in ("max_runs_per_uid", "max_queue", "max_building"):
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{name}: must be positive")
    if cfg.drain_grace_s < 0:
        raise ConfigError("drain_grace_s: must not be negative")
    if not cfg.languages:
        raise ConfigError("languages: at least one language is required")
    seen: dict[str, str] = {}
    for name, lang in cfg.languages.items():
        where = f"languages.{name}"
        if lang.pool_size < 0:
            raise ConfigError(f"{where}.pool_size: must not be negative")
        if not os.path.isabs(lang.interpreter):
            raise ConfigError(f"{where}.interpreter: must be an absolute path, got {lang.interpreter!r}")
        if lang.mode not in ("fork", "exec"):
            raise ConfigError(f"{where}.mode: must be 'fork' or 'exec', got {lang.mode!r}")
        if lang.mode == "fork" and lang.command:
            raise ConfigError(f"{where}.mode: 'fork' runs Python in the init itself and takes no 'command'")
        if bool(lang.command) != bool(lang.runner):
            raise ConfigError(f"{where}: 'command' and 'runner' go together (both or neither)")
        for ext in lang.extensions:
            if not ext.startswith("."):
                raise ConfigError(f"{where}.extensions: {ext!r} must start with '.'")
            if ext in seen:
                raise ConfigError(f"{where}.extensions: {ext!r} already belongs to {seen[ext]}")
            seen[ext] = name
    if cfg.sandbox.uid_base <= 0 or cfg.sandbox.uid_count <= 0 or cfg.sandbox.uid_base + cfg.sandbox.uid_count >= 2**32 - 1:
        raise ConfigError("sandbox.uid_base/uid_count: the worker uid range must lie inside 1..2^32-2")
    for path in cfg.sandbox.readonly_paths:
        if not os.path.isabs(path):
            raise ConfigError(f"sandbox.readonly_paths: {path!r} must be absolute")


def from_dict(data: dict[str, Any]) -> Config:
    data = dict(data)
    languages = data.pop("languages", None)
    cfg: Config = _build(Config, data, "")
    if languages is not None:
        cfg.languages = _convert(languages, dict[str, LanguageConfig], "languages")
    validate(cfg)
    return cfg


def load(path: str | None) -> Config:
    """Loads `path`; with None, the default file if it exists, else built-in defaults."""
    explicit = path is not None
    path = path or DEFAULT_CONFIG
    if not os.path.exists(path):
        if explicit:
            raise ConfigError(f"{path}: no such file")
        return from_dict({})
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def resolve_socket(cli_value: str | None, cfg: Config) -> str:
    return cli_value or os.environ.get("SANDBOXD_SOCKET") or cfg.socket or DEFAULT_SOCKET
