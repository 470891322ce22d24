"""The daemon's in-loop HTTP/2 front end (sandboxd/http2_server.py), asked for by the library's
Client in its first SETTINGS frame, spoken to here frame by frame: several streams at once,
the client's flow-control window, statuses for calls that cannot happen, and a protocol
error that ends only its own connection."""

from __future__ import annotations

import os
import socket
import time

import grpc
import hpack
from conftest import Daemon
from sandboxctl import Client
from sandboxctl import http2 as h2
from sandboxctl._pb.sandbox.v1 import sandbox_pb2 as pb
from sandboxctl._pb.sandbox.v1 import sandbox_pb2_grpc as pb_grpc
from sandboxd.http2_server import parse_timeout, wants_local

RUN = "/sandbox.v1.Sandbox/Run"


class Raw:
    """A hand-driven HTTP/2 client connection that asks for the local transport."""

    def __init__(self, path: str, window: int = h2.MAX_WINDOW) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.sock.settimeout(30)
        self.decoder = hpack.Decoder()
        self.buffer = b""
        settings = b"".join(h2.SETTING.pack(k, v) for k, v in (
            (h2.SETTINGS_INITIAL_WINDOW_SIZE, window), (h2.SETTINGS_SANDBOXD_LOCAL, 1)))
        self.sock.sendall(h2.PREFACE + h2.frame(h2.SETTINGS, 0, 0, settings))

    def call(self, stream: int, path: str, message: bytes) -> None:
        self.sock.sendall(h2.frame(h2.HEADERS, h2.END_HEADERS, stream, h2.request_headers(path, None, "raw"))
                          + h2.frame(h2.DATA, h2.END_STREAM, stream, h2.MESSAGE_PREFIX.pack(0, len(message)) + message))

    def frame(self) -> tuple[int, int, int, bytes] | None:
        while len(self.buffer) < 9 or len(self.buffer) < 9 + int.from_bytes(self.buffer[:3], "big"):
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:  # closed with our bytes unread: what it sent came first
                return None
            if not chunk:
                return None
            self.buffer += chunk
        n = int.from_bytes(self.buffer[:3], "big")
        kind, flags, stream = self.buffer[3], self.buffer[4], int.from_bytes(self.buffer[5:9], "big")
        payload, self.buffer = self.buffer[9:9 + n], self.buffer[9 + n:]
        if kind == h2.HEADERS:
            return kind, flags, stream, dict(self.decoder.decode(payload, raw=True))  # type: ignore[return-value]
        return kind, flags, stream, payload

    def answers(self, streams: set[int], on_data=None) -> dict[int, tuple[bytes, dict[bytes, bytes]]]:
        """Each stream's body and trailers, once all of `streams` have ended."""
        body: dict[int, bytes] = {s: b"" for s in streams}
        done: dict[int, tuple[bytes, dict[bytes, bytes]]] = {}
        while set(done) != streams:
            got = self.frame()
            assert got is not None, f"the connection closed with streams {streams - set(done)} open"
            kind, flags, stream, payload = got
            if kind == h2.DATA and stream in body:
                body[stream] += payload
                if on_data:
                    on_data(stream, payload)
            if kind == h2.HEADERS and flags & h2.END_STREAM:
                done[stream] = (body[stream], payload)  # type: ignore[assignment]
        return done


def test_the_client_is_served_in_the_loop_and_grpcio_is_relayed(shared_daemon: Daemon, client: Client) -> None:
    assert client.execute("print(1)").stdout == "1\n"
    with grpc.insecure_channel("unix:" + shared_daemon.socket) as channel:
        pb_grpc.SandboxStub(channel).GetStatus(pb.StatusRequest())
    log = shared_daemon.log()
    assert f"peer_pid={os.getpid()} transport=local" in log
    assert f"peer_pid={os.getpid()} transport=grpc" in log


def test_streams_run_at_once_on_one_connection(shared_daemon: Daemon, client: Client) -> None:
    raw = Raw(shared_daemon.socket)
    for n, stream in enumerate((1, 3, 5)):
        code = f"import time\ntime.sleep(3)\nprint({n})\n".encode()
        raw.call(stream, RUN, pb.ExecuteRequest(language="python", code=code).SerializeToString())
    deadline = time.monotonic() + 20
    while client.status().active_runs < 3:  # all three in flight together, not one after another
        assert time.monotonic() < deadline, "the streams were not served at the same time"
        time.sleep(0.05)
    answers = raw.answers({1, 3, 5})
    for n, stream in enumerate((1, 3, 5)):
        body, trailers = answers[stream]
        assert trailers[b"grpc-status"] == b"0"
        assert pb.Result.FromString(body[5:]).stdout == f"{n}\n".encode()


def test_the_server_keeps_to_the_clients_window(shared_daemon: Daemon) -> None:
    raw = Raw(shared_daemon.socket, window=1000)
    code = b"print('x' * 5000)\n"
    raw.call(1, RUN, pb.ExecuteRequest(language="python", code=code).SerializeToString())
    received = 0
    granted = 1000

    def on_data(stream: int, payload: bytes) -> None:
        nonlocal received, granted
        received += len(payload)
        assert received <= granted, f"{received} bytes sent into a window of {granted}"
        if received == granted:
            raw.sock.sendall(h2.frame(h2.WINDOW_UPDATE, 0, 1, (1000).to_bytes(4, "big")))
            granted += 1000

    body, trailers = raw.answers({1}, on_data)[1]
    assert trailers[b"grpc-status"] == b"0"
    assert pb.Result.FromString(body[5:]).stdout == b"x" * 5000 + b"\n"


def test_calls_that_cannot_happen_get_statuses_and_the_connection_serves_on(shared_daemon: Daemon) -> None:
    raw = Raw(shared_daemon.socket)
    raw.call(1, "/sandbox.v1.Sandbox/Nope", b"")
    raw.call(3, RUN, b"\xff\xff\xff")  # not a protobuf message
    raw.call(5, RUN, pb.ExecuteRequest(language="cobol", code=b"x").SerializeToString())
    raw.call(7, "/sandbox.v1.Sandbox/GetStatus", b"")
    answers = raw.answers({1, 3, 5, 7})
    assert answers[1][1][b"grpc-status"] == b"12"  # UNIMPLEMENTED
    assert answers[3][1][b"grpc-status"] == b"13"  # INTERNAL
    assert answers[5][1][b"grpc-status"] == b"3"  # INVALID_ARGUMENT, with the admission's words
    assert b"cobol" in answers[5][1][b"grpc-message"]
    assert answers[7][1][b"grpc-status"] == b"0" and pb.StatusResponse.FromString(answers[7][0][5:]).pools


def test_a_protocol_error_ends_only_its_connection(shared_daemon: Daemon, client: Client) -> None:
    raw = Raw(shared_daemon.socket)
    raw.sock.sendall(h2.frame(h2.CONTINUATION, h2.END_HEADERS, 1, b"\x82"))  # no HEADERS before it
    frames = []
    while (got := raw.frame()) is not None:
        frames.append(got)
    goaway = [f for f in frames if f[0] == h2.GOAWAY]
    assert goaway and int.from_bytes(goaway[0][3][4:8], "big") == 0x1  # PROTOCOL_ERROR, then EOF
    assert "event=local_protocol_error" in shared_daemon.log()
    assert client.execute("print('still serving')").stdout == "still serving\n"


def test_which_connections_ask_for_the_local_transport() -> None:
    def settings(*pairs: tuple[int, int]) -> bytes:
        return h2.PREFACE + h2.frame(h2.SETTINGS, 0, 0, b"".join(h2.SETTING.pack(k, v) for k, v in pairs))

    assert wants_local(settings((4, 65535), (h2.SETTINGS_SANDBOXD_LOCAL, 1))) is True
    assert wants_local(settings((4, 65535))) is False  # grpcio and every other client
    assert wants_local(settings((h2.SETTINGS_SANDBOXD_LOCAL, 2))) is False  # a version this daemon lacks
    assert wants_local(h2.PREFACE[:10]) is None
    assert wants_local(settings((4, 1))[:-3]) is None
    assert wants_local(b"GET / HTTP/1.1\r\n\r\n") is False


def test_grpc_timeouts_parse_in_every_unit() -> None:
    assert parse_timeout(b"1500m") == 1.5
    assert parse_timeout(b"2S") == 2.0 and parse_timeout(b"1H") == 3600.0
    assert parse_timeout(b"250u") == 250e-6
    assert parse_timeout(b"123456789m") is None and parse_timeout(b"m") is None and parse_timeout(b"5x") is None


def test_what_one_connection_may_hold_is_bounded(shared_daemon: Daemon, client: Client) -> None:
    """Streams past the advertised limit are refused, a header block may not grow without end
    (CONTINUATION flood), and a peer that never reads stops being read."""
    raw = Raw(shared_daemon.socket)
    for stream in range(1, 2 * 65, 2):  # 65 requests that never finish sending
        raw.sock.sendall(h2.frame(h2.HEADERS, h2.END_HEADERS, stream, h2.request_headers(RUN, None, "raw")))
    while (got := raw.frame()) is not None and got[0] != h2.RST_STREAM:
        pass
    assert got is not None and got[2] == 129 and int.from_bytes(got[3], "big") == 0x7  # REFUSED_STREAM
    raw.sock.close()

    raw = Raw(shared_daemon.socket)
    raw.sock.sendall(h2.frame(h2.HEADERS, 0, 1, b"\x82"))
    block = h2.frame(h2.CONTINUATION, 0, 1, b"\x82" * 16384)
    try:
        for _ in range(8):
            raw.sock.sendall(block)
    except OSError:
        pass  # the daemon may close first
    frames = []
    while (got := raw.frame()) is not None:
        frames.append(got)
    assert [int.from_bytes(f[3][4:8], "big") for f in frames if f[0] == h2.GOAWAY] == [0xB]  # ENHANCE_YOUR_CALM

    raw = Raw(shared_daemon.socket)
    raw.sock.settimeout(3)
    pings = h2.frame(h2.PING, 0, 0, b"12345678") * 4096
    sent = 0
    try:
        while sent < 256 << 20:
            raw.sock.sendall(pings)
            sent += len(pings)
    except TimeoutError:
        pass
    assert sent < 256 << 20
    time.sleep(2)  # a daemon still reading would have emptied our send queue by now
    raw.sock.settimeout(1)
    try:
        raw.sock.send(pings)
        still_reading = True
    except TimeoutError:
        still_reading = False
    assert not still_reading, "the daemon kept reading from a peer that reads none of its answers"
    raw.sock.close()
    assert client.execute("print('still serving')").stdout == "still serving\n"


def test_a_connection_that_never_speaks_is_closed(shared_daemon: Daemon) -> None:
    """It would otherwise hold one of the daemon's descriptors for good."""
    silent = socket.socket(socket.AF_UNIX)
    silent.connect(shared_daemon.socket)
    silent.settimeout(30)  # the daemon gives up after 10 s; recv raises if it never does
    assert silent.recv(1) == b""
    silent.close()
    assert "event=connection_unrouted" in shared_daemon.log()
