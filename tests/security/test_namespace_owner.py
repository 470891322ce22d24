"""A worker's namespaces belong to host root, never to the worker's host uid.

Whoever owns a user namespace holds every capability inside it. Were the owner the worker's
host uid, any host process running as that uid could setns into the worker's namespaces or
ptrace its processes. The zygote creates them (clone3), so their owner is root: a process of
the worker's own host uid is refused. Checked from the host, against an idle warm worker.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time

from conftest import one_process_per_worker

NS_GET_OWNER_UID = 0xB704  # _IO(0xb7, 0x4)

# Run as a separate, plain process (never a fork of this grpc-holding test process).
AS_UID = """
import ctypes, errno, os, sys
pid, uid = int(sys.argv[1]), int(sys.argv[2])
fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY)
os.setgroups([])
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.setns(fd, 0x10000000)
print("joined" if rc == 0 else errno.errorcode[ctypes.get_errno()])
"""


def _worker_process(cgroup_name: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while not (pids := one_process_per_worker(cgroup_name)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids, f"no worker process of {cgroup_name} appeared"
    return pids[0]


def _host_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("Uid:"))
    return int(line.split()[1])


def test_worker_namespaces_are_owned_by_root_and_closed_to_the_workers_uid(daemon_factory) -> None:
    d = daemon_factory({"languages": {"javascript": {"pool_size": 0}, "python": {"pool_size": 1}}})
    pid = _worker_process(d.cgroup_name)
    uid = _host_uid(pid)
    assert uid != 0
    fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY)
    try:
        assert fcntl.ioctl(fd, NS_GET_OWNER_UID, b"\0\0\0\0") == (0).to_bytes(4, "little")
    finally:
        os.close(fd)
    out = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", AS_UID, str(pid), str(uid)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "EPERM"
    with d.client() as c:
        assert c.execute("print(1)", language="python").stdout == "1\n"
