"""The sandbox.v1 service over HTTP/2, served in the event loop, for the library's own Client.

A connection whose first SETTINGS frame carries SETTINGS_SANDBOXD_LOCAL (sent only by
sandboxctl's sync Client, sandboxctl/http2.py) is served here by the relay's loop instead of
being relayed to grpc's server; every other client is relayed as before (peer.py). Both
paths speak gRPC and call the same SandboxServicer: this module is a transport, handing each
call a context with the three things the servicer uses (peer, abort, done callbacks).

Why: on the relayed path every request crosses the relay, grpc's poller thread and back to
the loop twice (seen under strace: the poller wakes the loop, the loop kicks the poller, the
poller wakes the loop again) before the handler runs. Here the bytes the relay reads are
the call.

What a peer gets is what that Client sends and expects, served strictly: any number of
streams, HPACK decoding, both flow-control windows, PING, RST_STREAM (cancels the call),
GOAWAY, grpc-timeout (DEADLINE_EXCEEDED), the receive limit grpc's server would apply. A
frame that breaks the protocol ends the connection (GOAWAY, PROTOCOL_ERROR), never the
daemon.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError
from sandboxctl import http2 as h2
from sandboxctl._pb.sandbox.v1 import sandbox_pb2 as pb

log = logging.getLogger("sandboxd.http2_server")

SERVICE = "sandbox.v1.Sandbox"
# What one connection may make the daemon hold. The library's Client has one call in flight
# per connection; these bound what any other peer speaking this subset can cost.
MAX_STREAMS = 64
MAX_FRAME = 1 << 20
STATUS = {name: number for number, name in enumerate(h2.STATUS_NAMES)}
_RESPONSE_HEADERS = b"\x88" + h2.hpack_literal(31, "application/grpc")  # :status 200 (static 8)


@dataclass(frozen=True)
class Method:
    request: type
    handler: Callable[..., Any]
    streaming: bool


def methods_of(servicer: object) -> dict[str, Method]:
    """The servicer's methods by HTTP/2 path, from the service's own descriptor."""
    service = pb.DESCRIPTOR.services_by_name["Sandbox"]
    return {f"/{SERVICE}/{m.name}": Method(getattr(pb, m.input_type.name), getattr(servicer, m.name),
                                           m.server_streaming) for m in service.methods}


class Abort(Exception):
    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class LocalContext:
    """What SandboxServicer uses of grpc.aio.ServicerContext."""

    def __init__(self, peer: str) -> None:
        self._peer = peer
        self._callbacks: list[Callable[[Any], None]] = []

    def peer(self) -> str:
        return self._peer

    async def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise Abort(code.value[0], details)

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self._callbacks.append(callback)

    def finish(self) -> None:
        for callback in self._callbacks:
            callback(self)


@dataclass
class _Stream:
    id: int
    window: int
    path: str = ""
    timeout: float | None = None
    body: bytearray = field(default_factory=bytearray)
    task: asyncio.Task[None] | None = None
    headers_sent: bool = False
    expired: bool = False
    timer: asyncio.TimerHandle | None = None


TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def parse_timeout(value: bytes) -> float | None:
    """grpc-timeout: up to 8 digits and a unit (H M S m u n); None if malformed."""
    digits, unit = value[:-1], value[-1:]
    if not digits.isdigit() or len(digits) > 8 or unit not in TIMEOUT_UNITS:
        return None
    return int(digits) * TIMEOUT_UNITS[unit]


def status_fields(code: int, details: str) -> bytes:
    """grpc-status, and grpc-message when there is one, as a header block fragment."""
    block = h2.hpack_literal("grpc-status", str(code))
    if details:
        block += h2.hpack_literal("grpc-message", h2.percent_encode(details))
    return block


def wants_local(head: bytes) -> bool | None:
    """Whether a connection's first bytes ask for this transport; None while they are too
    few to tell (the preface and the whole first frame are needed)."""
    preface = h2.PREFACE
    if not preface.startswith(head[:len(preface)]):
        return False
    if len(head) < len(preface) + h2.HEADER.size:
        return None
    high, low, kind, flags, stream = h2.HEADER.unpack_from(head, len(preface))
    length = high << 16 | low
    if kind != h2.SETTINGS or flags & h2.ACK or stream or length % h2.SETTING.size:
        return False
    start = len(preface) + h2.HEADER.size
    if len(head) < start + length:
        return None
    return any(h2.SETTING.unpack_from(head, start + i) == (h2.SETTINGS_SANDBOXD_LOCAL, 1)
               for i in range(0, length, h2.SETTING.size))


class Connection(asyncio.Protocol):
    """One client connection, adopted from the relay with the bytes it has read so far."""

    def __init__(self, methods: dict[str, Method], peer: str, max_receive: int,
                 on_close: Callable[[Connection], None]) -> None:
        self.methods = methods
        self.peer = peer
        self.max_receive = max_receive
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.blocks = h2.HeaderBlocks()
        self.buffer = bytearray()
        self.preface = False
        self.streams: dict[int, _Stream] = {}
        self.last_stream = 0
        self.peer_window = h2.DEFAULT_WINDOW
        self.peer_frame = h2.DEFAULT_FRAME
        self.send_window = h2.DEFAULT_WINDOW
        self.unacked = 0
        self.window_open = asyncio.Event()
        self.closing = False
        self.buffered = 0  # request bytes held for streams not yet dispatched

    def adopt(self, transport: asyncio.Transport, head: bytes) -> None:
        self.transport = transport
        settings = b"".join(h2.SETTING.pack(key, value) for key, value in (
            (h2.SETTINGS_INITIAL_WINDOW_SIZE, h2.MAX_WINDOW), (h2.SETTINGS_MAX_FRAME_SIZE, MAX_FRAME),
            (h2.SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS)))
        transport.write(h2.frame(h2.SETTINGS, 0, 0, settings) + h2.frame(
            h2.WINDOW_UPDATE, 0, 0, (h2.MAX_WINDOW - h2.DEFAULT_WINDOW).to_bytes(4, "big")))
        transport.set_protocol(self)
        self.data_received(head)

    # Reading

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buffer += data
        if not self.preface:
            if len(self.buffer) < len(h2.PREFACE):
                return
            if not self.buffer.startswith(h2.PREFACE):
                return self._fail("no HTTP/2 connection preface")
            del self.buffer[:len(h2.PREFACE)]
            self.preface = True
        out = []
        try:
            for kind, flags, stream_id, payload in h2.pop_frames(self.buffer, MAX_FRAME):
                reply = self._handle(kind, flags, stream_id, payload)
                if reply:
                    out.append(reply)
                if self.closing:
                    break
        except h2.ProtocolError as exc:
            return self._fail(str(exc), exc.error)
        if self.unacked >= h2.MAX_WINDOW // 2:
            out.append(h2.frame(h2.WINDOW_UPDATE, 0, 0, self.unacked.to_bytes(4, "big")))
            self.unacked = 0
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def _handle(self, kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
        if self.blocks.interrupted_by(kind):
            raise h2.ProtocolError("a header block was interrupted")
        if kind == h2.DATA:
            self._data(flags, stream_id, payload)
        elif kind in (h2.HEADERS, h2.CONTINUATION):
            self._header_block(kind, flags, stream_id, payload)
        elif kind == h2.SETTINGS and not flags & h2.ACK:
            if stream_id or len(payload) % h2.SETTING.size:
                raise h2.ProtocolError("malformed SETTINGS")
            self._apply_settings(payload)
            return h2.frame(h2.SETTINGS, h2.ACK, 0)
        elif kind == h2.PING and not flags & h2.ACK:
            return h2.frame(h2.PING, h2.ACK, 0, payload)
        elif kind == h2.WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & h2.MAX_WINDOW
            if stream_id == 0:
                self.send_window += increment
            elif stream_id in self.streams:
                self.streams[stream_id].window += increment
            self.window_open.set()
        elif kind == h2.RST_STREAM:
            stream = self.streams.get(stream_id)
            if stream is not None and stream.task is not None:
                stream.task.cancel()
            elif stream is not None:  # reset before its request was whole
                self.buffered -= len(stream.body)
                del self.streams[stream_id]
        elif kind == h2.GOAWAY:
            self.closing_when_idle()
        elif kind == h2.PUSH_PROMISE:
            raise h2.ProtocolError("a client may not push")
        return b""

    def _data(self, flags: int, stream_id: int, payload: bytes) -> None:
        self.unacked += len(payload)
        stream = self.streams.get(stream_id)
        if stream is None or stream.task is not None:
            return  # a stream already answered (or reset): its late data is only counted
        data = h2.unpad(flags, payload)
        stream.body += data
        self.buffered += len(data)
        if self.buffered > self.max_receive + h2.MESSAGE_PREFIX.size:
            self._answer_now(stream, STATUS["RESOURCE_EXHAUSTED"],
                             f"requests on this connection hold more than {self.max_receive} bytes")
        elif len(stream.body) > self.max_receive + 5:
            self._answer_now(stream, STATUS["RESOURCE_EXHAUSTED"],
                             f"Received message larger than max ({len(stream.body) - 5} vs. {self.max_receive})")
        elif flags & h2.END_STREAM:
            self._dispatch(stream)

    def _header_block(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        whole = self.blocks.feed(kind, flags, stream_id, payload)
        if whole is None:
            return
        block_id, first_flags, fields = whole
        if block_id in self.streams:
            return  # trailers from a client: gRPC requests have none worth reading
        if block_id % 2 == 0 or block_id <= self.last_stream:
            raise h2.ProtocolError(f"stream {block_id} cannot be opened by the client")
        self.last_stream = block_id
        if len(self.streams) >= MAX_STREAMS:
            self._write([h2.frame(h2.RST_STREAM, 0, block_id, h2.REFUSED_STREAM.to_bytes(4, "big"))])
            return
        timeout = fields.get(b"grpc-timeout")
        stream = self.streams[block_id] = _Stream(block_id, self.peer_window,
                                                  fields.get(b":path", b"").decode("utf-8", "replace"),
                                                  parse_timeout(timeout) if timeout else None)
        if self.closing:
            self._answer_now(stream, STATUS["UNAVAILABLE"], "the daemon is shutting down")
        elif first_flags & h2.END_STREAM:
            self._dispatch(stream)

    def _apply_settings(self, payload: bytes) -> None:
        for offset in range(0, len(payload), h2.SETTING.size):
            key, value = h2.SETTING.unpack_from(payload, offset)
            if key == h2.SETTINGS_INITIAL_WINDOW_SIZE:
                if value > h2.MAX_WINDOW:
                    raise h2.ProtocolError("SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
                for stream in self.streams.values():
                    stream.window += value - self.peer_window
                self.peer_window = value
                self.window_open.set()
            elif key == h2.SETTINGS_MAX_FRAME_SIZE:
                if not h2.DEFAULT_FRAME <= value <= h2.MAX_FRAME:
                    raise h2.ProtocolError("SETTINGS_MAX_FRAME_SIZE out of range")
                self.peer_frame = value

    # Calls

    def _dispatch(self, stream: _Stream) -> None:
        method = self.methods.get(stream.path)
        if method is None:
            return self._answer_now(stream, STATUS["UNIMPLEMENTED"], f"Method not found: {stream.path}")
        body = stream.body
        self.buffered -= len(body)
        stream.body = bytearray()
        if len(body) < h2.MESSAGE_PREFIX.size:
            return self._answer_now(stream, STATUS["INTERNAL"], "the request carried no message")
        compressed, length = h2.MESSAGE_PREFIX.unpack_from(body)
        if compressed or length != len(body) - h2.MESSAGE_PREFIX.size:
            return self._answer_now(stream, STATUS["INTERNAL"],
                                    "the request must be one uncompressed message")
        try:
            request = method.request.FromString(bytes(body[h2.MESSAGE_PREFIX.size:]))
        except DecodeError as exc:
            return self._answer_now(stream, STATUS["INTERNAL"], f"cannot parse the request: {exc}")
        stream.task = asyncio.ensure_future(self._serve(stream, method, request))
        if stream.timeout is not None:
            stream.timer = asyncio.get_running_loop().call_later(stream.timeout, self._expire, stream)

    def _expire(self, stream: _Stream) -> None:
        if stream.task is not None and not stream.task.done():
            stream.expired = True
            stream.task.cancel()

    async def _serve(self, stream: _Stream, method: Method, request: Any) -> None:
        context = LocalContext(self.peer)
        try:
            status = await self._call(stream, method, request, context)
            if status is not None:
                await self._send(stream, b"", end=True, code=status[0], details=status[1])
        finally:
            if stream.timer is not None:
                stream.timer.cancel()
            self.streams.pop(stream.id, None)
            context.finish()  # as grpc does: once the call is over, answered or not

    async def _call(self, stream: _Stream, method: Method, request: Any,
                    context: LocalContext) -> tuple[int, str] | None:
        """Runs the handler; returns the status still to be sent, None when nothing is left
        to send (a unary answer went out whole, or the client reset the stream)."""
        try:
            if method.streaming:
                async for message in method.handler(request, context):
                    await self._send(stream, self._message(message))
                return 0, ""
            response = await method.handler(request, context)
            await self._send(stream, self._message(response), end=True)
            return None
        except Abort as exc:
            return exc.code, exc.details
        except asyncio.CancelledError:
            if not stream.expired:
                return None  # reset by the client, or its connection is gone: nobody to answer
            return STATUS["DEADLINE_EXCEEDED"], "Deadline Exceeded"
        except Exception as exc:  # the servicer's own bug: the call fails, the daemon serves on
            log.error("event=local_call_crashed path=%s error=%r", stream.path, str(exc), exc_info=exc)
            return STATUS["UNKNOWN"], f"Unexpected error in the handler: {exc}"

    @staticmethod
    def _message(message: Any) -> bytes:
        data = message.SerializeToString()
        return h2.MESSAGE_PREFIX.pack(0, len(data)) + data

    async def _send(self, stream: _Stream, data: bytes, end: bool = False, code: int = 0, details: str = "") -> None:
        """Headers (first time), DATA within the client's windows, and with `end` the
        trailers: in one write when the windows allow, which they do for every answer the
        library's Client is sent (it opens both to 2^31-1)."""
        out = []
        if not stream.headers_sent:
            out.append(h2.frame(h2.HEADERS, h2.END_HEADERS, stream.id, _RESPONSE_HEADERS))
            stream.headers_sent = True
        view = memoryview(data)
        while view:
            room = min(self.send_window, stream.window, self.peer_frame)
            if room <= 0:
                self._write(out)
                out = []
                self.window_open.clear()
                await self.window_open.wait()
                if self.closing or stream.id not in self.streams:
                    return
                continue
            chunk = view[:room]
            view = view[len(chunk):]
            self.send_window -= len(chunk)
            stream.window -= len(chunk)
            out.append(h2.frame(h2.DATA, 0, stream.id, bytes(chunk)))
        if end:
            out.append(h2.frame(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, stream.id, status_fields(code, details)))
            self.streams.pop(stream.id, None)
        self._write(out)
        if end and self.closing and not self.streams:
            self.close()

    def _answer_now(self, stream: _Stream, code: int, details: str) -> None:
        """A status without a call (the request never reached a handler): trailers only."""
        self.buffered -= len(stream.body)
        stream.body = bytearray()
        block = _RESPONSE_HEADERS + status_fields(code, details)
        self.streams.pop(stream.id, None)  # answered: its late data is only counted
        self._write([h2.frame(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, stream.id, block)])

    def _write(self, frames: list[bytes]) -> None:
        if frames and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(frames))

    # Ending

    def closing_when_idle(self) -> None:
        """No new calls; the connection closes once those in flight have answered."""
        if not self.closing:
            self.closing = True
            self._goaway(0)
        if not self.streams:
            self.close()

    def _goaway(self, error: int) -> None:
        self._write([h2.frame(h2.GOAWAY, 0, 0, self.last_stream.to_bytes(4, "big") + error.to_bytes(4, "big"))])

    def close(self) -> None:
        self._cancel_calls()
        if self.transport is not None:
            self.transport.close()

    def _cancel_calls(self) -> None:
        self.closing = True
        for stream in list(self.streams.values()):
            if stream.task is not None:
                stream.task.cancel()

    def _fail(self, why: str, error: int = h2.PROTOCOL_ERROR) -> None:
        log.warning("event=local_protocol_error peer=%s error=%r", self.peer, why)
        self._goaway(error)
        self.close()

    # A peer that does not read what it is sent is not read from either: asyncio calls these
    # around its write buffer's high-water mark, so PINGs or calls it never collects cannot
    # fill the daemon's memory.
    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_calls()
        self.window_open.set()
        self.streams.clear()
        self.on_close(self)
