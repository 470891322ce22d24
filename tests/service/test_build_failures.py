"""When no worker of a configured language can be built, start-up fails fast and says why.

The failure is real: the daemon runs with /sys/fs/cgroup read-only (ProtectControlGroups=,
applied by harden.py), its cgroup parents made beforehand, so it starts, and then every
worker's cgroup mkdir fails with EROFS. The daemon must not sit out its warm-up timeout:
it exits 1 within seconds, naming the language, the step, the path and the errno.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

from conftest import Daemon, cgroup_parents
from svc import (
    HARDEN,
    launcher,  # noqa: F401 - a fixture
)


def test_read_only_cgroupfs_fails_start_up_fast_with_the_reason(
        tmp_short: Path, launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    name = f"sandboxd-test-{secrets.token_hex(4)}"
    for parent in cgroup_parents(name):
        os.makedirs(parent, exist_ok=True)
    prefix = (sys.executable, HARDEN, "--writable", str(tmp_short), "--directive", "ProtectControlGroups=yes", "--")
    started = time.monotonic()
    d = launcher({"languages": {"python": {"pool_size": 1}, "javascript": {"pool_size": 1}}},
                 directory=tmp_short / "d", wait=False, cgroup_name=name, prefix=prefix)
    code = d.process.wait(60)
    elapsed = time.monotonic() - started
    log = d.log()
    assert code == 1, log
    assert elapsed < 20, f"took {elapsed:.1f}s to give up:\n{log}"
    assert "event=ready" not in log, log
    assert "sandboxd: cannot start: no " in log and " worker could be built (3 attempts)" in log, log
    assert "creating its cgroup failed: [Errno 30] Read-only file system: '/sys/fs/cgroup/" in log, log
    assert f"/{name}/" in log, log
    assert "event=build_failed" in log and "retry_in_s=" in log, log
