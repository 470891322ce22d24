"""The host never follows the sandbox's links (the bug class of Judge0 CVE-2024-28185/28189
and go-judge #176).

On Linux a run's /work, /tmp and /dev/shm are tmpfs mounts inside the worker's own mount
namespace: the daemon never opens, cleans up or chowns a path in them — they vanish with the
namespace when the worker's last process dies. These tests plant links to host files and
directories the test owns, let the worker be torn down (and the daemon stop), and check
from the host that every target is untouched; and they look for the run's files on the host
while it is still running, to show there is no host directory behind them at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import threading
import time
from pathlib import Path

from sandboxctl import Client


def _fingerprint(root: Path) -> dict[str, tuple[int, int, int, str]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[str(path)] = (st.st_mode, st.st_uid, st.st_nlink, digest)
    return out


def test_links_planted_in_the_run_never_reach_host_files(daemon_factory, tmp_path: Path) -> None:
    host = tmp_path / "host"
    (host / "dir").mkdir(parents=True)
    (host / "secret.txt").write_text("host secret\n")
    (host / "dir" / "inner.txt").write_text("inner\n")
    os.chmod(host / "secret.txt", 0o644)
    before = _fingerprint(host)
    targets = [str(host / "secret.txt"), str(host / "dir"), str(host), "/etc/passwd", "/usr/bin/python3", "/"]
    d = daemon_factory({"languages": {"javascript": {"pool_size": 0}, "python": {"pool_size": 1}}})
    code = f"""
import json, os
targets = {json.dumps(targets)}
planted = []
for base in ('/work', '/tmp', '/dev/shm'):
    for i, target in enumerate(targets):
        link = os.path.join(base, f'link{{i}}')
        os.symlink(target, link)
        planted.append(link)
    # what a careless cleaner would descend into or chown: a directory link and a link loop
    os.symlink(targets[1], os.path.join(base, 'subdir'))
    os.symlink(os.path.join(base, 'loop'), os.path.join(base, 'loop'))
    os.makedirs(os.path.join(base, 'deep', 'er'))
    os.symlink(targets[0], os.path.join(base, 'deep', 'er', 'leaf'))
    os.chmod(os.path.join(base, 'deep'), 0o000)
reads = {{}}
for link in planted[:2]:
    try:
        open(link).read()
        reads[link] = 'read'
    except OSError as e:
        reads[link] = e.strerror
print(json.dumps({{"planted": len(planted), "reads": reads}}))
"""
    with d.client() as c:
        r = c.execute(code, language="python", timeout_s=20)
        assert (r.status, r.exit_code) == ("ok", 0), r
        got = json.loads(r.stdout)
        assert got["planted"] == 3 * len(targets)
        assert set(got["reads"].values()) == {"No such file or directory"}  # the host's /tmp is not in there
        # More runs, so the first worker is certainly destroyed and the pool refilled.
        for _ in range(2):
            assert c.execute("print(1)", language="python").stdout == "1\n"
    assert d.stop() == 0
    assert _fingerprint(host) == before
    assert Path("/etc/passwd").stat().st_size > 0 and os.access("/usr/bin/python3", os.X_OK)


def test_the_runs_files_have_no_host_directory(shared_daemon) -> None:
    """While a run holds files in /work, /tmp and /dev/shm, no host path holds that name."""
    name = f"sbx-probe-{secrets.token_hex(8)}"
    result: dict[str, object] = {}

    def hold() -> None:
        with Client(shared_daemon.socket) as c:
            result["r"] = c.execute(
                f"import os, time\nfor d in ('/work', '/tmp', '/dev/shm'):\n"
                f"    open(os.path.join(d, '{name}'), 'w').write('x')\nprint('held', flush=True)\ntime.sleep(3)\n",
                language="python", timeout_s=20)

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(1.5)
    found = []
    for root in ("/tmp", "/var/tmp", "/run", "/dev/shm"):
        for dirpath, dirnames, filenames in os.walk(root, onerror=lambda _: None):
            dirnames[:] = [n for n in dirnames if not os.path.islink(os.path.join(dirpath, n))]
            if name in filenames:
                found.append(os.path.join(dirpath, name))
    t.join(30)
    assert result["r"].stdout == "held\n", result["r"]
    assert found == []


def _conflicting_lock(path: str) -> bool:
    import fcntl
    import struct

    fd = os.open(path, os.O_RDONLY)
    try:
        probe = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)
        return struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, probe))[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


def test_record_locks_on_shared_files_reach_no_other_run_nor_the_host(shared_daemon) -> None:
    """isolate 2.4-2.6: a lock on a file every run shares read-only is a channel between runs.
    Each worker sees the shared directories through its own overlay, so its locks are its own."""
    target = os.path.realpath("/usr/bin/python3")
    holder: dict[str, object] = {}

    def hold() -> None:
        with Client(shared_daemon.socket) as c:
            holder["r"] = c.execute(
                f"import fcntl, os, time\nfd = os.open({target!r}, os.O_RDONLY)\nfcntl.lockf(fd, fcntl.LOCK_SH)\n"
                "print('locked', flush=True)\ntime.sleep(3)\n", language="python", timeout_s=20)

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(1.5)
    with Client(shared_daemon.socket) as c:
        other = c.execute(f"""
import fcntl, os, struct
fd = os.open({target!r}, os.O_RDONLY)
res = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
print("conflict" if struct.unpack("hhqqi", res)[0] != fcntl.F_UNLCK else "free")
""", language="python", timeout_s=20)
    on_host = _conflicting_lock(target)
    t.join(30)
    assert holder["r"].stdout == "locked\n", holder["r"]
    assert other.stdout == "free\n", other
    assert on_host is False
