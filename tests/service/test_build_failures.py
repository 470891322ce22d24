"""When no worker of a configured language can be built, start-up fails fast and says why;
a language that breaks once the daemon serves fails its own runs, with the reason, while
its pool keeps retrying and the other languages keep serving.

The failure is real: the daemon runs with /sys/fs/cgroup read-only (ProtectControlGroups=,
applied by harden.py), its cgroup parents made beforehand, so it starts, and then every
worker's cgroup mkdir fails with EROFS. The daemon must not sit out its warm-up timeout:
it exits 1 within seconds, naming the language, the step, the path and the errno.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SANDBOXCTL, Daemon, cgroup_parents
from sandboxctl import DaemonUnavailable
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


def test_a_language_that_breaks_after_start_up_fails_its_runs_and_the_rest_keep_serving(
        launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    # /bin/false passes the start-up checks (an executable) but every worker's runner exits
    # before it is ready. With an empty pool nothing is built during warm-up, so the daemon
    # serves, and the failure shows on the first JavaScript run.
    d = launcher({"languages": {"python": {"pool_size": 1},
                                "javascript": {"interpreter": "/bin/false", "pool_size": 0}}})
    with d.client() as c:
        started = time.monotonic()
        with pytest.raises(DaemonUnavailable, match=r"cannot start a javascript worker: javascript worker "
                                                    r"\S+: starting its runner failed: worker exited"):
            c.execute("console.log(1)", language="javascript")
        assert time.monotonic() - started < 15
        pool = next(p for p in c.status().pools if p.language == "javascript")
        assert pool.build_failures >= 3
        assert "starting its runner failed" in pool.last_build_error
        assert c.execute("print('still serving')").stdout == "still serving\n"
        assert "event=build_failed language=javascript" in d.log()
        out = subprocess.run([SANDBOXCTL, "--socket", d.socket, "status"], capture_output=True, text=True, timeout=30)
        assert "builds failing" in out.stdout and "starting its runner failed" in out.stdout, out
    assert d.stop() == 0, d.log()
    assert "retry_in_s=" in d.log()
