"""gRPC calls over the daemon's Unix socket, framed in the calling thread (the sync Client).

The wire is gRPC's: HTTP/2 frames, HPACK headers, length-prefixed protobuf messages, the
status in the trailers. What differs from grpcio's client is who moves the bytes. grpcio
reads and writes on EventEngine threads of its own, so every response wakes its poller, a
worker and then the caller; here the caller's own recv() returns the frame. Measured on
the daemon's socket (paced warm hello, the benchmark's loop, p50 of 150): grpcio 1.29-1.41
ms, this framing 1.08-1.19 ms; the h2 library (a pure-Python HTTP/2 state machine) 1.39-1.42
ms, which is why the frames are built here and only HPACK decoding is a library's.

It speaks what the Client needs and nothing more: unary and server-streaming calls, one at
a time per connection (the Client keeps a pool, so threads do not wait on each other), both
flow-control windows, deadlines, cancellation (RST_STREAM), and GOAWAY/EOF as UNAVAILABLE.
Requests are encoded without HPACK's dynamic table, so only decoding keeps state.
"""

from __future__ import annotations

import math
import os
import select
import socket
import struct
import time
from collections.abc import Iterator
from urllib.parse import unquote

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY_FLAG = 0x4, 0x8, 0x20
SETTINGS_ENABLE_PUSH, SETTINGS_MAX_CONCURRENT_STREAMS = 2, 3
SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 4, 5
# An identifier from HTTP/2's unassigned range. Every other server ignores a setting it does
# not know (RFC 9113 §6.5.2); sandboxd's front end reads it as "serve me in the event loop"
# (sandboxd/http2_server.py). The value is the version of that subset: 1.
SETTINGS_SANDBOXD_LOCAL = 0x5BD0
MAX_FRAME = (1 << 24) - 1
PROTOCOL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0x1, 0x7, 0x8, 0xB
MAX_HEADER_BLOCK = 64 << 10  # as hpack's own header-list limit
DECODED_BLOCKS_KEPT = 32
MAX_WINDOW = (1 << 31) - 1
DEFAULT_WINDOW = 65535
DEFAULT_FRAME = 16384
HEADER = struct.Struct(">BHBBI")  # length as u8 + u16 (24 bits), type, flags, stream id
SETTING = struct.Struct(">HI")
MESSAGE_PREFIX = struct.Struct(">BI")  # compressed flag, length

# grpc's status codes by number (grpc.StatusCode names), for the errors the Client maps.
STATUS_NAMES = ("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                "UNAUTHENTICATED")


class CallError(Exception):
    """A call that ended without its response: `code` is a grpc status name. `retryable`
    says the daemon cannot have started it (see Client._messages)."""

    def __init__(self, code: str, details: str, retryable: bool = False) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details
        self.retryable = retryable


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return HEADER.pack(n >> 16, n & 0xFFFF, kind, flags, stream) + payload


def hpack_int(value: int, prefix_bits: int, first: int) -> bytes:
    """RFC 7541 §5.1: `value` in a `prefix_bits` prefix whose other bits are `first`'s."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name: int | str, value: str) -> bytes:
    """A literal header field without indexing (RFC 7541 §6.2.2): a static-table name index
    or a new name, and the value as a plain (not Huffman-coded) string."""
    data = value.encode()
    if isinstance(name, int):
        head = hpack_int(name, 4, 0)
    else:
        raw = name.encode()
        head = b"\x00" + hpack_int(len(raw), 7, 0) + raw
    return head + hpack_int(len(data), 7, 0) + data


# :method POST and :scheme http are static entries 3 and 6; :authority 1, :path 4,
# content-type 31, user-agent 58.
_FIXED_HEADERS = (b"\x83\x86" + hpack_literal(1, "localhost") + hpack_literal(31, "application/grpc")
                  + hpack_literal("te", "trailers"))


def request_headers(path: str, timeout: float | None, user_agent: str) -> bytes:
    block = _FIXED_HEADERS + hpack_literal(4, path) + hpack_literal(58, user_agent)
    if timeout is not None:
        block += hpack_literal("grpc-timeout", grpc_timeout(timeout))
    return block


def grpc_timeout(seconds: float) -> str:
    """The gRPC timeout header: at most 8 digits, rounded up so the server never cuts first."""
    ms = max(1, math.ceil(seconds * 1000))
    return f"{ms}m" if ms < 100_000_000 else f"{min(math.ceil(seconds), 99_999_999)}S"


def percent_encode(text: str) -> str:
    """grpc-message's encoding: bytes outside printable ASCII, and '%', as %XX (of UTF-8)."""
    return "".join(c if " " <= c <= "~" and c != "%" else "".join(f"%{b:02X}" for b in c.encode())
                   for c in text)


def status_of(trailers: dict[bytes, bytes]) -> tuple[str, str]:
    raw = trailers.get(b"grpc-status")
    if raw is None:
        return "UNKNOWN", "the daemon's response carried no grpc-status"
    try:
        code = STATUS_NAMES[int(raw)]
    except (ValueError, IndexError):
        code = "UNKNOWN"
    return code, unquote(trailers.get(b"grpc-message", b"").decode("utf-8", "replace"))


def split_messages(buffer: bytearray, limit: int) -> list[bytes]:
    """Takes the complete length-prefixed gRPC messages off the front of `buffer`."""
    out = []
    while len(buffer) >= MESSAGE_PREFIX.size:
        compressed, length = MESSAGE_PREFIX.unpack_from(buffer)
        if compressed:
            raise CallError("INTERNAL", "the daemon sent a compressed message, which this client never asks for")
        if length > limit:
            raise CallError("RESOURCE_EXHAUSTED", f"received message larger than max ({length} vs. {limit})")
        end = MESSAGE_PREFIX.size + length
        if len(buffer) < end:
            break
        out.append(bytes(buffer[MESSAGE_PREFIX.size:end]))
        del buffer[:end]
    return out


class ProtocolError(Exception):
    """The peer broke HTTP/2; `error` is the GOAWAY code that says how."""

    def __init__(self, why: str, error: int = PROTOCOL_ERROR) -> None:
        super().__init__(why)
        self.error = error


def pop_frames(buffer: bytearray, max_length: int) -> Iterator[tuple[int, int, int, bytes]]:
    """Takes each whole frame (type, flags, stream id, payload) off the front of `buffer`; a
    partial one stays for the next read. A frame longer than we advertised is an error."""
    while len(buffer) >= HEADER.size:
        high, low, kind, flags, stream_id = HEADER.unpack_from(buffer)
        length = high << 16 | low
        if length > max_length:
            raise ProtocolError("frame larger than SETTINGS_MAX_FRAME_SIZE")
        end = HEADER.size + length
        if len(buffer) < end:
            return
        payload = bytes(buffer[HEADER.size:end])
        del buffer[:end]
        yield kind, flags, stream_id & MAX_WINDOW, payload


def unpad(flags: int, payload: bytes) -> bytes:
    if not flags & PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        raise ProtocolError("padding longer than its frame")
    return payload[1:len(payload) - payload[0]]


class HeaderBlocks:
    """A connection's header blocks, reassembled (HEADERS, then CONTINUATION up to
    END_HEADERS) and decoded by its one HPACK decoder. Every block is decoded in order, a
    stale stream's too: the decoder's table is shared by the whole connection."""

    def __init__(self) -> None:
        self.decoder = hpack.Decoder()
        self.pending: tuple[int, int, bytearray] | None = None
        self.decoded: dict[tuple[int, bytes], dict[bytes, bytes]] = {}

    def interrupted_by(self, kind: int) -> bool:
        return self.pending is not None and kind != CONTINUATION

    def feed(self, kind: int, flags: int, stream_id: int, payload: bytes) -> tuple[int, int, dict[bytes, bytes]] | None:
        """(stream id, the HEADERS frame's flags, the fields) once a block is whole."""
        if kind == HEADERS:
            fragment = unpad(flags, payload)
            if flags & PRIORITY_FLAG:
                fragment = fragment[5:]
            self.pending = (stream_id, flags, bytearray(fragment))
        elif self.pending is None or self.pending[0] != stream_id:
            raise ProtocolError("CONTINUATION without its HEADERS")
        else:
            self.pending[2].extend(payload)
        if len(self.pending[2]) > MAX_HEADER_BLOCK:
            raise ProtocolError(f"a header block larger than {MAX_HEADER_BLOCK} bytes", ENHANCE_YOUR_CALM)
        if not flags & END_HEADERS:
            return None
        block_id, first_flags, data = self.pending
        self.pending = None
        try:
            return block_id, first_flags, self._decode(bytes(data))
        except hpack.HPACKError as exc:
            raise ProtocolError(f"undecodable headers: {exc}") from None

    def _decode(self, block: bytes) -> dict[bytes, bytes]:
        """The block's fields. A block decoded while the dynamic table is empty, and that leaves
        it empty (and its size as it was), reads nothing but the block: it decodes the same
        every time, so it is decoded once. Both ends of this library send only such blocks
        (literals without indexing), the same few on every call, and the pure-Python decoder
        takes ~25 µs a request block; a peer that indexes (grpcio) is decoded every time."""
        table = self.decoder.header_table
        key = (table.maxsize, block)
        pristine = not table.dynamic_entries
        if pristine and key in self.decoded:
            return dict(self.decoded[key])
        fields = dict(self.decoder.decode(block, raw=True))
        if pristine and not table.dynamic_entries and table.maxsize == key[0]:
            if len(self.decoded) >= DECODED_BLOCKS_KEPT:
                self.decoded.clear()
            self.decoded[key] = dict(fields)
        return fields


class _Stream:
    """One call's receive state."""

    def __init__(self, stream_id: int, window: int) -> None:
        self.id = stream_id
        self.send_window = window
        self.headers: dict[bytes, bytes] | None = None
        self.trailers: dict[bytes, bytes] | None = None
        self.body = bytearray()
        self.ended = False
        self.reset: int | None = None


class Connection:
    """One HTTP/2 connection to the daemon, carrying one call at a time."""

    def __init__(self, path: str, max_message: int, user_agent: str) -> None:
        self.max_message = max_message
        self.user_agent = user_agent
        self.pid = os.getpid()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise CallError("UNAVAILABLE", f"failed to connect to unix:{path}: {exc.strerror or exc}") from None
        self.blocks = HeaderBlocks()
        self.buffer = bytearray()
        self.next_id = 1
        self.peer_window = DEFAULT_WINDOW  # the server's initial stream window
        self.peer_frame = DEFAULT_FRAME
        self.send_window = DEFAULT_WINDOW  # the connection's
        self.unacked = 0  # received bytes not yet given back to the server's connection window
        self.goaway: int | None = None
        self.broken = False
        self.stream: _Stream | None = None
        settings = b"".join(SETTING.pack(key, value) for key, value in (
            (SETTINGS_ENABLE_PUSH, 0), (SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW),
            (SETTINGS_MAX_FRAME_SIZE, MAX_FRAME), (SETTINGS_SANDBOXD_LOCAL, 1)))
        self._send(PREFACE + frame(SETTINGS, 0, 0, settings)
                   + frame(WINDOW_UPDATE, 0, 0, (MAX_WINDOW - DEFAULT_WINDOW).to_bytes(4, "big")))

    def close(self) -> None:
        self.broken = True
        self.sock.close()

    def open(self) -> bool:
        """Whether this process may start another call here, as far as is known without
        reading the socket."""
        return not self.broken and self.goaway is None and self.pid == os.getpid() and self.next_id <= MAX_WINDOW

    def usable(self) -> bool:
        """Whether a new call may start here: the daemon may have gone away (or said GOAWAY)
        while the connection sat in the pool. What it sent meanwhile is handled first."""
        if not self.open():
            return False
        try:
            while select.select([self.sock], [], [], 0)[0]:
                self._read_frames(None)
        except CallError:
            return False
        return not self.broken and self.goaway is None

    # Calls

    def unary(self, path: str, request: bytes, timeout: float | None) -> bytes:
        messages = list(self.call(path, request, timeout))
        if len(messages) != 1:
            raise CallError("INTERNAL", f"expected one response message, got {len(messages)}")
        return messages[0]

    def call(self, path: str, request: bytes, timeout: float | None) -> Iterator[bytes]:
        """Sends the request and yields each response message as it arrives. Closing the
        iterator before the end cancels the call on the server."""
        deadline = None if timeout is None else time.monotonic() + timeout
        stream = self.stream = _Stream(self.next_id, self.peer_window)
        self.next_id += 2
        try:
            try:
                if deadline is None:  # with one, the first read sets the timeout (see _wait_until)
                    self._wait_until(None)
                self._send_data(stream, MESSAGE_PREFIX.pack(0, len(request)) + request, deadline,
                                frame(HEADERS, END_HEADERS, stream.id, request_headers(path, timeout, self.user_agent)))
            except CallError as exc:
                # A unary or server-streaming call starts only once its request is complete.
                exc.retryable = exc.code == "UNAVAILABLE"
                raise
            while True:
                yield from split_messages(stream.body, self.max_message)
                if stream.ended:
                    break
                self._read_frames(deadline)
            self._finish(stream)
        except (GeneratorExit, CallError):  # abandoned, or failed: the daemon need not go on
            if not stream.ended and not self.broken:
                self._cancel(stream)
            raise
        finally:
            self.stream = None

    def _finish(self, stream: _Stream) -> None:
        if stream.reset is not None:
            refused = stream.reset == REFUSED_STREAM
            code = "UNAVAILABLE" if refused else "CANCELLED" if stream.reset == CANCEL else "INTERNAL"
            raise CallError(code, f"the daemon reset the stream (HTTP/2 error {stream.reset})", refused)
        trailers = stream.trailers if stream.trailers is not None else stream.headers or {}
        code, details = status_of(trailers)
        if code != "OK":
            raise CallError(code, details)
        if stream.body:
            raise CallError("INTERNAL", "the response ended inside a message")

    def _cancel(self, stream: _Stream) -> None:
        try:
            self._send(frame(RST_STREAM, 0, stream.id, CANCEL.to_bytes(4, "big")))
        except CallError:
            pass

    # Sending

    def _send(self, data: bytes) -> None:
        """MSG_NOSIGNAL: a caller that restored SIGPIPE's default must get an error here, not
        die, when the daemon has gone."""
        try:
            self.sock.sendall(data, socket.MSG_NOSIGNAL)
        except OSError as exc:
            self.close()
            raise CallError("UNAVAILABLE", f"Socket closed ({exc.strerror or exc})") from None

    def _send_data(self, stream: _Stream, data: bytes, deadline: float | None, headers: bytes) -> None:
        """The HEADERS frame, then DATA frames within the server's windows, reading its
        frames whenever both are spent: that is where WINDOW_UPDATE comes from (or an early
        answer: a refused call can end before its request has been sent in full). HEADERS
        goes out with the first DATA frame, in one system call (and one wake-up of the
        daemon) for any request that fits the windows."""
        view = memoryview(data)
        pending = headers
        while True:
            room = min(stream.send_window, self.send_window, self.peer_frame)
            if room > 0 or not view:
                chunk = view[:room]
                view = view[len(chunk):]
                stream.send_window -= len(chunk)
                self.send_window -= len(chunk)
                self._send(pending + frame(DATA, 0 if view else END_STREAM, stream.id, bytes(chunk)))
                pending = b""
                if not view:
                    return
            else:
                if pending:
                    self._send(pending)
                    pending = b""
                self._read_frames(deadline)
            if stream.ended:
                return

    # Receiving

    def _wait_until(self, deadline: float | None) -> None:
        """The socket's timeout for what comes next. Setting it is a system call: a call
        without a deadline sets it once, before its request goes out, so that its sends do not
        poll first as a socket with a timeout does; a call with one sets it at each read."""
        if deadline is None:
            if self.sock.gettimeout() is not None:
                self.sock.settimeout(None)
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallError("DEADLINE_EXCEEDED", "Deadline Exceeded")
            self.sock.settimeout(left)

    def _read_frames(self, deadline: float | None) -> None:
        """Reads once (waiting at most until `deadline`) and handles every whole frame."""
        self._wait_until(deadline)
        try:
            chunk = self.sock.recv(1 << 16)
        except TimeoutError:
            raise CallError("DEADLINE_EXCEEDED", "Deadline Exceeded") from None
        except OSError as exc:
            self.close()
            raise CallError("UNAVAILABLE", f"Connection reset ({exc.strerror or exc})") from None
        if not chunk:
            self.close()
            raise CallError("UNAVAILABLE", "Socket closed")
        self.buffer += chunk
        replies = []
        try:
            for kind, flags, stream_id, payload in pop_frames(self.buffer, MAX_FRAME):
                reply = self._handle(kind, flags, stream_id, payload)
                if reply:
                    replies.append(reply)
        except ProtocolError as exc:
            raise self._protocol_error(str(exc)) from None
        if self.unacked >= MAX_WINDOW // 2:
            replies.append(frame(WINDOW_UPDATE, 0, 0, self.unacked.to_bytes(4, "big")))
            self.unacked = 0
        if replies:
            self._send(b"".join(replies))
        stream = self.stream
        if stream is not None and self.goaway is not None and stream.id > self.goaway and not stream.ended:
            raise CallError("UNAVAILABLE", "the daemon is closing this connection (GOAWAY)", True)

    def _handle(self, kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
        """One frame; returns what must be sent back (ACKs), if anything."""
        if self.blocks.interrupted_by(kind):
            raise ProtocolError("a header block was interrupted")
        stream = self.stream if self.stream is not None and self.stream.id == stream_id else None
        if kind == DATA:
            self.unacked += len(payload)
            if stream is not None:
                stream.body += unpad(flags, payload)
                stream.ended = bool(flags & END_STREAM)
        elif kind in (HEADERS, CONTINUATION):
            self._header_block(kind, flags, stream_id, payload)
        elif kind == SETTINGS and not flags & ACK:
            self._apply_settings(payload)
            return frame(SETTINGS, ACK, 0)
        elif kind == PING and not flags & ACK:
            return frame(PING, ACK, 0, payload)
        elif kind == WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & MAX_WINDOW
            if stream_id == 0:
                self.send_window += increment
            elif stream is not None:
                stream.send_window += increment
        elif kind == RST_STREAM and stream is not None:
            stream.reset = int.from_bytes(payload[:4], "big")
            stream.ended = True
        elif kind == GOAWAY:
            self.goaway = int.from_bytes(payload[:4], "big") & MAX_WINDOW
        elif kind == PUSH_PROMISE:
            raise ProtocolError("the daemon sent PUSH_PROMISE, which this client disabled")
        return b""

    def _header_block(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        whole = self.blocks.feed(kind, flags, stream_id, payload)
        if whole is None:
            return
        block_id, first_flags, fields = whole
        stream = self.stream
        if stream is None or stream.id != block_id:
            return
        if stream.headers is None:
            stream.headers = fields
            status = fields.get(b":status", b"")
            if status != b"200":
                stream.trailers = {b"grpc-status": b"13", b"grpc-message": b"HTTP status " + status}
        else:
            stream.trailers = fields
        if first_flags & END_STREAM:
            stream.ended = True

    def _apply_settings(self, payload: bytes) -> None:
        for offset in range(0, len(payload) - len(payload) % SETTING.size, SETTING.size):
            key, value = SETTING.unpack_from(payload, offset)
            if key == SETTINGS_INITIAL_WINDOW_SIZE:
                if self.stream is not None:
                    self.stream.send_window += value - self.peer_window
                self.peer_window = value
            elif key == SETTINGS_MAX_FRAME_SIZE:
                self.peer_frame = value

    def _protocol_error(self, what: str) -> CallError:
        self.close()
        return CallError("INTERNAL", f"HTTP/2 protocol error from the daemon: {what}")
