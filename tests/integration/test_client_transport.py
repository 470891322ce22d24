"""The sync Client's own gRPC framing (sandboxctl/http2.py) against the real daemon: large
messages both ways, threads, fork, deadlines, abandoned streams, a restarted daemon, and the
same answers as grpcio's own client."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from conftest import Daemon, start_daemon
from sandboxctl import Client, SandboxError
from sandboxctl._pb.sandbox.v1 import sandbox_pb2 as pb
from sandboxctl._pb.sandbox.v1 import sandbox_pb2_grpc as pb_grpc


def wait_idle(client: Client, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while client.status().active_runs:
        assert time.monotonic() < deadline, "a run is still active"
        time.sleep(0.05)


def test_messages_larger_than_every_window_arrive_whole(client: Client) -> None:
    """A 6 MB file in (grpc's default window is 64 KB) and 3 MB of output back."""
    data = os.urandom(6 << 20)
    code = ("import hashlib, sys\nd = open('blob', 'rb').read()\nprint(hashlib.sha256(d).hexdigest())\n"
            "sys.stdout.write('x' * (3 << 20))\n")
    r = client.execute(code, files={"blob": data}, max_output_bytes=4 << 20, max_file_size_mb=16)
    assert r.status == "ok", r.stderr
    digest, _, rest = r.stdout.partition("\n")
    assert digest == hashlib.sha256(data).hexdigest()
    assert rest == "x" * (3 << 20) and not r.stdout_truncated


def test_threads_share_one_client(client: Client) -> None:
    results: dict[int, str] = {}
    ids: list[str] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(3):
                r = client.execute(f"print({n * 10 + i})")
                results[n * 10 + i] = r.stdout
                ids.append(r.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert results == {k: f"{k}\n" for k in results} and len(results) == 18
    assert len(set(ids)) == 18


def test_a_forked_child_and_its_parent_both_keep_working(shared_daemon: Daemon) -> None:
    script = f"""
import os, sys
from sandboxctl import Client
c = Client({shared_daemon.socket!r})
assert c.execute("print('parent 1')").stdout == "parent 1\\n"
pid = os.fork()
if pid == 0:
    ok = c.execute("print('child')").stdout == "child\\n"
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert c.execute("print('parent 2')").stdout == "parent 2\\n"
print("fine")
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert p.stdout == b"fine\n", p.stderr.decode()


def test_a_deadline_ends_the_call_and_its_run(shared_daemon: Daemon) -> None:
    with Client(shared_daemon.socket, timeout=1.0) as c:
        started = time.monotonic()
        with pytest.raises(SandboxError, match="DEADLINE_EXCEEDED"):
            c.execute("import time\ntime.sleep(60)\n", timeout_s=90)
        assert time.monotonic() - started < 10
        wait_idle(c)
        assert c.execute("print('next')").stdout == "next\n"  # the same client carries on


def test_leaving_a_stream_early_kills_its_run(client: Client) -> None:
    events = client.stream("import time\nprint('up', flush=True)\ntime.sleep(120)\n", timeout_s=150)
    for event in events:
        if event.kind == "stdout":
            break
    events.close()
    wait_idle(client, timeout=10)  # the program would sleep for two minutes
    assert client.execute("print('after')").stdout == "after\n"


def test_a_client_outlives_a_daemon_restart(tmp_short: Path) -> None:
    config = {"languages": {"python": {"pool_size": 1}, "javascript": {"pool_size": 0}}}
    first = start_daemon(tmp_short / "d", config)
    second = None
    c = Client(first.socket)
    try:
        assert c.execute("print(1)").stdout == "1\n"
        assert first.stop() == 0
        with pytest.raises(SandboxError):
            c.execute("print(2)")
        second = start_daemon(tmp_short / "d", config, cgroup_name=first.cgroup_name)
        assert c.execute("print(3)").stdout == "3\n"
    finally:
        c.close()
        first.stop()
        if second is not None:
            assert not second.stop_and_clean()


def test_a_closed_client_refuses_calls(shared_daemon: Daemon) -> None:
    c = Client(shared_daemon.socket)
    c.close()
    with pytest.raises(SandboxError, match="closed"):
        c.execute("print(1)")


def test_grpcio_and_the_client_get_the_same_answers(client: Client, shared_daemon: Daemon) -> None:
    code = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)\n"
    ours = client.execute(code)
    with grpc.insecure_channel("unix:" + shared_daemon.socket) as channel:
        theirs = pb_grpc.SandboxStub(channel).Run(pb.ExecuteRequest(language="python", code=code.encode()))
        with pytest.raises(grpc.RpcError) as refused:
            pb_grpc.SandboxStub(channel).Run(pb.ExecuteRequest(language="cobol", code=b"x"))
    assert (ours.status, ours.exit_code, ours.stdout, ours.stderr) == (
        theirs.status, theirs.exit_code, theirs.stdout.decode(), theirs.stderr.decode())
    with pytest.raises(SandboxError) as mine:
        client.execute("x", language="cobol")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(mine.value) == refused.value.details()


def test_importing_the_sync_client_does_not_import_grpc() -> None:
    check = ("import sys\nfrom sandboxctl import Client\nassert 'grpc' not in sys.modules\n"
             "from sandboxctl import AsyncClient\nassert 'grpc' in sys.modules\nprint('ok')\n")
    p = subprocess.run([sys.executable, "-c", check], capture_output=True, timeout=60)
    assert p.stdout == b"ok\n", p.stderr.decode()
