"""What the daemon tells its supervisor and its operators: sd_notify messages (through a
NOTIFY_SOCKET the test binds), journald fields (through a stand-in journal socket), the gRPC
health service, and the Prometheus metrics endpoint."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Daemon
from grpc_health.v1 import health_pb2
from svc import (
    health_status,
    launcher,  # noqa: F401 - a fixture
    wait_for,
)

JOURNAL_DIR = Path("/run/systemd/journal")
JOURNAL_SOCKET = JOURNAL_DIR / "socket"


class Datagrams:
    """A bound unix datagram socket collecting what is sent to it, with the sender's pid."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.messages: list[tuple[int, bytes]] = []

    def collect(self, until: Callable[[list[tuple[int, bytes]]], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not until(self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not received in {timeout}s; got {self.messages}")
            self.sock.settimeout(left)
            try:
                data, ancdata, _, _ = self.sock.recvmsg(1 << 17, socket.CMSG_SPACE(12))
            except TimeoutError:
                continue
            pid = 0
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", value[:12])[0]
            self.messages.append((pid, data))

    def close(self) -> None:
        self.sock.close()


def notify_lines(messages: list[tuple[int, bytes]]) -> list[str]:
    return [m.decode() for _, m in messages]


def test_sd_notify_ready_status_watchdog_reload_stopping(launcher: Callable[..., Daemon],  # noqa: F811
                                                         tmp_short: Path) -> None:
    path = str(tmp_short / "notify.sock")
    sink = Datagrams(path)
    d = launcher({"languages": {"python": {"pool_size": 2}}}, wait=False,
                 env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    try:
        sink.collect(lambda ms: any(b"READY=1" in m for _, m in ms))
        lines = notify_lines(sink.messages)
        ready = next(m for m in lines if "READY=1" in m)
        assert lines[0] == "STATUS=warming the pools", lines
        assert re.fullmatch(r"READY=1\nSTATUS=serving; ready python=2/2 javascript=1/1; 0 running", ready), ready
        assert {pid for pid, _ in sink.messages} == {d.process.pid}, "NotifyAccess=main: only the main pid speaks"
        assert wait_for(lambda: "event=ready" in d.log(), 10), "READY=1 is sent once the pools are warm"

        # WATCHDOG_USEC=1s: a ping (with the pool status) at least every half second.
        count = len(sink.messages)
        sink.collect(lambda ms: sum(m.startswith(b"WATCHDOG=1\nSTATUS=serving") for _, m in ms[count:]) >= 3, 30)

        d.process.send_signal(signal.SIGHUP)
        sink.collect(lambda ms: any(m.startswith(b"RELOADING=1\nMONOTONIC_USEC=") for _, m in ms))
        reloading = next(i for i, m in enumerate(notify_lines(sink.messages)) if m.startswith("RELOADING=1"))
        sink.collect(lambda ms: any(m.startswith(b"READY=1") for _, m in ms[reloading:]))

        d.process.send_signal(signal.SIGTERM)
        sink.collect(lambda ms: any(m.startswith(b"STOPPING=1") for _, m in ms))
        assert "STOPPING=1\nSTATUS=draining; 0 running" in notify_lines(sink.messages)
        assert d.process.wait(30) == 0
    finally:
        d.stop(signal.SIGKILL)
        sink.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_breaks(launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    """The other tests run without NOTIFY_SOCKET; this one also sets a watchdog, which only
    matters under systemd."""
    d = launcher(env={"WATCHDOG_USEC": "200000"})
    time.sleep(0.5)
    with d.client() as c:
        assert c.execute("print('fine')").stdout == "fine\n"
    assert d.process.poll() is None


@contextlib.contextmanager
def fake_journal() -> Iterator[Datagrams]:
    """Binds journald's socket path, when no journald exists on this host (it has no
    systemd as PID 1); serialised between concurrent test runs by a lock file."""
    with open("/run/sandboxd-test-journal.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if JOURNAL_SOCKET.exists():
            pytest.skip("a journald socket exists on this host; not replacing it")
        created = not JOURNAL_DIR.exists()
        JOURNAL_DIR.mkdir(parents=True, exist_ok=True)
        sink = Datagrams(str(JOURNAL_SOCKET))
        try:
            yield sink
        finally:
            sink.close()
            JOURNAL_SOCKET.unlink()
            if created:
                JOURNAL_DIR.rmdir()


def journal_fields(data: bytes) -> dict[str, str]:
    """The native journal protocol: KEY=value lines, or KEY\\n<le64 length><value>\\n."""
    fields: dict[str, str] = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            i = nl + 1
        else:
            key = line
            size = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
            value = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        fields[key.decode()] = value.decode()
    return fields


def test_journal_fields_under_systemd(launcher: Callable[..., Daemon], tmp_short: Path) -> None:  # noqa: F811
    """With stderr being the journal stream (JOURNAL_STREAM names its device and inode),
    records go to the journal natively with RUN_ID, PEER_UID, STATUS… fields."""
    directory = tmp_short / "d"
    directory.mkdir()
    stderr = directory / "stderr"
    stderr.touch()
    st = stderr.stat()
    with fake_journal() as journal:
        d = launcher(directory=directory, wait=False, stderr_path=stderr,
                     env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        try:
            journal.collect(lambda ms: any(b"EVENT=ready" in m for _, m in ms))
            with d.client() as c:
                r = c.execute("print('to the journal')")
            journal.collect(lambda ms: any(b"EVENT=run_finished" in m for _, m in ms))
            assert d.stop() == 0
            journal.collect(lambda ms: any(b"EVENT=stopped" in m for _, m in ms))
        finally:
            d.stop(signal.SIGKILL)
    records = [journal_fields(m) for _, m in journal.messages]
    run = next(f for f in records if f.get("EVENT") == "run_finished")
    assert run["RUN_ID"] == r.id
    assert run["PEER_UID"] == "0"
    assert run["PEER_PID"] == str(os.getpid())
    assert run["STATUS"] == "ok"
    assert run["LANGUAGE"] == "python"
    assert run["SYSLOG_IDENTIFIER"] == "sandboxd"
    assert run["PRIORITY"] == "6"
    assert run["MESSAGE"].startswith("event=run_finished run_id=")
    assert {pid for pid, _ in journal.messages} == {d.process.pid}
    assert "event=run_finished" not in stderr.read_text(), "under systemd, records go to the journal only"


def test_plain_lines_when_journal_stream_is_not_our_stderr(launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    """A daemon started by hand from a systemd session inherits JOURNAL_STREAM, but its
    stderr is something else: it logs plain lines there."""
    d = launcher(env={"JOURNAL_STREAM": "1:1"})
    with d.client() as c:
        c.execute("print(1)")
    assert wait_for(lambda: "event=run_finished" in d.log(), 10)
    assert re.search(r"^\d{4}-\d\d-\d\dT[\d:.]+Z level=info event=run_finished run_id=\w+ peer_uid=0 ", d.log(), re.M)


def test_health_is_serving_only_when_pools_are_ready(launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    """A language whose worker never reports ready keeps the daemon from being ready; its
    health says NOT_SERVING meanwhile, and SIGTERM during that warm-up still drains cleanly."""
    stuck = {"languages": {"stuck": {"interpreter": "/usr/bin/sleep", "extensions": [".stuck"], "pool_size": 1,
                                     "runner": "node_runner.js", "command": ["{interpreter}", "60"]}}}
    d = launcher(stuck, wait=False)
    assert wait_for(lambda: os.path.exists(d.socket), 30), d.log()
    assert wait_for(lambda: "event=listening" in d.log(), 10)
    NOT_SERVING, SERVING = health_pb2.HealthCheckResponse.NOT_SERVING, health_pb2.HealthCheckResponse.SERVING  # noqa: N806
    assert health_status(d.socket) == NOT_SERVING
    assert health_status(d.socket, "sandbox.v1.Sandbox") == NOT_SERVING
    assert "event=ready" not in d.log()
    assert d.stop() == 0, d.log()

    ready = launcher()
    assert health_status(ready.socket) == SERVING
    assert health_status(ready.socket, "sandbox.v1.Sandbox") == SERVING


def test_metrics_endpoint(launcher: Callable[..., Daemon], tmp_short: Path) -> None:  # noqa: F811
    path = str(tmp_short / "metrics.sock")
    d = launcher({"metrics_listen": f"unix:{path}"})
    with d.client() as c:
        c.execute("print(1)")
        c.execute("import time; time.sleep(5)", timeout_s=0.5)

    def scrape(request: bytes = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            s.sendall(request)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    text = scrape()
    head, _, body = text.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200 OK") and "Content-Type: text/plain; version=0.0.4" in head
    assert f"Content-Length: {len(body.encode())}" in head
    assert 'sandboxd_runs_total{status="ok"} 1' in body
    assert 'sandboxd_runs_total{status="timeout"} 1' in body
    assert 'sandboxd_pool_target{language="python"} 2' in body
    assert wait_for(lambda: 'sandboxd_pool_ready{language="python"} 2' in scrape(), 10)
    assert "# TYPE sandboxd_runs_total counter" in body
    assert "sandboxd_active_runs 0" in body and "sandboxd_draining 0" in body
    assert scrape(b"GET /nope HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 404")
    assert scrape(b"POST /metrics HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 405")
    assert d.stop() == 0
    assert not os.path.exists(path), "the metrics socket is removed on exit"
