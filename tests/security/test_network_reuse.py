"""Network namespaces are reused only when nothing of their last worker is left (linux/netns.py).

The pool's rules run against the real kernel in a separate root process (setns and unshare
act on the calling thread; this test process holds grpc's threads): a namespace is never
handed out while the process it was lent to lives, nor while any socket is still counted in
it. Then, through a real daemon: concurrent workers never share one, and what one run binds
is gone for the next.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from conftest import one_process_per_worker

POOL_RULES = r"""
import os, signal, socket, time
from sandboxd.linux.netns import NetnsPool

def ino(fd):
    return os.fstat(fd).st_ino

def child():
    # A process that lives until released, or until this one dies (its read then sees EOF).
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    return pid, w, os.pidfd_open(pid)

pool = NetnsPool()
home = ino(pool.home)

# Lent to a live process: not handed out again until it has exited.
first = pool.enter()
assert ino(first) != home
pid, release, pidfd = child()
pool.leave(first, pidfd)
second = pool.enter()
assert ino(second) != ino(first), "reused while its process lives"
pool.leave(second, None)
os.write(release, b"x")
os.waitpid(pid, 0)
third = pool.enter()
assert ino(third) == ino(first), "not reused once its process had exited"

# A socket still counted in it (bound while inside, kept open here): dropped, not reused.
held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
held.bind("\0sandboxd-test-held")
held.listen()
pid, release, pidfd = child()
used = ino(third)
pool.leave(third, pidfd)
os.write(release, b"x")
os.waitpid(pid, 0)
seen = []
for _ in range(3):
    ns = pool.enter()
    seen.append(ino(ns))
    pool.leave(ns, None)
assert used not in seen, "reused while a socket was still bound in it"
assert os.fstat(pool.home).st_ino == home and os.readlink("/proc/self/ns/net") == f"net:[{home}]"
print("ok")
"""


def test_pool_reuses_a_namespace_only_after_its_process_exited_and_while_no_socket_is_left() -> None:
    out = subprocess.run([sys.executable, "-c", POOL_RULES], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "ok"), out.stderr


PROBE = """
import os, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\\0sandboxd-probe")
s.listen()
print(os.readlink("/proc/self/ns/net"), open("/proc/net/unix").read().count("sandboxd-probe"))
"""


def test_concurrent_workers_never_share_and_a_runs_socket_is_gone_for_the_next(daemon_factory) -> None:
    d = daemon_factory({"languages": {"javascript": {"pool_size": 0}, "python": {"pool_size": 2}}})
    deadline = time.monotonic() + 30
    while len(pids := one_process_per_worker(d.cgroup_name)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pids) == 2
    spaces = {os.readlink(f"/proc/{p}/ns/net") for p in pids}
    assert len(spaces) == 2, "two live workers share a network namespace"
    seen = []
    with d.client() as c:
        for _ in range(6):
            r = c.execute(PROBE, language="python")
            assert (r.status, r.exit_code) == ("ok", 0), r  # the name was free: bind succeeded
            space, listed = r.stdout.split()
            assert listed == "1"  # its own socket, nothing left by an earlier run
            seen.append(space)
    assert len(set(seen)) < len(seen), f"no namespace was ever reused: {seen}"
