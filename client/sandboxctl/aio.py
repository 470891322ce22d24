"""The asyncio client, on grpc.aio. The sync Client's framing (http2.py) blocks in recv(),
which would stall the caller's event loop, so this one keeps grpc's asyncio integration;
an asyncio framing of our own has not been written or measured."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc

from ._pb.sandbox.v1 import sandbox_pb2 as pb
from ._pb.sandbox.v1 import sandbox_pb2_grpc as pb_grpc
from .client import MAX_MESSAGE, Event, build_request, event_from_pb, resolve_socket, result_from_pb, translate
from .errors import SandboxError
from .result import Result

# The socket is local: HTTP/2's bandwidth-delay probing (a PING after received data, so
# two PING round trips per call) only adds wake-ups; a fixed large window takes its place.
LOCAL_TRANSPORT = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 8 << 20)]
_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.enable_http_proxy", 0), *LOCAL_TRANSPORT]


def _translate(exc: grpc.RpcError, socket: str) -> SandboxError:
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
    return translate(code.name if code else "error", details, socket)


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
            raise _translate(exc, self.socket) from None
        finally:
            call.cancel()

    async def execute(self, code: str | bytes, language: str = "python", **kwargs: Any) -> Result:
        try:
            return result_from_pb(await self._stub.Run(build_request(code, language, **kwargs), timeout=self.timeout))
        except grpc.RpcError as exc:
            raise _translate(exc, self.socket) from None

    async def _unary(self, method: str, request: Any) -> Any:
        try:
            return await getattr(self._stub, method)(request, timeout=self.timeout or 30)
        except grpc.RpcError as exc:
            raise _translate(exc, self.socket) from None

    async def cancel(self, run_id: str) -> bool:
        return bool((await self._unary("Cancel", pb.CancelRequest(id=run_id))).cancelled)

    async def status(self) -> pb.StatusResponse:
        return await self._unary("GetStatus", pb.StatusRequest())

    async def capabilities(self) -> pb.CapabilitiesResponse:
        return await self._unary("GetCapabilities", pb.CapabilitiesRequest())
