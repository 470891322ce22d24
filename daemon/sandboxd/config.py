"""Daemon configuration: dataclasses loaded from TOML, refused loudly when wrong.

Unknown keys and values of the wrong type or range are errors naming the file, the key and
the reason; nothing is silently ignored or clamped.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, get_args, get_origin, get_type_hints

DEFAULT_CONFIG = "/etc/sandboxd/sandboxd.toml"
DEFAULT_SOCKET = "/run/sandboxd/sandboxd.sock"
LINT_POLICIES = ("off", "warn", "deny")
LOG_LEVELS = ("debug", "info", "warning", "error")
LANDLOCK_MODES = ("required", "best", "off")
LANGUAGE_NAME = re.compile(r"^[a-z][a-z0-9_+-]{0,31}$")
MAX_POOL_SIZE = 256
# A unix socket path has 107 bytes; the daemon's private socket `<socket>.grpc/s` needs 7 more.
SOCKET_PATH_MAX = 100


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
    # Where `cgroup_name` goes: "auto" (the daemon's own cgroup when it is delegated, as under
    # systemd's Delegate=yes, else the hierarchy root), "root", or an absolute cgroup path.
    cgroup_parent: str = "auto"
    # macOS: the Python that runs each worker's pid 1 (runners/init.py). A Linux worker's pid 1
    # is C (linux/pid1.c) and runs no interpreter.
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
    allowed_groups: list[str] = field(default_factory=list)
    metrics_listen: str = ""
    max_runs_per_uid: int = 32
    max_queue: int = 256
    # One more than a 2-core host has cores: a build spends ~30 % of its wall time waiting on
    # the kernel and the fork server (uid maps, cgroup moves, mount teardown), and with two at
    # once the cores idle ~10.6 % of a saturated run (3: ~8.0 % and +6 % runs/s, ten
    # interleaved 8-client rounds; 4: no better than 3).
    max_building: int = 3
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
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"{key}: unknown key (known here: {', '.join(sorted(names))})")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}.{missing[0]}: required key is missing")
    return cls(**kwargs)


def _check_limits(limits: Limits, where: str) -> None:
    for f in dataclasses.fields(limits):
        if getattr(limits, f.name) <= 0:
            raise ConfigError(f"{where}.{f.name}: must be positive, got {getattr(limits, f.name)}")


def _check_one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: must be one of {', '.join(allowed)}, got {value!r}")


def _check_socket(cfg: Config) -> None:
    if cfg.socket and not os.path.isabs(cfg.socket):
        raise ConfigError(f"socket: must be an absolute path, got {cfg.socket!r}")
    if len(os.fsencode(cfg.socket)) > SOCKET_PATH_MAX:
        raise ConfigError(f"socket: longer than {SOCKET_PATH_MAX} bytes (a unix socket path has 107, and the "
                          "daemon's private socket beside it needs 7 more)")
    try:
        mode = int(cfg.socket_mode, 8)
    except ValueError:
        raise ConfigError(f"socket_mode: not an octal mode: {cfg.socket_mode!r}") from None
    if not 0 < mode <= 0o777:
        raise ConfigError(f"socket_mode: out of range: {cfg.socket_mode!r}")
    for uid in cfg.allowed_uids:
        if not 0 <= uid < 2**32 - 1:
            raise ConfigError(f"allowed_uids: {uid} is not a valid uid")
    for gid in cfg.allowed_gids:
        if not 0 <= gid < 2**32 - 1:
            raise ConfigError(f"allowed_gids: {gid} is not a valid gid")
    for name in cfg.allowed_groups:
        try:
            grp.getgrnam(name)
        except KeyError:
            raise ConfigError(f"allowed_groups: no such group {name!r}") from None


def parse_listen(value: str) -> tuple[str, int] | str:
    """`host:port` (TCP) or `unix:/path`; the metrics endpoint's address."""
    if value.startswith("unix:"):
        path = value.removeprefix("unix:")
        if not os.path.isabs(path):
            raise ConfigError(f"metrics_listen: unix socket path must be absolute, got {path!r}")
        return path
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"metrics_listen: expected HOST:PORT or unix:/PATH, got {value!r}")
    return host.strip("[]"), int(port)


def _check_language(name: str, lang: LanguageConfig, seen: dict[str, str]) -> None:
    where = f"languages.{name}"
    if not LANGUAGE_NAME.match(name):
        raise ConfigError(f"{where}: a language name is lower-case letters, digits, '_', '+' or '-'")
    if not 0 <= lang.pool_size <= MAX_POOL_SIZE:
        raise ConfigError(f"{where}.pool_size: must be between 0 and {MAX_POOL_SIZE}, got {lang.pool_size}")
    if not os.path.isabs(lang.interpreter):
        raise ConfigError(f"{where}.interpreter: must be an absolute path, got {lang.interpreter!r}")
    _check_one_of(f"{where}.mode", lang.mode, ("fork", "exec"))
    if lang.mode == "fork" and lang.command:
        raise ConfigError(f"{where}.mode: 'fork' runs Python in the init itself and takes no 'command'")
    if bool(lang.command) != bool(lang.runner):
        raise ConfigError(f"{where}: 'command' and 'runner' go together (both or neither)")
    if lang.runner and not resources.files("sandboxd.runners").joinpath(lang.runner).is_file():
        raise ConfigError(f"{where}.runner: no runner named {lang.runner!r} ships in sandboxd/runners/")
    if lang.command and "{interpreter}" not in lang.command[0] and not os.path.isabs(lang.command[0]):
        raise ConfigError(f"{where}.command: the first element must be \"{{interpreter}}\" or an absolute path")
    if lang.memory_floor_mb < 0:
        raise ConfigError(f"{where}.memory_floor_mb: must not be negative")
    if not lang.extensions:
        raise ConfigError(f"{where}.extensions: at least one file extension is required")
    for ext in lang.extensions:
        if not ext.startswith(".") or len(ext) < 2:
            raise ConfigError(f"{where}.extensions: {ext!r} must start with '.'")
        if ext in seen:
            raise ConfigError(f"{where}.extensions: {ext!r} already belongs to {seen[ext]}")
        seen[ext] = name


def validate(cfg: Config) -> None:
    _check_one_of("log_level", cfg.log_level, LOG_LEVELS)
    _check_one_of("lint_policy", cfg.lint_policy, LINT_POLICIES)
    _check_one_of("sandbox.landlock", cfg.sandbox.landlock, LANDLOCK_MODES)
    _check_socket(cfg)
    if cfg.metrics_listen:
        parse_listen(cfg.metrics_listen)
    _check_limits(cfg.limits, "limits")
    _check_limits(cfg.max_limits, "max_limits")
    for f in dataclasses.fields(Limits):
        if getattr(cfg.limits, f.name) > getattr(cfg.max_limits, f.name):
            raise ConfigError(f"limits.{f.name}: default {getattr(cfg.limits, f.name)} is above "
                              f"max_limits.{f.name} = {getattr(cfg.max_limits, f.name)}")
    for f in dataclasses.fields(RequestCaps):
        if getattr(cfg.requests, f.name) <= 0:
            raise ConfigError(f"requests.{f.name}: must be positive, got {getattr(cfg.requests, f.name)}")
    for name in ("max_runs_per_uid", "max_queue", "max_building"):
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{name}: must be positive, got {getattr(cfg, name)}")
    if cfg.drain_grace_s < 0:
        raise ConfigError(f"drain_grace_s: must not be negative, got {cfg.drain_grace_s}")
    if not cfg.languages:
        raise ConfigError("languages: at least one language is required")
    seen: dict[str, str] = {}
    for name, lang in cfg.languages.items():
        _check_language(name, lang, seen)
    sb = cfg.sandbox
    if sb.uid_base <= 0 or sb.uid_count <= 0 or sb.uid_base + sb.uid_count >= 2**32 - 1:
        raise ConfigError("sandbox.uid_base/uid_count: the worker uid range must lie inside 1..2^32-2")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", sb.cgroup_name) or ".." in sb.cgroup_name.split("/"):
        raise ConfigError(f"sandbox.cgroup_name: {sb.cgroup_name!r} must be a relative cgroup path "
                          "of letters, digits, '_', '.', '-'")
    if sb.cgroup_parent not in ("auto", "root") and (
            not re.fullmatch(r"(/[A-Za-z0-9_.@:-]+)+/?", sb.cgroup_parent) or ".." in sb.cgroup_parent.split("/")):
        raise ConfigError(f"sandbox.cgroup_parent: must be \"auto\", \"root\" or an absolute cgroup path "
                          f"such as \"/system.slice/sandboxd.service\", got {sb.cgroup_parent!r}")
    for key in ("workdir_size_mb", "tmp_size_mb"):
        if getattr(sb, key) <= 0:
            raise ConfigError(f"sandbox.{key}: must be positive, got {getattr(sb, key)}")
    if not os.path.isabs(sb.init_interpreter):
        raise ConfigError(f"sandbox.init_interpreter: must be an absolute path, got {sb.init_interpreter!r}")
    for path in sb.readonly_paths:
        if not os.path.isabs(path):
            raise ConfigError(f"sandbox.readonly_paths: {path!r} must be absolute")


def host_problems(cfg: Config) -> tuple[list[str], list[str]]:
    """Errors and warnings `--check-config` can find on this host without starting anything.

    The file itself is valid by now; these are facts of the host (a missing interpreter
    stops the daemon, a missing socket group only means nobody but root can connect). Kernel
    features are checked when the daemon starts its backend.
    """
    errors = [f"languages.{name}.interpreter: {lang.interpreter} is not an executable file"
              for name, lang in cfg.languages.items() if not os.access(lang.interpreter, os.X_OK)]
    if not os.access(cfg.sandbox.init_interpreter, os.X_OK):
        errors.append(f"sandbox.init_interpreter: {cfg.sandbox.init_interpreter} is not an executable file")
    warnings = []
    if cfg.socket_group:
        try:
            grp.getgrnam(cfg.socket_group)
        except KeyError:
            warnings.append(f"socket_group: no group {cfg.socket_group!r} on this host (create it with "
                            "systemd-sysusers or groupadd; until then only root can connect)")
    return errors, warnings


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
