from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Limits(_message.Message):
    __slots__ = ("memory_mb", "cpu_seconds", "timeout_seconds", "max_processes", "max_file_size_mb", "max_output_bytes")
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_PROCESSES_FIELD_NUMBER: _ClassVar[int]
    MAX_FILE_SIZE_MB_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    memory_mb: float
    cpu_seconds: float
    timeout_seconds: float
    max_processes: int
    max_file_size_mb: float
    max_output_bytes: int
    def __init__(self, memory_mb: _Optional[float] = ..., cpu_seconds: _Optional[float] = ..., timeout_seconds: _Optional[float] = ..., max_processes: _Optional[int] = ..., max_file_size_mb: _Optional[float] = ..., max_output_bytes: _Optional[int] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("language", "code", "stdin", "args", "env", "files", "limits", "lint_policy", "filename")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class FilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    LINT_POLICY_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    language: str
    code: bytes
    stdin: bytes
    args: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    files: _containers.ScalarMap[str, bytes]
    limits: Limits
    lint_policy: str
    filename: str
    def __init__(self, language: _Optional[str] = ..., code: _Optional[bytes] = ..., stdin: _Optional[bytes] = ..., args: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., files: _Optional[_Mapping[str, bytes]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., lint_policy: _Optional[str] = ..., filename: _Optional[str] = ...) -> None: ...

class Started(_message.Message):
    __slots__ = ("id", "warm_start")
    ID_FIELD_NUMBER: _ClassVar[int]
    WARM_START_FIELD_NUMBER: _ClassVar[int]
    id: str
    warm_start: bool
    def __init__(self, id: _Optional[str] = ..., warm_start: _Optional[bool] = ...) -> None: ...

class Output(_message.Message):
    __slots__ = ("stream", "data")
    class Stream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STREAM_UNSPECIFIED: _ClassVar[Output.Stream]
        STDOUT: _ClassVar[Output.Stream]
        STDERR: _ClassVar[Output.Stream]
    STREAM_UNSPECIFIED: Output.Stream
    STDOUT: Output.Stream
    STDERR: Output.Stream
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    stream: Output.Stream
    data: bytes
    def __init__(self, stream: _Optional[_Union[Output.Stream, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("wall_ms", "cpu_user_ms", "cpu_system_ms", "peak_memory_bytes", "avg_memory_bytes", "max_processes", "stdout_bytes", "stderr_bytes")
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    CPU_USER_MS_FIELD_NUMBER: _ClassVar[int]
    CPU_SYSTEM_MS_FIELD_NUMBER: _ClassVar[int]
    PEAK_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    AVG_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_PROCESSES_FIELD_NUMBER: _ClassVar[int]
    STDOUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    STDERR_BYTES_FIELD_NUMBER: _ClassVar[int]
    wall_ms: float
    cpu_user_ms: float
    cpu_system_ms: float
    peak_memory_bytes: int
    avg_memory_bytes: int
    max_processes: int
    stdout_bytes: int
    stderr_bytes: int
    def __init__(self, wall_ms: _Optional[float] = ..., cpu_user_ms: _Optional[float] = ..., cpu_system_ms: _Optional[float] = ..., peak_memory_bytes: _Optional[int] = ..., avg_memory_bytes: _Optional[int] = ..., max_processes: _Optional[int] = ..., stdout_bytes: _Optional[int] = ..., stderr_bytes: _Optional[int] = ...) -> None: ...

class Finding(_message.Message):
    __slots__ = ("rule", "severity", "line", "col", "message")
    RULE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    COL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    rule: str
    severity: str
    line: int
    col: int
    message: str
    def __init__(self, rule: _Optional[str] = ..., severity: _Optional[str] = ..., line: _Optional[int] = ..., col: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("id", "status", "exit_code", "signal", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "usage", "lint", "warm_start", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    STDOUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDERR_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LINT_FIELD_NUMBER: _ClassVar[int]
    WARM_START_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    exit_code: int
    signal: int
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    usage: Usage
    lint: _containers.RepeatedCompositeFieldContainer[Finding]
    warm_start: bool
    error: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., stdout_truncated: _Optional[bool] = ..., stderr_truncated: _Optional[bool] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., lint: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., warm_start: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class ExecuteEvent(_message.Message):
    __slots__ = ("started", "output", "finished")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    started: Started
    output: Output
    finished: Result
    def __init__(self, started: _Optional[_Union[Started, _Mapping]] = ..., output: _Optional[_Union[Output, _Mapping]] = ..., finished: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("cancelled",)
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    cancelled: bool
    def __init__(self, cancelled: _Optional[bool] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PoolStatus(_message.Message):
    __slots__ = ("language", "target", "ready", "building", "runs_served", "mean_build_ms", "handover_p50_ms", "handover_p90_ms", "handover_p99_ms", "cold_starts", "waiting", "build_failures", "last_build_error")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    BUILDING_FIELD_NUMBER: _ClassVar[int]
    RUNS_SERVED_FIELD_NUMBER: _ClassVar[int]
    MEAN_BUILD_MS_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_P50_MS_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_P90_MS_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_P99_MS_FIELD_NUMBER: _ClassVar[int]
    COLD_STARTS_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    BUILD_FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_BUILD_ERROR_FIELD_NUMBER: _ClassVar[int]
    language: str
    target: int
    ready: int
    building: int
    runs_served: int
    mean_build_ms: float
    handover_p50_ms: float
    handover_p90_ms: float
    handover_p99_ms: float
    cold_starts: int
    waiting: int
    build_failures: int
    last_build_error: str
    def __init__(self, language: _Optional[str] = ..., target: _Optional[int] = ..., ready: _Optional[int] = ..., building: _Optional[int] = ..., runs_served: _Optional[int] = ..., mean_build_ms: _Optional[float] = ..., handover_p50_ms: _Optional[float] = ..., handover_p90_ms: _Optional[float] = ..., handover_p99_ms: _Optional[float] = ..., cold_starts: _Optional[int] = ..., waiting: _Optional[int] = ..., build_failures: _Optional[int] = ..., last_build_error: _Optional[str] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("version", "uptime_s", "active_runs", "runs_total", "runs_by_status", "pools", "capabilities", "draining")
    class RunsByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_RUNS_FIELD_NUMBER: _ClassVar[int]
    RUNS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RUNS_BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    version: str
    uptime_s: float
    active_runs: int
    runs_total: int
    runs_by_status: _containers.ScalarMap[str, int]
    pools: _containers.RepeatedCompositeFieldContainer[PoolStatus]
    capabilities: _containers.RepeatedCompositeFieldContainer[Capability]
    draining: bool
    def __init__(self, version: _Optional[str] = ..., uptime_s: _Optional[float] = ..., active_runs: _Optional[int] = ..., runs_total: _Optional[int] = ..., runs_by_status: _Optional[_Mapping[str, int]] = ..., pools: _Optional[_Iterable[_Union[PoolStatus, _Mapping]]] = ..., capabilities: _Optional[_Iterable[_Union[Capability, _Mapping]]] = ..., draining: _Optional[bool] = ...) -> None: ...

class CapabilitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Capability(_message.Message):
    __slots__ = ("layer", "enforced", "detail")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    ENFORCED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    layer: str
    enforced: bool
    detail: str
    def __init__(self, layer: _Optional[str] = ..., enforced: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class CapabilitiesResponse(_message.Message):
    __slots__ = ("platform", "backend", "capabilities", "languages")
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    platform: str
    backend: str
    capabilities: _containers.RepeatedCompositeFieldContainer[Capability]
    languages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, platform: _Optional[str] = ..., backend: _Optional[str] = ..., capabilities: _Optional[_Iterable[_Union[Capability, _Mapping]]] = ..., languages: _Optional[_Iterable[str]] = ...) -> None: ...

class LintRequest(_message.Message):
    __slots__ = ("language", "code")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    language: str
    code: bytes
    def __init__(self, language: _Optional[str] = ..., code: _Optional[bytes] = ...) -> None: ...

class LintResponse(_message.Message):
    __slots__ = ("findings", "rules")
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    def __init__(self, findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ...) -> None: ...

class Rule(_message.Message):
    __slots__ = ("id", "severity", "languages", "message", "rationale")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    id: str
    severity: str
    languages: _containers.RepeatedScalarFieldContainer[str]
    message: str
    rationale: str
    def __init__(self, id: _Optional[str] = ..., severity: _Optional[str] = ..., languages: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ..., rationale: _Optional[str] = ...) -> None: ...
