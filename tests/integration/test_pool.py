"""Warm pools against a real daemon: single use, replacement of dead workers, the queue bound,
the counters `sandboxctl status` shows, and the pool disabled (cold starts).

Single use is proven the way an attacker would probe it: one run leaves behind everything it
can (files in every writable place, module globals and caches, environment, a background
process holding a socket), and every later run — on every worker the pool holds — looks for
any of it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import Daemon, fork_servers_of, worker_cgroups
from sandboxctl import Client
from sandboxctl.errors import DaemonUnavailable, ResourceExhausted

POOL = 2
LATER_RUNS = POOL + 2  # more than the pool holds: every worker that existed gets checked

PY_POLLUTE = r"""
import builtins, colorsys, json, os, socket, subprocess, sys, time
for d in ("/work", "/tmp", "/dev/shm"):
    with open(d + "/left-behind", "w") as f:
        f.write("state")
with open("/work/leaky_module.py", "w") as f:
    f.write("VALUE = 1\n")
import leaky_module
json.LEAKED = True
builtins.LEAKED = True
sys.LEAKED = True
os.environ["LEAKED"] = "1"
os.putenv("LEAKED_PUTENV", "1")
colorsys.LEAKED = True
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind("\0sandboxd-leak")
srv.listen(1)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
print("polluted", len([p for p in os.listdir("/proc") if p.isdigit()]))
"""

PY_CHECK = r"""
import builtins, json, os, socket, sys
seen = {}
seen["files"] = sorted(os.listdir("/work")) + sorted(os.listdir("/tmp")) + sorted(os.listdir("/dev/shm"))
seen["modules"] = sorted(m for m in ("colorsys", "leaky_module") if m in sys.modules)
seen["globals"] = [n for n, o in (("json", json), ("builtins", builtins), ("sys", sys)) if hasattr(o, "LEAKED")]
seen["env"] = sorted(k for k in os.environ if k.startswith("LEAKED"))
seen["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid())
try:
    import leaky_module
    seen["import"] = "imported"
except ImportError:
    seen["import"] = "absent"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\0sandboxd-leak")
    seen["socket"] = "connected"
except OSError:
    seen["socket"] = "refused"
print(json.dumps(seen))
"""

PY_CLEAN = {"files": ["main.py"], "modules": [], "globals": [], "env": [], "processes": [1],
            "import": "absent", "socket": "refused"}

JS_POLLUTE = r"""
const fs = require('fs');
const net = require('net');
const { spawn } = require('child_process');
for (const d of ['/work', '/tmp', '/dev/shm']) fs.writeFileSync(d + '/left-behind', 'state');
fs.writeFileSync('/work/leaky_module.js', 'module.exports = 1;');
require('/work/leaky_module.js');
globalThis.LEAKED = true;
Object.prototype.leakedEverywhere = true;
require('path').LEAKED = true;
process.env.LEAKED = '1';
spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { detached: true, stdio: 'ignore' }).unref();
const srv = net.createServer().listen('\0sandboxd-leak', () => {
  srv.unref();
});
console.log('polluted');
"""

JS_CHECK = r"""{
const fs = require('fs');
const net = require('net');
const seen = {};
seen.files = ['/work', '/tmp', '/dev/shm'].flatMap((d) => fs.readdirSync(d).sort());
seen.modules = Object.keys(require.cache).filter((k) => k.includes('leaky'));
seen.globals = [['globalThis', globalThis.LEAKED], ['Object.prototype', ({}).leakedEverywhere],
                ['path', require('path').LEAKED]].filter(([, v]) => v !== undefined).map(([n]) => n);
seen.env = Object.keys(process.env).filter((k) => k.startsWith('LEAKED'));
seen.processes = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)
  .filter((p) => p !== process.pid).sort((a, b) => a - b);
try { require('/work/leaky_module.js'); seen.import = 'imported'; } catch (e) { seen.import = 'absent'; }
const s = net.connect('\0sandboxd-leak');
s.on('connect', () => { seen.socket = 'connected'; console.log(JSON.stringify(seen)); process.exit(0); });
s.on('error', () => { seen.socket = 'refused'; console.log(JSON.stringify(seen)); });
}
"""

JS_CLEAN = {"files": ["main.js"], "modules": [], "globals": [], "env": [], "processes": [1],
            "import": "absent", "socket": "refused"}


@pytest.fixture
def pool_daemon(daemon_factory) -> Daemon:
    return daemon_factory({"languages": {"python": {"pool_size": POOL}, "javascript": {"pool_size": POOL}}})


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    """Polls until `condition()` holds; the deadline only bounds a hung test, nothing is timed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def pool_status(c: Client, language: str):
    return next(p for p in c.status().pools if p.language == language)


def full(c: Client, language: str) -> bool:
    p = pool_status(c, language)
    return p.ready == p.target and p.building == 0


@pytest.mark.parametrize(("language", "pollute", "check", "clean"), [
    ("python", PY_POLLUTE, PY_CHECK, PY_CLEAN),
    ("javascript", JS_POLLUTE, JS_CHECK, JS_CLEAN),
])
def test_no_state_survives_between_runs(pool_daemon: Daemon, language: str, pollute: str, check: str,
                                        clean: dict[str, object]) -> None:
    with pool_daemon.client() as c:
        wait_for(lambda: full(c, language), "a full pool")
        dirty = c.execute(pollute, language=language, timeout_s=10)
        assert dirty.status == "ok", dirty
        assert dirty.stdout.startswith("polluted"), dirty
        # The polluting run saw its own state: the check would notice it if it survived.
        same_run = c.execute(pollute + "\n" + check, language=language, timeout_s=10)
        assert same_run.status == "ok", same_run
        assert json.loads(same_run.stdout.splitlines()[-1])["files"] != clean["files"]
        for _ in range(LATER_RUNS):
            r = c.execute(check, language=language, timeout_s=10)
            assert r.status == "ok", r
            assert json.loads(r.stdout) == clean, r.stdout
        assert pool_status(c, language).runs_served == LATER_RUNS + 2


def _worker_pids(cgroup_name: str) -> dict[str, list[int]]:
    """Host pids of each worker's processes, keyed by the worker's cgroup."""
    out: dict[str, list[int]] = {}
    for path in worker_cgroups(cgroup_name):
        if "/pids/" not in path:
            continue
        with open(f"{path}/cgroup.procs") as f:
            out[os.path.basename(path)] = [int(p) for p in f.read().split()]
    return out


def _inner_pid(host_pid: int) -> int:
    """The pid a process has inside its worker's pid namespace (1: the worker's init)."""
    with open(f"/proc/{host_pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    raise AssertionError(f"no NSpid for {host_pid}")


@pytest.mark.parametrize("victim", ["init", "runner"])
def test_dead_idle_worker_is_replaced(daemon_factory, victim: str) -> None:
    d = daemon_factory({"languages": {"python": {"pool_size": POOL}, "javascript": {"pool_size": 0}}})
    with d.client() as c:
        wait_for(lambda: full(c, "python") and len(_worker_pids(d.cgroup_name)) == POOL, "a full pool")
        before = _worker_pids(d.cgroup_name)
        doomed, pids = sorted(before.items())[0]
        wanted = 1 if victim == "init" else 2
        target = next(p for p in pids if _inner_pid(p) == wanted)
        os.kill(target, signal.SIGKILL)

        def replaced() -> bool:
            now = _worker_pids(d.cgroup_name)
            return doomed not in now and len(now) == POOL and full(c, "python")

        wait_for(replaced, f"the worker whose {victim} was killed to be replaced")
        survivors = set(before) - {doomed}
        assert survivors <= set(_worker_pids(d.cgroup_name)), "healthy workers are kept"
        for _ in range(POOL):
            r = c.execute("print('still fine')")
            assert (r.status, r.stdout, r.warm_start) == ("ok", "still fine\n", True), r
        assert pool_status(c, "python").cold_starts == 0


def test_a_dead_fork_server_is_replaced_before_its_turn(daemon_factory) -> None:
    """Builds go to the fork servers in turn: one that died must not fail every build that
    would have been its own."""
    d = daemon_factory({"languages": {"python": {"pool_size": 2}, "javascript": {"pool_size": 0}}})
    with d.client() as c:
        wait_for(lambda: full(c, "python"), "a full pool")
        servers = fork_servers_of(d.process.pid)
        assert len(servers) > 1, servers
        os.kill(servers[0], signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{servers[0]}").exists()
                 or Path(f"/proc/{servers[0]}/stat").read_text().split(")")[-1].split()[0] == "Z",
                 "the killed fork server to be dead")
        for _ in range(4 * len(servers)):
            r = c.execute("print('built')")
            assert (r.status, r.stdout) == ("ok", "built\n"), r
        wait_for(lambda: full(c, "python"), "the pool to refill")
        assert pool_status(c, "python").build_failures == 0
        now = fork_servers_of(d.process.pid)
        assert len(now) == len(servers) and servers[0] not in now, (servers, now)
    assert "event=fork_server_replaced" in d.log()


def test_queue_bound_gives_resource_exhausted(daemon_factory) -> None:
    # A "language" whose worker never becomes ready: a request for it waits in the queue for
    # as long as the test needs, so the bound is reached deterministically.
    never_ready = {"interpreter": "/usr/bin/sleep", "extensions": [".wait"], "pool_size": 0,
                   "runner": "node_runner.js", "command": ["{interpreter}", "600"]}
    d = daemon_factory({"max_queue": 1, "lint_policy": "off",
                        "languages": {"javascript": {"pool_size": 0}, "stuck": never_ready}})
    outcome: list[BaseException] = []

    def queued() -> None:
        try:
            with Client(d.socket) as c:
                c.execute("anything", language="stuck")
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=queued)
    thread.start()
    try:
        with d.client() as c:
            wait_for(lambda: pool_status(c, "stuck").waiting == 1, "the first request to queue")
            with pytest.raises(ResourceExhausted, match="already waiting"):
                c.execute("anything", language="stuck")
            r = c.execute("print('other pools still serve')")
            assert r.status == "ok", r
    finally:
        d.stop()
        thread.join(30)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], DaemonUnavailable), outcome


def test_status_counters_and_cli(pool_daemon: Daemon) -> None:
    runs = 5
    with pool_daemon.client() as c:
        wait_for(lambda: full(c, "python") and full(c, "javascript"), "full pools")
        for _ in range(runs):
            wait_for(lambda: full(c, "python"), "the python pool to refill")
            r = c.execute("print('hi')")
            assert (r.status, r.warm_start) == ("ok", True), r
            assert r.to_dict()["warm_start"] is True
        assert c.execute("console.log(1)", language="javascript").warm_start is True
        wait_for(lambda: full(c, "python") and full(c, "javascript"), "refilled pools")
        py = pool_status(c, "python")
        js = pool_status(c, "javascript")
    assert (py.target, py.ready, py.building, py.runs_served, py.cold_starts) == (POOL, POOL, 0, runs, 0)
    assert (js.target, js.ready, js.runs_served) == (POOL, POOL, 1)
    assert py.mean_build_ms > 0 and js.mean_build_ms > 0
    assert 0 < py.handover_p50_ms <= py.handover_p90_ms <= py.handover_p99_ms
    assert 0 < js.handover_p50_ms <= js.handover_p99_ms

    text = pool_daemon.ctl("status")
    assert text.returncode == 0, text
    out = text.stdout.decode()
    for heading in ("target", "ready", "build", "served", "build ms", "handover p50/p90/p99 ms"):
        assert heading in out, out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("python"))
    assert row[1:5] == [str(POOL), str(POOL), "0", str(runs)], out

    as_json = json.loads(pool_daemon.ctl("status", "--json").stdout)
    py_json = next(p for p in as_json["pools"] if p["language"] == "python")
    assert int(py_json["runsServed"]) == runs and py_json["target"] == POOL

    cli = pool_daemon.ctl("exec", "--json", "/dev/stdin", "--lang", "python", stdin=b"print(2)")
    assert json.loads(cli.stdout)["warm_start"] is True


def test_pool_disabled_runs_cold(daemon_factory) -> None:
    d = daemon_factory({"languages": {"python": {"pool_size": 0}, "javascript": {"pool_size": 0}}})
    with d.client() as c:
        for language, code in (("python", "print('cold')"), ("javascript", "console.log('cold')")):
            r = c.execute(code, language=language)
            assert (r.status, r.stdout, r.warm_start) == ("ok", "cold\n", False), r
            p = pool_status(c, language)
            assert (p.target, p.runs_served, p.cold_starts) == (0, 1, 1)
        wait_for(lambda: not worker_cgroups(d.cgroup_name), "no idle worker to be kept")
        assert all(p.ready == 0 for p in c.status().pools)
    cli = d.ctl("exec", "--json", "/dev/stdin", "--lang", "python", stdin=b"print(3)")
    assert json.loads(cli.stdout)["warm_start"] is False


def test_runs_are_spread_over_more_than_one_hash_seed_and_layout(pool_daemon: Daemon) -> None:
    """A fork-mode worker inherits its fork server's str hash seed and layout (where the
    interpreter's objects lie), drawn once per exec, and CPU-bound speed with them:
    consecutive builds go to different servers, so a daemon's runs do not all share one draw."""
    with pool_daemon.client() as c:
        draws = []
        for _ in range(8):
            r = c.execute("import sys\nprint(hex(id(sys)), hash('sandboxd'))\n")
            assert r.status == "ok", r
            draws.append(r.stdout.split())
    assert len({layout for layout, _ in draws}) > 1, draws
    assert len({seed for _, seed in draws}) > 1, draws
