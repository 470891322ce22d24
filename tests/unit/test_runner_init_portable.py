"""runners/init.py on the macOS path, exercised on Linux.

backend/macos.py starts init.py inside sandbox-exec as the worker's pid 1; macOS has no pipe2,
prctl, seccomp or pid namespace. Here a whole worker's init runs with sys.platform set to
"darwin", for real against Linux processes and pipes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sandboxd.runners import init


def test_macos_kill_scope_is_the_process_group_never_every_process() -> None:
    assert init.kill_scope() == -os.getpgrp()


def test_macos_wakeup_pipe_is_non_blocking_and_close_on_exec() -> None:
    r, w = init.wakeup_pipe()
    try:
        assert not os.get_blocking(r) and not os.get_blocking(w)
        assert not os.get_inheritable(r) and not os.get_inheritable(w)
        with pytest.raises(BlockingIOError):
            os.read(r, 1)
    finally:
        os.close(r)
        os.close(w)


# Puts the pipes where init.py expects them (fds 3, 4 and 5), claims to be macOS, runs init.py.
PRELUDE = """
import os, sys
os.dup2(50, 3); os.dup2(51, 4); os.dup2(52, 5); os.close(50); os.close(51); os.close(52)
source = open(sys.argv[1]).read()
sys.argv = ["-c", "python"]
sys.platform = "darwin"
exec(compile(source, "init.py", "exec"), {"__name__": "__main__"})
"""


def test_a_whole_python_worker_init_on_the_macos_path(tmp_path: Path) -> None:
    ctl_r, ctl_w = os.pipe()
    status_r, status_w = os.pipe()
    exit_r, exit_w = os.pipe()
    for fd, target in ((ctl_r, 50), (status_w, 51), (exit_w, 52)):
        os.dup2(fd, target)
        os.close(fd)
    try:
        worker = subprocess.Popen([sys.executable, "-I", "-c", PRELUDE, init.__file__], pass_fds=(50, 51, 52),
                                  cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
    finally:
        for fd in (50, 51, 52):
            os.close(fd)
    status = os.fdopen(status_r)
    try:
        assert json.loads(status.readline()) == {"ready": True}
        code = b"import sys\nprint('ran on', sys.platform)\nsys.exit(3)\n"
        header = json.dumps({"code_size": len(code), "files": [], "filename": "main.py", "env": {"A": "1"},
                             "args": ["x"]}).encode()
        os.write(ctl_w, init.LIMITS.pack(5.0, 1 << 20) + len(header).to_bytes(4, "big") + header + code)
        os.close(ctl_w)
        assert json.loads(status.readline()) == {"exit_code": 3}
        # The runner's own report, and nothing else: pid 1 did not keep the pipe open.
        assert os.read(exit_r, 16) == bytes([3])
        assert os.read(exit_r, 16) == b""
        out, err = worker.communicate(timeout=30)
    finally:
        status.close()
        os.close(exit_r)
        worker.kill()
        worker.wait()
    assert (out, err) == (b"ran on darwin\n", b"")
    assert worker.returncode == 0


def test_the_exit_report_goes_only_to_the_exit_pipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exit_r, exit_w = os.pipe()
    monkeypatch.setattr(init, "EXIT", exit_w)
    identity = init.pipe_identity(exit_w)
    try:
        init.report_exit(42, identity)
        assert os.read(exit_r, 16) == bytes([42])
        # The program closed the pipe and opened a file under the same number: left alone.
        mine = os.open(tmp_path / "mine", os.O_WRONLY | os.O_CREAT, 0o600)
        os.dup2(mine, exit_w)
        os.close(mine)
        init.report_exit(42, identity)
        os.close(exit_w)
        assert (tmp_path / "mine").read_bytes() == b""
        init.report_exit(42, identity)  # closed: nothing to write to, nothing raised
    finally:
        os.close(exit_r)
