"""The sync client's HTTP/2 framing: encodings against RFC 7541's examples, and a scripted peer
that makes the client use what a quiet local server rarely asks for (small windows,
CONTINUATION, padding, PING, GOAWAY)."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import hpack
import pytest
from sandboxctl import http2
from sandboxctl.http2 import CallError, Connection


def test_status_names_are_grpcs_codes_by_number() -> None:
    """Both ends of the local transport name statuses from this one table (the client must
    not import grpc), so it has to be grpc's own numbering."""
    import grpc

    assert {number: name for number, name in enumerate(http2.STATUS_NAMES)} == {
        code.value[0]: code.name for code in grpc.StatusCode}


def test_integers_encode_as_rfc_7541_shows() -> None:
    assert http2.hpack_int(10, 5, 0) == b"\x0a"  # C.1.1
    assert http2.hpack_int(1337, 5, 0) == b"\x1f\x9a\x0a"  # C.1.2
    assert http2.hpack_int(42, 8, 0) == b"\x2a"  # C.1.3
    assert http2.hpack_int(15, 4, 0) == b"\x0f\x00"


def test_request_headers_decode_to_a_grpc_request() -> None:
    block = http2.request_headers("/sandbox.v1.Sandbox/Run", 2.5, "sandboxctl-python")
    assert hpack.Decoder().decode(block) == [
        (":method", "POST"), (":scheme", "http"), (":authority", "localhost"),
        ("content-type", "application/grpc"), ("te", "trailers"), (":path", "/sandbox.v1.Sandbox/Run"),
        ("user-agent", "sandboxctl-python"), ("grpc-timeout", "2500m")]
    long_path = "/" + "x" * 300  # a string length past the 7-bit prefix
    assert (":path", long_path) in hpack.Decoder().decode(http2.request_headers(long_path, None, "u"))


def _whole_block(blocks: http2.HeaderBlocks, stream_id: int, block: bytes) -> dict[bytes, bytes]:
    whole = blocks.feed(http2.HEADERS, http2.END_HEADERS, stream_id, block)
    assert whole is not None
    return whole[2]


def test_a_block_that_reads_only_itself_is_decoded_once() -> None:
    blocks = http2.HeaderBlocks()
    calls = []
    decode = blocks.decoder.decode
    blocks.decoder.decode = lambda data, raw: calls.append(data) or decode(data, raw=raw)  # type: ignore[method-assign]
    block = http2.request_headers("/sandbox.v1.Sandbox/Run", None, "u")
    first = _whole_block(blocks, 1, block)
    first[b"x-changed-by-the-caller"] = b"1"
    again = _whole_block(blocks, 3, block)
    assert b"x-changed-by-the-caller" not in again and again[b":path"] == b"/sandbox.v1.Sandbox/Run"
    assert len(calls) == 1


def test_blocks_that_use_the_dynamic_table_are_decoded_every_time() -> None:
    """A block naming a dynamic-table entry means whatever the table holds then: the same bytes
    decoded earlier are no answer."""
    blocks = http2.HeaderBlocks()
    newest = b"\xbe"  # indexed field 62: the newest dynamic entry
    assert _whole_block(blocks, 1, b"\x40\x03x-a\x011") == {b"x-a": b"1"}  # literal, indexed
    assert _whole_block(blocks, 3, newest) == {b"x-a": b"1"}
    assert _whole_block(blocks, 5, b"\x40\x03x-b\x012") == {b"x-b": b"2"}
    assert _whole_block(blocks, 7, newest) == {b"x-b": b"2"}


def test_timeouts_round_up_and_fit_eight_digits() -> None:
    assert http2.grpc_timeout(0.0001) == "1m"
    assert http2.grpc_timeout(1.2345) == "1235m"
    assert http2.grpc_timeout(10 ** 9) == "99999999S"


def test_messages_are_cut_at_their_length_prefixes() -> None:
    buffer = bytearray(b"\x00\x00\x00\x00\x02hi" + b"\x00\x00\x00\x00\x00" + b"\x00\x00\x00\x00\x05par")
    assert http2.split_messages(buffer, 100) == [b"hi", b""]
    assert buffer == b"\x00\x00\x00\x00\x05par"  # the partial one waits for its rest
    with pytest.raises(CallError, match="larger than max"):
        http2.split_messages(bytearray(b"\x00\x00\x00\x01\x00"), 100)
    with pytest.raises(CallError, match="compressed"):
        http2.split_messages(bytearray(b"\x01\x00\x00\x00\x00"), 100)


def test_status_details_are_percent_decoded() -> None:
    assert http2.status_of({b"grpc-status": b"3", b"grpc-message": b"bad %E2%9C%93 100%25"}) == (
        "INVALID_ARGUMENT", "bad \u2713 100%")
    assert http2.status_of({})[0] == "UNKNOWN"


class Peer:
    """A scripted HTTP/2 server on a unix socket: reads frames, answers as told."""

    def __init__(self, path: str, script: Callable[[Peer], None]) -> None:
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(1)
        self.encoder = hpack.Encoder()
        self.frames: list[tuple[int, int, int, bytes]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, args=(script,), daemon=True)
        self.thread.start()

    def _serve(self, script: Callable[[Peer], None]) -> None:
        try:
            self.conn, _ = self.listener.accept()
            assert self._exact(len(http2.PREFACE)) == http2.PREFACE
            script(self)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.conn.recv(n - len(data))
            assert chunk, "the client closed the connection"
            data += chunk
        return data

    def read(self) -> tuple[int, int, int, bytes]:
        high, low, kind, flags, stream = http2.HEADER.unpack(self._exact(9))
        got = (kind, flags, stream, self._exact(high << 16 | low))
        self.frames.append(got)
        return got

    def read_until(self, kind: int, flags: int = 0) -> tuple[int, int, int, bytes]:
        while True:
            got = self.read()
            if got[0] == kind and got[1] & flags == flags:
                return got

    def send(self, kind: int, flags: int, stream: int, payload: bytes = b"") -> None:
        self.conn.sendall(http2.frame(kind, flags, stream, payload))

    def headers(self, fields: list[tuple[str, str]]) -> bytes:
        return self.encoder.encode(fields)


@pytest.fixture
def peer_path() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="h2-", dir="/tmp") as d:
        yield str(Path(d) / "peer.sock")


def test_small_windows_continuation_padding_and_ping(peer_path: str) -> None:
    request = bytes(range(256)) * 4  # 1 KiB: ten times the window the peer grants

    def script(p: Peer) -> None:
        p.send(http2.SETTINGS, 0, 0, struct.pack(">HI", http2.SETTINGS_INITIAL_WINDOW_SIZE, 100))
        p.read_until(http2.HEADERS)
        body = b""
        while True:
            kind, flags, stream, payload = p.read()
            if kind != http2.DATA:
                continue
            assert len(payload) <= 100, "a DATA frame larger than the window"
            body += payload
            if flags & http2.END_STREAM:
                break
            if len(body) % 100 == 0:  # the window is spent: grant another 100
                p.send(http2.WINDOW_UPDATE, 0, 0, (100).to_bytes(4, "big"))
                p.send(http2.WINDOW_UPDATE, 0, stream, (100).to_bytes(4, "big"))
        assert body == b"\x00" + len(request).to_bytes(4, "big") + request
        block = p.headers([(":status", "200"), ("content-type", "application/grpc")])
        p.send(http2.HEADERS, 0, stream, block[:3])
        p.send(http2.CONTINUATION, http2.END_HEADERS, stream, block[3:])
        p.send(http2.PING, 0, 0, b"12345678")
        message = b"\x00\x00\x00\x00\x05hello"
        p.send(http2.DATA, http2.PADDED, stream, b"\x04" + message[:7] + b"\x00" * 4)
        p.send(http2.DATA, 0, stream, message[7:])
        p.send(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, stream, p.headers([("grpc-status", "0")]))
        assert p.read_until(http2.PING, http2.ACK)[3] == b"12345678"

    peer = Peer(peer_path, script)
    conn = Connection(peer_path, 1 << 20, "test")
    deadline = time.monotonic() + 10
    while conn.peer_window != 100:  # until the peer's SETTINGS is read (before, the default holds)
        assert conn.usable() and time.monotonic() < deadline
    assert conn.unary("/t/Echo", request, 10) == b"hello"
    peer.thread.join(10)
    assert not peer.thread.is_alive() and peer.error is None, peer.error or "the peer's script did not finish"
    assert conn.usable()


def test_an_error_status_and_a_goaway_refusal(peer_path: str) -> None:
    def script(p: Peer) -> None:
        stream = p.read_until(http2.DATA, http2.END_STREAM)[2]
        p.send(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, stream, p.headers(
            [(":status", "200"), ("grpc-status", "8"), ("grpc-message", "too busy %28queue full%29")]))
        p.read_until(http2.DATA, http2.END_STREAM)
        p.send(http2.GOAWAY, 0, 0, stream.to_bytes(4, "big") + b"\x00\x00\x00\x00")

    peer = Peer(peer_path, script)
    conn = Connection(peer_path, 1 << 20, "test")
    with pytest.raises(CallError) as first:
        conn.unary("/t/Busy", b"", 10)
    assert (first.value.code, first.value.details, first.value.retryable) == (
        "RESOURCE_EXHAUSTED", "too busy (queue full)", False)
    with pytest.raises(CallError) as second:  # its stream id is past the GOAWAY's last one
        conn.unary("/t/Late", b"", 10)
    assert (second.value.code, second.value.retryable) == ("UNAVAILABLE", True)
    assert not conn.usable()
    peer.thread.join(10)
    assert not peer.thread.is_alive() and peer.error is None, peer.error or "the peer's script did not finish"


def test_a_deadline_resets_the_stream_and_leaves_the_connection_usable(peer_path: str) -> None:
    done = threading.Event()

    def script(p: Peer) -> None:
        p.read_until(http2.DATA, http2.END_STREAM)
        payload = p.read_until(http2.RST_STREAM)[3]
        assert int.from_bytes(payload, "big") == http2.CANCEL
        done.set()

    peer = Peer(peer_path, script)
    conn = Connection(peer_path, 1 << 20, "test")
    with pytest.raises(CallError, match="DEADLINE_EXCEEDED"):
        conn.unary("/t/Slow", b"", 0.2)
    assert done.wait(10) and peer.error is None, peer.error
    assert conn.usable()



def test_a_closed_peer_is_an_error_even_with_sigpipe_at_its_default(peer_path: str) -> None:
    """A send to a connection the daemon has closed: with SIGPIPE at its default (as many
    command-line programs set it) that must be an exception, not the caller's death."""
    script = f"""
import signal, socket, threading
from sandboxctl.http2 import CallError, Connection
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
listener = socket.socket(socket.AF_UNIX)
listener.bind({peer_path!r})
listener.listen(1)
def serve():
    peer, _ = listener.accept()
    peer.recv(1 << 16)
    peer.close()
server = threading.Thread(target=serve)
server.start()
conn = Connection({peer_path!r}, 1 << 20, "test")
server.join()
try:
    conn.unary("/t/Late", b"", 5)
except CallError as exc:
    print(exc.code, exc.retryable)
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, b"UNAVAILABLE True\n"), p.stderr.decode()
