"""Escape attempts written in JavaScript, run through the real daemon.

Node has no raw system calls, so its attacks go through what Node offers: fs, net, dgram,
dns, child_process, process.* and worker threads — and, through child_process, the Python
interpreter that is mounted inside, which shows that the Node worker's filter (its own
allowlist) and pid 1's kill reach grandchildren. Each case asserts the specific answer.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import textwrap
import time
from pathlib import Path

import pytest
from hostnet import nothing_connected
from sandboxctl import Client

PRELUDE = """'use strict';
const fs = require('fs');
const cp = require('child_process');
console.log('before');
const codeOf = (fn) => {
  try { fn(); return 'no error'; } catch (e) { return e.code === 'ERR_SYSTEM_ERROR' ? e.info.code : e.code; }
};
const asyncCode = (start) => new Promise((resolve) => start((e) => resolve(e ? e.code : 'no error')));
"""


def run(client: Client, body: str, **kwargs: object):
    return client.execute(PRELUDE + textwrap.dedent(body), language="javascript", timeout_s=20, **kwargs)


def run_json(client: Client, body: str, **kwargs: object) -> object:
    r = run(client, body, **kwargs)
    assert (r.status, r.exit_code) == ("ok", 0), r
    assert r.stdout.startswith("before\n"), r
    return json.loads(r.stdout.split("\n", 1)[1])


def test_host_secrets_are_absent(client: Client, shared_daemon, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text("host secret")
    paths = ["/etc/shadow", "/etc/sudoers", "/root", str(shared_daemon.config_path), str(shared_daemon.log_path),
             str(canary)]
    got = run_json(client, f"""
        const out = {{}};
        for (const p of {json.dumps(paths)}) out[p] = codeOf(() => fs.readFileSync(p));
        console.log(JSON.stringify(out));
        """)
    assert got == dict.fromkeys(paths, "ENOENT")


def test_daemon_socket_cannot_be_connected(client: Client, shared_daemon) -> None:
    got = run_json(client, f"""
        const net = require('net');
        const sock = {json.dumps(shared_daemon.socket)};
        asyncCode((done) => net.connect(sock).on('error', done).on('connect', () => done()))
          .then((code) => console.log(JSON.stringify(code)));
        """)
    assert got == "ENOENT"


def test_init_is_out_of_reach(client: Client) -> None:
    got = run_json(client, """
        const out = {};
        for (const p of ['/proc/1/environ', '/proc/1/fd/6', '/proc/1/mem', '/proc/1/root/etc/hostname']) {
          out[p] = codeOf(() => fs.readFileSync(p));
        }
        console.log(JSON.stringify(out));
        """)
    assert set(got.values()) == {"EACCES"} and len(got) == 4


def test_writes_outside_the_working_directory_fail(client: Client) -> None:
    token = secrets.token_hex(6)
    targets = [f"/usr/lib/{token}", f"/{token}", "/etc/hosts", f"/dev/{token}"]
    got = run_json(client, f"""
        const out = {{}};
        for (const p of {json.dumps(targets)}) out[p] = codeOf(() => fs.writeFileSync(p, 'x'));
        console.log(JSON.stringify(out));
        """)
    assert set(got.values()) <= {"EROFS", "EACCES"}, got
    assert not os.path.exists(f"/usr/lib/{token}") and not os.path.exists(f"/{token}")


def test_links_lead_nowhere_outside(client: Client) -> None:
    got = run_json(client, """
        fs.symlinkSync('/etc/shadow', 'a');
        fs.symlinkSync('/proc/1/root/etc/passwd', 'b');
        console.log(JSON.stringify({
          a: codeOf(() => fs.readFileSync('a')), b: codeOf(() => fs.readFileSync('b')),
          hard: codeOf(() => fs.linkSync('/usr/bin/python3', 'py')),
          up: fs.readdirSync('../../../../..').sort(), root: fs.readdirSync('/proc/self/root').sort(),
        }));
        """)
    assert (got["a"], got["b"], got["hard"]) == ("ENOENT", "EACCES", "EXDEV")
    assert got["up"] == got["root"] and "home" not in got["root"] and "sys" not in got["root"]


def test_only_minimal_dev_and_no_sys_or_tty(client: Client) -> None:
    got = run_json(client, """
        console.log(JSON.stringify({ dev: fs.readdirSync('/dev').sort(), sys: fs.existsSync('/sys'),
                                     tty: codeOf(() => fs.openSync('/dev/tty', 'r')) }));
        """)
    assert got == {"dev": ["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "urandom", "zero"],
                   "sys": False, "tty": "ENOENT"}


def test_host_loopback_listener_is_unreachable(client: Client, host_listener: socket.socket) -> None:
    port = host_listener.getsockname()[1]
    got = run_json(client, f"""
        const net = require('net');
        asyncCode((done) => net.connect({port}, '127.0.0.1').on('error', done).on('connect', () => done()))
          .then((code) => console.log(JSON.stringify(code)));
        """)
    assert got == "EPERM"
    assert nothing_connected(host_listener)


def test_host_abstract_unix_socket_is_unreachable(client: Client) -> None:
    name = f"sbx-test-{secrets.token_hex(6)}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind("\0" + name)
    srv.listen(4)
    srv.setblocking(False)
    try:
        got = run_json(client, f"""
            const net = require('net');
            asyncCode((done) => net.connect('\\0{name}').on('error', done).on('connect', () => done()))
              .then((code) => console.log(JSON.stringify(code)));
            """)
        assert got == "ECONNREFUSED"  # the worker's network namespace has its own abstract names
        assert nothing_connected(srv)
    finally:
        srv.close()


def test_no_dns_no_listening_no_udp(client: Client) -> None:
    got = run_json(client, """
        const dns = require('dns'), net = require('net'), dgram = require('dgram');
        (async () => {
          const out = {};
          out.lookup = await asyncCode((done) => dns.lookup('example.com', done));
          out.resolve = await asyncCode((done) => dns.resolve4('example.com', done));
          out.listen = await asyncCode((done) => net.createServer().on('error', done).listen(8080, () => done()));
          out.udp = await asyncCode((done) => {
            const s = dgram.createSocket('udp4');
            s.on('error', done);
            s.send('x', 53, '8.8.8.8', done);
          });
          out.interfaces = codeOf(() => require('os').networkInterfaces());
          console.log(JSON.stringify(out));
        })();
        """)
    # c-ares reports its refused UDP socket as ECONNREFUSED; listing interfaces needs a netlink
    # socket, refused with EPERM (errno 1, which libuv has no name for).
    assert got == {"lookup": "EAI_AGAIN", "resolve": "ECONNREFUSED", "listen": "EPERM", "udp": "EPERM",
                   "interfaces": "Unknown system error 1"}


@pytest.mark.parametrize(("call", "name"), [("process.setuid(0)", "setuid"), ("process.setgid(0)", "setgid"),
                                            ("process.setgroups([0])", "setgroups"),
                                            ("process.seteuid(0)", "setresuid")])
def test_changing_identity_kills_the_run(client: Client, call: str, name: str) -> None:
    r = run(client, f"{call};\nconsole.log('after');\n")
    assert r.status == "security_violation", r
    assert r.error == f"forbidden system call {name}: the run was killed"
    assert r.stdout == "before\n"


def test_a_python_grandchild_violation_kills_the_node_run(client: Client) -> None:
    r = run(client, """
        cp.spawnSync('/usr/bin/python3', ['-c', 'import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0)']);
        console.log('after');
        """)
    assert r.status == "security_violation", r
    assert r.error == "forbidden system call ptrace: the run was killed"
    assert r.stdout == "before\n"


def test_setuid_helpers_cannot_be_executed(client: Client) -> None:
    got = run_json(client, """
        const out = {};
        for (const p of ['/usr/bin/mount', '/usr/bin/su', '/usr/bin/passwd', '/usr/bin/unshare', '/usr/bin/nsenter']) {
          const r = cp.spawnSync(p, ['--help']);
          out[p] = r.error ? r.error.code : `ran ${r.status}`;
        }
        console.log(JSON.stringify(out));
        """)
    assert set(got.values()) == {"EACCES"}, got


def test_the_daemon_cannot_be_signalled(client: Client, shared_daemon) -> None:
    got = run_json(client, f"console.log(JSON.stringify(codeOf(() => process.kill({shared_daemon.process.pid}))));")
    assert got == "ESRCH"
    assert shared_daemon.process.poll() is None


def test_priority_cannot_be_raised(client: Client) -> None:
    got = run_json(client, "console.log(JSON.stringify(codeOf(() => require('os').setPriority(0, -10))));")
    assert got == "EPERM"


def test_hygiene_environment_umask_identity(client: Client) -> None:
    got = run_json(client, """
        const os = require('os');
        console.log(JSON.stringify({ env: Object.keys(process.env).sort(), umask: process.umask(),
                                     uid: process.getuid(), user: os.userInfo().username, host: os.hostname() }));
        """)
    assert got == {"env": ["HOME", "LANG", "PATH", "TMPDIR"], "umask": 0o077, "uid": 1000, "user": "sandbox",
                   "host": "sandbox"}


def test_only_its_own_descriptors(client: Client) -> None:
    """0-2 are the run's pipes and 5 the exit pipe (one end each, held by the daemon: see
    runners/init.py); everything else is Node's own: epoll/eventfd instances, or pipes whose
    both ends Node holds (libuv's signal pipe)."""
    got = run_json(client, """
        const fds = {};
        const dir = fs.opendirSync('/proc/self/fd');
        for (let e; (e = dir.readSync()) !== null;) {
          try { fds[e.name] = fs.readlinkSync(`/proc/self/fd/${e.name}`); } catch (err) { fds[e.name] = err.code; }
        }
        dir.closeSync();
        console.log(JSON.stringify(fds));
        """)
    std = [got.pop(fd) for fd in ("0", "1", "2", "5")]
    assert all(t.startswith("pipe:") for t in std) and len(set(std)) == 4
    pipes = [t for t in got.values() if t.startswith("pipe:")]
    for fd, target in got.items():
        if target.startswith("pipe:"):
            assert pipes.count(target) == 2 and target not in std, (fd, target)
        else:
            # fd 6 in particular: pid 1's seccomp listener sits there and must not be inherited.
            assert target in ("anon_inode:[eventpoll]", "anon_inode:[eventfd]", "anon_inode:[timerfd]",
                              "/dev/null", "ENOENT") or target.startswith("/proc/"), (fd, target)


def test_worker_thread_bomb_is_contained(client: Client) -> None:
    r = run(client, """
        const { Worker } = require('worker_threads');
        let n = 0;
        const spawn = () => {
          let w;
          try {
            w = new Worker('setInterval(() => {}, 1000)', { eval: true });
          } catch (e) {
            console.log('refused after', n, e.message);
            process.exit(1);
          }
          w.on('online', () => { n++; spawn(); });
        };
        spawn();
        """, max_processes=24)
    assert r.status == "process_limit", r
    assert "refused after" in r.stdout and r.stdout.rstrip().endswith("EAGAIN"), r.stdout


def test_child_process_bomb_is_contained(client: Client) -> None:
    r = run(client, """
        let n = 0;
        for (;;) {
          const c = cp.spawn('/usr/bin/python3', ['-c', 'import time; time.sleep(30)']);
          c.on('error', () => {});
          if (!c.pid) { console.log('refused after', n); process.exit(1); }
          n++;
        }
        """, max_processes=16)
    assert r.status == "process_limit", r
    assert "refused after" in r.stdout


def test_a_detached_survivor_is_gone_after_the_run(client: Client) -> None:
    marker = f"survivor-{secrets.token_hex(6)}"
    r = run(client, f"""
        const c = cp.spawn('/usr/bin/python3', ['-c', 'import time; time.sleep(60)', '{marker}'],
                           {{ detached: true, stdio: 'ignore' }});
        c.unref();
        console.log('parent leaves', c.pid > 1);
        """)
    assert r.stdout == "before\nparent leaves true\n", r
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, marker)]
        if not alive:
            break
        time.sleep(0.05)
    assert alive == []


def _cmdline_has(pid: str, marker: str) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_no_state_passes_to_the_next_run(client: Client) -> None:
    first = run(client, "for (const d of ['/work', '/tmp', '/dev/shm']) fs.writeFileSync(`${d}/state`, 'x');\n"
                        "console.log('written');\n")
    assert first.stdout == "before\nwritten\n", first
    for _ in range(2):
        got = run_json(client, "const dirs = ['/work', '/tmp', '/dev/shm'];\n"
                               "console.log(JSON.stringify(dirs.map((d) => fs.existsSync(`${d}/state`))));")
        assert got == [False, False, False]
