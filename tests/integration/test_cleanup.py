"""Nothing a run starts outlives it: processes, cgroups, files; also when its client vanishes.

These tests use a daemon without warm pools and with a worker uid range of its own, so that
after a run the host must hold no process in that range and no worker cgroup at all:
anything found is a leftover of the run, not an idle worker or another daemon's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import SANDBOXCTL, Daemon, cgroup_parents, start_daemon
from hostview import UID_COUNT, find_busy_worker, private_uid_base, processes_in_uid_range, wait_until, workers
from sandboxctl import AsyncClient, Client


@pytest.fixture(scope="module")
def bare_daemon() -> Iterator[Daemon]:
    path = Path(tempfile.mkdtemp(prefix="sbx-bare-", dir="/tmp"))
    uid_base = private_uid_base()
    d = start_daemon(path, {
        "sandbox": {"uid_base": uid_base, "uid_count": UID_COUNT},
        "languages": {"python": {"pool_size": 0}, "javascript": {"pool_size": 0}},
    })
    d.uid_base = uid_base  # type: ignore[attr-defined]
    yield d
    leftovers = d.stop_and_clean()
    assert d.process.returncode == 0, d.log()
    shutil.rmtree(path, ignore_errors=True)
    assert not leftovers, f"worker cgroups left behind: {leftovers}"


@pytest.fixture
def bare(bare_daemon: Daemon) -> Iterator[Client]:
    c = Client(bare_daemon.socket)
    yield c
    c.close()


def leftovers(d: Daemon) -> tuple[list[int], list[str]]:
    return processes_in_uid_range(d.uid_base, UID_COUNT), workers(d.cgroup_name)  # type: ignore[attr-defined]


def assert_nothing_left(d: Daemon) -> None:
    assert wait_until(lambda: leftovers(d) == ([], [])), f"left behind (pids, cgroups): {leftovers(d)}"


DOUBLE_FORK = """
import os, time
for _ in range(3):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.setsid()
            time.sleep(120)
        os._exit(0)
print('spawned', flush=True)
"""

NODE_CHILDREN = """
const cp = require('child_process');
for (let i = 0; i < 3; i++) {
  const c = cp.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {detached: true, stdio: 'ignore'});
  c.unref();
}
console.log('spawned');
"""


def test_double_forked_setsid_children_are_gone(bare: Client, bare_daemon: Daemon) -> None:
    r = bare.execute(DOUBLE_FORK)
    assert (r.status, r.exit_code, r.stdout) == ("ok", 0, "spawned\n"), r
    assert_nothing_left(bare_daemon)


def test_detached_node_children_are_gone(bare: Client, bare_daemon: Daemon) -> None:
    r = bare.execute(NODE_CHILDREN, language="javascript")
    assert (r.status, r.exit_code, r.stdout) == ("ok", 0, "spawned\n"), r
    assert_nothing_left(bare_daemon)


@pytest.mark.parametrize("lang", ["python", "javascript"])
def test_a_program_that_reports_its_exit_early_is_ended_on_it(bare: Client, bare_daemon: Daemon, lang: str) -> None:
    """The exit pipe's byte is taken as the run's end (runners/init.py): a program that writes
    one and carries on has said it exited, and is ended like one that did."""
    code = {
        "python": "import os, time\nprint('before', flush=True)\nos.write(5, bytes([7]))\ntime.sleep(120)\n",
        "javascript": "const fs = require('fs');\nconsole.log('before');\nfs.writeSync(5, Buffer.from([7]));\n"
                      "setInterval(() => {}, 1000);\n",
    }[lang]
    r = bare.execute(code, language=lang, timeout_s=60)
    assert (r.status, r.exit_code, r.stdout) == ("ok", 7, "before\n"), r
    assert_nothing_left(bare_daemon)


@pytest.mark.parametrize("lang", ["python", "javascript"])
def test_children_of_a_timed_out_run_are_gone(bare: Client, bare_daemon: Daemon, lang: str) -> None:
    code = DOUBLE_FORK + "time.sleep(120)\n" if lang == "python" else NODE_CHILDREN + "setInterval(() => {}, 1000);\n"
    r = bare.execute(code, language=lang, timeout_s=1)
    assert (r.status, r.stdout) == ("timeout", "spawned\n"), r
    assert_nothing_left(bare_daemon)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["KILL", "INT", "TERM"])
def test_a_run_whose_client_process_is_killed_is_cancelled(bare_daemon: Daemon, tmp_path: Path, sig: int) -> None:
    program = tmp_path / "forever.py"
    program.write_text("import threading, time\n" + DOUBLE_FORK
                       + "for _ in range(20):\n    threading.Thread(target=time.sleep, args=(300,)).start()\n"
                       + "print('running', flush=True)\ntime.sleep(300)\n")
    cli = subprocess.Popen([SANDBOXCTL, "--socket", bare_daemon.socket, "exec", str(program), "--timeout", "300"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert cli.stdout is not None
        assert cli.stdout.readline() == b"spawned\n"
        assert cli.stdout.readline() == b"running\n"
        worker = find_busy_worker(bare_daemon.cgroup_name, 20)
        cli.send_signal(sig)
        rc = cli.wait(30)
    finally:
        cli.kill()
        cli.wait()
    assert rc == (130 if sig == signal.SIGINT else -sig)  # Ctrl-C: the CLI says so and exits 130
    assert wait_until(worker.gone), f"worker {worker.name} survived its client"
    assert_nothing_left(bare_daemon)
    with Client(bare_daemon.socket) as c:
        assert c.execute("print('next')").stdout == "next\n"


def test_a_library_client_killed_while_waiting_for_execute_cancels_the_run(bare_daemon: Daemon) -> None:
    """Client.execute waits for one answer (the Run call): its process dying must end the run."""
    program = ("import threading, time\n" + DOUBLE_FORK
               + "for _ in range(20):\n    threading.Thread(target=time.sleep, args=(300,)).start()\n")
    caller = subprocess.Popen([sys.executable, "-c", "from sandboxctl import Client\n"
                               f"Client({bare_daemon.socket!r}).execute({program!r}, timeout_s=300)\n"])
    try:
        worker = find_busy_worker(bare_daemon.cgroup_name, 20)
        caller.kill()
        caller.wait(30)
    finally:
        caller.kill()
        caller.wait()
    assert wait_until(worker.gone), f"worker {worker.name} survived its client"
    assert_nothing_left(bare_daemon)


def test_a_library_client_that_stops_reading_cancels_the_run(bare: Client, bare_daemon: Daemon) -> None:
    code = DOUBLE_FORK + "time.sleep(300)\n"
    stream = bare.stream(code, timeout_s=300)
    for event in stream:
        if event.kind == "stdout":
            break
    stream.close()  # the generator's exit cancels the RPC
    assert_nothing_left(bare_daemon)


def test_twenty_concurrent_runs(shared_daemon: Daemon) -> None:
    def one(i: int) -> tuple[str, str, str]:
        with Client(shared_daemon.socket) as c:
            if i % 2:
                r = c.execute(f"import time\ntime.sleep(0.3)\nprint({i})\n", timeout_s=60)
            else:
                r = c.execute(f"setTimeout(() => console.log({i}), 300);", language="javascript", timeout_s=60)
            return r.status, r.stdout, r.stderr

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    assert results == [("ok", f"{i}\n", "") for i in range(20)]


def test_concurrent_runs_leave_nothing_behind(bare_daemon: Daemon) -> None:
    def one(i: int) -> str:
        with Client(bare_daemon.socket) as c:
            return c.execute(DOUBLE_FORK if i % 2 else NODE_CHILDREN, language="python" if i % 2 else "javascript",
                             timeout_s=60).status

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(one, range(20))) == ["ok"] * 20
    assert_nothing_left(bare_daemon)


def test_runs_leave_no_files_on_the_host(bare: Client, bare_daemon: Daemon) -> None:
    before = sorted(os.listdir(bare_daemon.dir))
    r = bare.execute("import os\nfor d in ('.', '/tmp', '/dev/shm'):\n"
                     "    os.makedirs(os.path.join(d, 'made/by/run'))\n"
                     "    open(os.path.join(d, 'made/by/run/file'), 'wb').write(b'x' * 4096)\n")
    assert (r.status, r.exit_code) == ("ok", 0), r
    assert sorted(os.listdir(bare_daemon.dir)) == before
    assert not os.path.exists("/tmp/made") and not os.path.exists("/dev/shm/made")
    assert_nothing_left(bare_daemon)


def test_a_run_that_keeps_forking_is_torn_down_completely(bare: Client, bare_daemon: Daemon) -> None:
    """Processes that fork and exit nonstop race any kill that reads a pid list first."""
    code = ("import os, time\nfor _ in range(6):\n    if os.fork() == 0:\n        os.setsid()\n"
            "        while True:\n            try:\n                pid = os.fork()\n            except OSError:\n"
            "                continue\n            if pid == 0:\n                os._exit(0)\n"
            "            os.waitpid(pid, 0)\nprint('storm', flush=True)\ntime.sleep(60)\n")
    r = bare.execute(code, timeout_s=1, max_processes=32)
    assert (r.status, r.stdout) == ("timeout", "storm\n"), r
    assert_nothing_left(bare_daemon)


def test_an_async_client_that_stops_reading_cancels_the_run(bare_daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(bare_daemon.socket) as c:
            stream = c.stream(DOUBLE_FORK + "time.sleep(300)\n", timeout_s=300)
            async for event in stream:
                if event.kind == "stdout":
                    break
            await stream.aclose()

    asyncio.run(main())
    assert_nothing_left(bare_daemon)


def test_runs_end_when_the_daemon_dies(daemon_factory, tmp_path: Path) -> None:
    """A daemon killed outright cannot enforce timeouts any more: its workers notice it is
    gone and end their runs themselves. The next daemon removes the cgroups left behind."""
    uid_base = private_uid_base()
    config = {"sandbox": {"uid_base": uid_base, "uid_count": UID_COUNT},
              "languages": {"python": {"pool_size": 1}, "javascript": {"pool_size": 1}}}
    d = daemon_factory(config)
    program = tmp_path / "forever.py"
    program.write_text(DOUBLE_FORK + "time.sleep(300)\n")
    cli = subprocess.Popen([SANDBOXCTL, "--socket", d.socket, "exec", str(program), "--timeout", "300"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert cli.stdout is not None and cli.stdout.readline() == b"spawned\n"
        d.process.kill()
        d.process.wait()
        _, err = cli.communicate(timeout=30)
    finally:
        cli.kill()
        cli.wait()
    assert cli.returncode == 125
    assert b"Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert b"lost the connection to sandboxd" in err, err
    assert wait_until(lambda: not processes_in_uid_range(uid_base, UID_COUNT)), \
        f"processes outlived the daemon: {processes_in_uid_range(uid_base, UID_COUNT)}"
    successor = daemon_factory(config, cgroup_name=d.cgroup_name)
    with successor.client() as c:
        assert c.execute("print('after')").stdout == "after\n"
    assert successor.stop() == 0
    assert workers(d.cgroup_name) == [], "the successor did not remove the dead daemon's cgroups"


def test_a_worker_whose_runner_never_asks_ends_when_the_daemon_dies(daemon_factory) -> None:
    """A spawned runner that never reads its control pipe (here: sleep) gets no EOF from it
    when the daemon goes away: pid 1 must notice the daemon's end of the status pipe close,
    before any run, and take the worker down itself."""
    uid_base = private_uid_base()
    never_ready = {"interpreter": "/usr/bin/sleep", "extensions": [".wait"], "pool_size": 1,
                   "runner": "node_runner.js", "command": ["{interpreter}", "600"]}
    config = {"sandbox": {"uid_base": uid_base, "uid_count": UID_COUNT}, "lint_policy": "off",
              "languages": {"python": {"pool_size": 0}, "javascript": {"pool_size": 0}, "stuck": never_ready}}
    d = daemon_factory(config, wait=False)
    assert wait_until(lambda: len(processes_in_uid_range(uid_base, UID_COUNT)) >= 2, 30), \
        "the stuck worker's pid 1 and runner never started"
    d.process.kill()
    d.process.wait()
    assert wait_until(lambda: not processes_in_uid_range(uid_base, UID_COUNT)), \
        f"processes outlived the daemon: {processes_in_uid_range(uid_base, UID_COUNT)}"
    successor = daemon_factory({**config, "languages": {"python": {"pool_size": 0}, "javascript": {"pool_size": 0}}},
                               cgroup_name=d.cgroup_name)
    assert successor.stop() == 0
    assert workers(d.cgroup_name) == [], "the successor did not remove the dead daemon's cgroups"


def test_a_worker_cgroup_the_daemon_lost_track_of_is_swept_at_shutdown(daemon_factory) -> None:
    """Whatever sits in a worker cgroup under the daemon's parent when it stops (here a
    process the test put there: the case of a worker admitted after its build was given up)
    is killed and removed before the daemon lets go of its lock, and the log says so."""
    d = daemon_factory({"languages": {"python": {"pool_size": 0}, "javascript": {"pool_size": 0}}})
    stray = subprocess.Popen(["/usr/bin/sleep", "600"])
    try:
        for parent in {os.path.realpath(p) for p in cgroup_parents(d.cgroup_name) if os.path.isdir(p)}:
            os.mkdir(f"{parent}/stray-1")
            with open(f"{parent}/stray-1/cgroup.procs", "w") as f:
                f.write(str(stray.pid))
        assert d.stop() == 0, d.log()
        assert stray.wait(timeout=10) == -signal.SIGKILL
    finally:
        stray.kill()
        stray.wait()
    assert workers(d.cgroup_name) == []
    assert "event=cleaned_leftovers kind=cgroups count=1 when=shutdown" in d.log(), d.log()


def test_the_daemons_cgroup_parents_are_removed_when_it_stops(daemon_factory) -> None:
    """The levels that held its workers (`sandbox.cgroup_name`, in every controller) go with
    the daemon: a stop leaves no empty `sandboxd` behind."""
    d = daemon_factory({"languages": {"python": {"pool_size": 1}, "javascript": {"pool_size": 0}}})
    with d.client() as c:
        assert c.execute("print(1)").status == "ok"
    assert [p for p in cgroup_parents(d.cgroup_name) if os.path.isdir(p)], "the daemon made its parents"
    assert d.stop() == 0, d.log()
    assert [p for p in cgroup_parents(d.cgroup_name) if os.path.isdir(p)] == []
