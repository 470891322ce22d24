"""The unit's hardening, applied by hand (see harden.py), still lets the daemon build and run
real workers; the directives the unit keeps off really do break them."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import SANDBOXD, Daemon
from harden import KNOWN
from svc import (
    HARDEN,
    ensure_group,
    launcher,  # noqa: F401 - a fixture
    unit_service_section,
)

HARDENING_PREFIXES = ("Protect", "Private", "Restrict", "Lock", "NoNew", "SystemCall", "Capability", "MemoryDeny")
KEPT_OFF = ("RestrictNamespaces=yes", "ProtectControlGroups=yes", "ProtectKernelTunables=yes",
            "MemoryDenyWriteExecute=yes", "ProtectHostname=yes")


def unit_hardening() -> list[str]:
    return [f"{k}={v}" for k, v in unit_service_section().items() if k.startswith(HARDENING_PREFIXES)]


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """Outside /tmp, which PrivateTmp= replaces, and on a filesystem ProtectSystem= makes
    read-only, like the RuntimeDirectory= it stands for."""
    path = Path(f"/run/sbx-hard-{secrets.token_hex(4)}")
    path.mkdir(mode=0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def hardened(directory: Path, directives: list[str]) -> tuple[str, ...]:
    args = [sys.executable, HARDEN, "--writable", str(directory)]
    for d in directives:
        args += ["--directive", d]
    return (*args, "--")


def test_every_hardening_directive_of_the_unit_is_exercised() -> None:
    directives = unit_hardening()
    assert "NoNewPrivileges=yes" in directives and "ProtectSystem=strict" in directives
    for d in directives:
        assert d.split("=", 1)[0] in KNOWN, f"{d} is in the unit but tests/service/harden.py cannot apply it"
    for d in KEPT_OFF:
        assert d.split("=", 1)[0] not in unit_service_section(), f"{d} breaks the workers; keep it off"
    assert unit_service_section()["Delegate"] == "yes"
    assert unit_service_section()["Type"] == "notify"


def test_daemon_builds_and_runs_workers_under_the_unit_hardening(
        run_dir: Path, launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    ensure_group("sandboxd-test")
    d = launcher({"socket_mode": "0660", "socket_group": "sandboxd-test"}, directory=run_dir / "d",
                 prefix=hardened(run_dir, unit_hardening()))
    with d.client() as c:
        r = c.execute("print('py')")
        assert (r.status, r.stdout) == ("ok", "py\n"), r
        r = c.execute("console.log('js', 6 * 7)", language="javascript")
        assert (r.status, r.stdout) == ("ok", "js 42\n"), r
        # The daemon sets the Node runner's rlimits by prlimit, though the bounding set has no
        # CAP_SYS_RESOURCE: it owns the worker's user namespace (backend/linux.py).
        r = c.execute("const t = require('fs').readFileSync('/proc/self/limits', 'utf8');\n"
                      "console.log(t.split('\\n').find((l) => l.startsWith('Max file size')));\n",
                      language="javascript", max_file_size_mb=1)
        assert r.stdout.split()[3:5] == [str(1 << 20)] * 2, r
        r = c.execute("while True: pass", timeout_s=1)
        assert r.status in ("timeout", "cpu_limit"), r
        r = c.execute("x = bytearray(200 << 20); print(len(x))", memory_limit_mb=64)
        assert r.status == "memory_limit", r
        r = c.execute("import os\npid = os.fork()\nif pid == 0: os._exit(3)\nprint(os.waitpid(pid, 0)[1] >> 8)")
        assert (r.status, r.stdout) == ("ok", "3\n"), r
        # The unit's bounding set has no CAP_SYS_ADMIN: network namespaces are not reused, and
        # capabilities says so (linux/netns.py).
        network = {x.layer: x.detail for x in c.capabilities().capabilities}["network"]
        assert network.endswith("a new one per worker (no CAP_SYS_ADMIN to reuse them)"), network
    assert d.stop() == 0, d.log()


def test_directives_kept_off_break_the_workers(run_dir: Path, launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    """Each started alone, all at once: none of these daemons ever becomes ready; each gives
    up and exits with an error (waited for, however loaded the host: a daemon that is merely
    slow must not pass for a broken one)."""
    daemons = {directive: launcher({"languages": {"python": {"pool_size": 1}}}, directory=run_dir / f"off{i}",
                                   wait=False, prefix=hardened(run_dir, [directive]))
               for i, directive in enumerate(KEPT_OFF)}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(d.process.poll() is None for d in daemons.values()):
        time.sleep(0.2)
    for directive, d in daemons.items():
        assert "event=ready" not in d.log(), f"{directive} did not break the daemon:\n{d.log()}"
        assert d.process.poll() not in (None, 0), f"{directive}: the daemon did not give up:\n{d.log()}"


def test_the_emulation_hides_tmp_and_home_but_keeps_the_install_visible_read_only(run_dir: Path) -> None:
    """PrivateTmp= and ProtectHome= hide what the host has in /tmp and /root; the daemon's own
    install (bound back when a test checkout lives there) stays readable, and read-only."""
    marker = Path(tempfile.mkdtemp(prefix="sbx-", dir="/tmp")) / "marker"
    marker.write_text("host")
    script = ("import json, os, sys\n"
              "print(json.dumps({'marker': os.path.exists(sys.argv[1]), 'root': sorted(os.listdir('/root')),\n"
              "                  'install': os.access(sys.argv[2], os.X_OK),\n"
              "                  'writable': os.access(sys.argv[2], os.W_OK),\n"
              "                  'tmp': sorted(os.listdir('/tmp'))}))\n")
    try:
        out = subprocess.run([*hardened(run_dir, unit_hardening()), sys.executable, "-c", script, str(marker),
                              SANDBOXD], capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(marker.parent, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert (got["marker"], got["install"], got["writable"]) == (False, True, False), got
    # Only the way to a checkout under /root or /tmp, nothing else of what the host has there.
    inside = Path(SANDBOXD).resolve().parts[2:3]
    assert set(got["root"]) <= set(inside) and set(got["tmp"]) <= set(inside), got
