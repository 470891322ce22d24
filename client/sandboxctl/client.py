"""The client library: sync `Client` and asyncio `AsyncClient` over the daemon's Unix socket."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc

from ._pb.sandbox.v1 import sandbox_pb2 as pb
from ._pb.sandbox.v1 import sandbox_pb2_grpc as pb_grpc
from .errors import (
    DaemonUnavailable,
    PermissionDenied,
    RequestRejected,
    ResourceExhausted,
    SandboxError,
)
from .result import Finding, Result, Usage

DEFAULT_SOCKET = {"linux": "/run/sandboxd/sandboxd.sock", "darwin": "/var/run/sandboxd/sandboxd.sock"}
MAX_MESSAGE = 80 << 20


def resolve_socket(socket: str | None) -> str:
    """--socket, else $SANDBOXD_SOCKET, else the platform default (SPEC)."""
    return socket or os.environ.get("SANDBOXD_SOCKET") or DEFAULT_SOCKET.get(sys.platform, DEFAULT_SOCKET["linux"])


@dataclass(frozen=True)
class Event:
    """One streamed event: kind is "started", "stdout", "stderr" or "finished"."""

    kind: str
    data: bytes = b""
    run_id: str = ""
    warm_start: bool = False
    result: Result | None = None


def result_from_pb(r: pb.Result) -> Result:
    u = r.usage
    return Result(
        id=r.id, status=r.status,
        exit_code=r.exit_code if r.HasField("exit_code") else None,
        signal=r.signal if r.HasField("signal") else None,
        stdout=r.stdout.decode("utf-8", errors="replace"), stderr=r.stderr.decode("utf-8", errors="replace"),
        stdout_truncated=r.stdout_truncated, stderr_truncated=r.stderr_truncated,
        usage=Usage(wall_ms=u.wall_ms, cpu_user_ms=u.cpu_user_ms, cpu_system_ms=u.cpu_system_ms,
                    peak_memory_bytes=u.peak_memory_bytes, avg_memory_bytes=u.avg_memory_bytes,
                    max_processes=u.max_processes, stdout_bytes=u.stdout_bytes, stderr_bytes=u.stderr_bytes),
        lint=[Finding(f.rule, f.severity, f.line, f.col, f.message) for f in r.lint],
        warm_start=r.warm_start, error=r.error if r.HasField("error") else None,
        stdout_bytes=r.stdout, stderr_bytes=r.stderr,
    )


def event_from_pb(e: pb.ExecuteEvent) -> Event:
    kind = e.WhichOneof("event")
    if kind == "started":
        return Event("started", run_id=e.started.id, warm_start=e.started.warm_start)
    if kind == "output":
        return Event("stdout" if e.output.stream == pb.Output.STDOUT else "stderr", data=e.output.data)
    return Event("finished", result=result_from_pb(e.finished))


def _text(what: str, value: str) -> str:
    """Strings travel as UTF-8; one that cannot (a lone surrogate, e.g. an undecodable byte
    of a command line) is refused here, naming the field, instead of failing in protobuf."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise RequestRejected(f"{what}: {value!r} is not valid UTF-8 text") from None
    return value


def _data(what: str, value: str | bytes) -> bytes:
    return _text(what, value).encode() if isinstance(value, str) else value


def build_request(code: str | bytes, language: str, *, stdin: bytes | str = b"", args: Sequence[str] = (),
                  env: Mapping[str, str] | None = None, files: Mapping[str, bytes] | None = None,
                  memory_limit_mb: float | None = None, cpu_limit_s: float | None = None,
                  timeout_s: float | None = None, max_processes: int | None = None,
                  max_file_size_mb: float | None = None, max_output_bytes: int | None = None,
                  filename: str = "", lint_policy: str = "") -> pb.ExecuteRequest:
    limits = pb.Limits()
    for name, field, value in (("memory_limit_mb", "memory_mb", memory_limit_mb),
                               ("cpu_limit_s", "cpu_seconds", cpu_limit_s),
                               ("timeout_s", "timeout_seconds", timeout_s),
                               ("max_processes", "max_processes", max_processes),
                               ("max_file_size_mb", "max_file_size_mb", max_file_size_mb),
                               ("max_output_bytes", "max_output_bytes", max_output_bytes)):
        if value is not None:
            try:
                setattr(limits, field, value)
            except (TypeError, ValueError) as exc:
                raise RequestRejected(f"{name}: invalid value {value!r}: {exc}") from None
    return pb.ExecuteRequest(
        language=_text("language", language), code=_data("code", code), stdin=_data("--stdin", stdin),
        args=[_text("--arg", a) for a in args],
        env={_text("--env", k): _text("--env", v) for k, v in (env or {}).items()},
        files={_text("--file", k): _data("--file", v) for k, v in (files or {}).items()},
        limits=limits, filename=_text("filename", filename), lint_policy=_text("--lint-policy", lint_policy))


def translate(exc: grpc.RpcError, socket: str) -> SandboxError:
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return RequestRejected(details)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(details)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResourceExhausted(details)
    if code == grpc.StatusCode.UNAVAILABLE:
        if not os.path.exists(socket):
            return DaemonUnavailable(f"no sandboxd socket at {socket} (is the daemon running?)")
        if not os.access(socket, os.R_OK | os.W_OK):
            return PermissionDenied(f"cannot open {socket}: permission denied (are you in its group?)")
        if any(sign in details for sign in ("Socket closed", "Stream removed", "Connection reset")):
            # The transport's words for a daemon that vanished in the middle of a call.
            return DaemonUnavailable(f"lost the connection to sandboxd on {socket} ({details}); "
                                     "did the daemon stop?")
        if "Connection refused" in details or "connect" in details.lower():
            return DaemonUnavailable(f"sandboxd is not answering on {socket}")
        return DaemonUnavailable(details)
    return SandboxError(f"{code.name if code else 'error'}: {details}")


# The socket is local: HTTP/2's bandwidth-delay probing (a PING after received data, so
# two PING round trips per call) only adds wake-ups; a fixed large window takes its place.
LOCAL_TRANSPORT = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 8 << 20)]
_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.enable_http_proxy", 0), *LOCAL_TRANSPORT]


class Client:
    """Synchronous client. `execute` returns a Result; `stream` yields events as they happen."""

    def __init__(self, socket: str | None = None, timeout: float | None = None) -> None:
        self.socket = resolve_socket(socket)
        self.timeout = timeout
        self._channel = grpc.insecure_channel("unix:" + self.socket, options=_OPTIONS)
        self._stub = pb_grpc.SandboxStub(self._channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def stream(self, code: str | bytes, language: str = "python", **kwargs: Any) -> Iterator[Event]:
        request = build_request(code, language, **kwargs)
        call = self._stub.Execute(request, timeout=self.timeout, wait_for_ready=False)
        try:
            for message in call:
                yield event_from_pb(message)
        except grpc.RpcError as exc:
            raise translate(exc, self.socket) from None
        finally:
            call.cancel()

    def execute(self, code: str | bytes, language: str = "python", **kwargs: Any) -> Result:
        """The result only: one response message (the Run call) instead of a stream."""
        try:
            return result_from_pb(self._stub.Run(build_request(code, language, **kwargs), timeout=self.timeout,
                                                 wait_for_ready=False))
        except grpc.RpcError as exc:
            raise translate(exc, self.socket) from None

    def _unary(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout or 30)
        except grpc.RpcError as exc:
            raise translate(exc, self.socket) from None

    def cancel(self, run_id: str) -> bool:
        return bool(self._unary("Cancel", pb.CancelRequest(id=run_id)).cancelled)

    def status(self) -> pb.StatusResponse:
        return self._unary("GetStatus", pb.StatusRequest())

    def capabilities(self) -> pb.CapabilitiesResponse:
        return self._unary("GetCapabilities", pb.CapabilitiesRequest())

    def lint(self, code: str | bytes, language: str) -> pb.LintResponse:
        data = code.encode() if isinstance(code, str) else code
        return self._unary("Lint", pb.LintRequest(language=language, code=data))

    def rules(self) -> pb.LintResponse:
        return self._unary("Lint", pb.LintRequest())


class AsyncClient:
    """asyncio client with the same methods as Client, as coroutines / async iterators."""

    def __init__(self, socket: str | None = None, timeout: float | None = None) -> None:
        self.socket = resolve_socket(socket)
        self.timeout = timeout
        self._channel = grpc.aio.insecure_channel("unix:" + self.socket, options=_OPTIONS)
        self._stub = pb_grpc.SandboxStub(self._channel)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def stream(self, code: str | bytes, language: str = "python", **kwargs: Any) -> AsyncIterator[Event]:
        call = self._stub.Execute(build_request(code, language, **kwargs), timeout=self.timeout)
        try:
            async for message in call:
                yield event_from_pb(message)
        except grpc.RpcError as exc:
            raise translate(exc, self.socket) from None
        finally:
            call.cancel()

    async def execute(self, code: str | bytes, language: str = "python", **kwargs: Any) -> Result:
        try:
            return result_from_pb(await self._stub.Run(build_request(code, language, **kwargs), timeout=self.timeout))
        except grpc.RpcError as exc:
            raise translate(exc, self.socket) from None

    async def _unary(self, method: str, request: Any) -> Any:
        try:
            return await getattr(self._stub, method)(request, timeout=self.timeout or 30)
        except grpc.RpcError as exc:
            raise translate(exc, self.socket) from None

    async def cancel(self, run_id: str) -> bool:
        return bool((await self._unary("Cancel", pb.CancelRequest(id=run_id))).cancelled)

    async def status(self) -> pb.StatusResponse:
        return await self._unary("GetStatus", pb.StatusRequest())

    async def capabilities(self) -> pb.CapabilitiesResponse:
        return await self._unary("GetCapabilities", pb.CapabilitiesRequest())
