"""Who may use the socket: its mode and group, the peer credentials the kernel reports, the
allow lists (reloadable), the per-uid run limit, request size caps, and the run log."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SANDBOXCTL, Daemon
from sandboxctl import PermissionDenied, RequestRejected, ResourceExhausted
from svc import (
    as_user,
    ctl_as,
    ensure_group,
    ensure_user,
    launcher,  # noqa: F401 - a fixture
    reach_install,
    wait_for,
)

GROUP = "sandboxd-test"
PROGRAM = "import os\nprint('uid', os.getuid(), 'hello')\n"


@pytest.fixture
def users() -> dict[str, object]:
    """t1, t2: in the socket's group; t3: not. Real accounts, created once per host."""
    ensure_group(GROUP)
    return {"t1": ensure_user("sandboxd-t1", (GROUP,)), "t2": ensure_user("sandboxd-t2", (GROUP,)),
            "t3": ensure_user("sandboxd-t3")}


@pytest.fixture
def shared_dir(tmp_short: Path) -> Path:
    """Other users must reach the socket and read the program: open up the test directory."""
    tmp_short.chmod(0o755)
    (tmp_short / "prog.py").write_text(PROGRAM)
    (tmp_short / "prog.py").chmod(0o644)
    return tmp_short


def group_config(**extra: object) -> dict[str, object]:
    return {"socket_mode": "0660", "socket_group": GROUP, **extra}


def test_socket_is_created_with_the_configured_mode_and_group(launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    gid = ensure_group(GROUP)
    d = launcher(group_config())
    st = os.stat(d.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert (st.st_uid, st.st_gid) == (0, gid)
    lock = os.stat(d.socket + ".lock")
    assert stat.S_IMODE(lock.st_mode) == 0o600
    private = os.stat(d.socket + ".grpc")
    assert stat.S_IMODE(private.st_mode) == 0o700 and private.st_uid == 0


def test_second_daemon_on_the_same_socket_refuses_to_start(launcher: Callable[..., Daemon]) -> None:  # noqa: F811
    d = launcher()
    out = subprocess.run([sys.executable, str(Path(sys.executable).parent / "sandboxd"), "--socket", d.socket,
                          "--config", str(d.config_path), "--foreground"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"another sandboxd is already serving {d.socket}" in out.stderr
    with d.client() as c:
        assert c.execute("print(1)").stdout == "1\n", "the first daemon kept its socket"


def test_only_allowed_peers_run_code(launcher: Callable[..., Daemon], users: dict, shared_dir: Path) -> None:  # noqa: F811
    t1, t2, t3 = users["t1"], users["t2"], users["t3"]
    d = launcher(group_config(allowed_uids=[t1.pw_uid]), directory=shared_dir / "d")
    prog = str(shared_dir / "prog.py")

    ok = ctl_as(t1, d.socket, "exec", prog)
    assert (ok.returncode, ok.stdout) == (0, "uid 1000 hello\n"), ok.stderr

    denied = ctl_as(t2, d.socket, "exec", prog)
    assert denied.returncode != 0 and denied.stdout == ""
    assert f"uid {t2.pw_uid} is not allowed to use this sandboxd" in denied.stderr
    assert re.search(rf"event=peer_refused peer_uid={t2.pw_uid} peer_gid={t2.pw_gid} peer_pid=\d+", d.log())

    outsider = ctl_as(t3, d.socket, "exec", prog)
    assert outsider.returncode != 0 and outsider.stdout == ""
    assert "permission denied" in outsider.stderr.lower()
    assert "are you in its group" in outsider.stderr

    status = ctl_as(t2, d.socket, "status")
    assert status.returncode != 0, "every call checks the peer, not only exec"

    with d.client() as c:  # root is always allowed
        assert c.execute(PROGRAM).stdout == "uid 1000 hello\n"


def test_peer_uid_and_pid_come_from_the_kernel(launcher: Callable[..., Daemon], users: dict,  # noqa: F811
                                               shared_dir: Path) -> None:
    """The run log names the real client process: its pid is the one setpriv exec'd into."""
    t1 = users["t1"]
    d = launcher(group_config(), directory=shared_dir / "d")
    proc = subprocess.Popen([*reach_install(), "setpriv", f"--reuid={t1.pw_uid}", f"--regid={t1.pw_gid}",
                             "--init-groups", "--", sys.executable, SANDBOXCTL, "--socket", d.socket, "exec",
                             str(shared_dir / "prog.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", env={"PATH": "/usr/bin:/bin"})
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, b"uid 1000 hello\n"), err
    digest = hashlib.sha256(PROGRAM.encode()).hexdigest()
    assert wait_for(lambda: "event=run_finished" in d.log(), 10)
    line = next(x for x in d.log().splitlines() if "event=run_finished" in x)
    assert f"peer_uid={t1.pw_uid} peer_pid={proc.pid} language=python sha256={digest} status=ok" in line, line
    for field in ("wall_ms=", "cpu_ms=", "peak_memory=", "run_id="):
        assert field in line


def test_reload_changes_the_access_rules(launcher: Callable[..., Daemon], users: dict,  # noqa: F811
                                         shared_dir: Path) -> None:
    t1, t2 = users["t1"], users["t2"]
    d = launcher(group_config(allowed_uids=[t1.pw_uid]), directory=shared_dir / "d")
    prog = str(shared_dir / "prog.py")
    assert ctl_as(t2, d.socket, "exec", prog).returncode != 0

    cfg = d.config_path.read_text().replace(f"allowed_uids = [{t1.pw_uid}]", f'allowed_groups = ["{GROUP}"]')
    assert cfg != d.config_path.read_text()
    d.config_path.write_text(cfg)
    d.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "event=reloaded" in d.log(), 10), d.log()
    assert ctl_as(t2, d.socket, "exec", prog).returncode == 0, "the group now lets t2 in"

    d.config_path.write_text(cfg.replace(f'allowed_groups = ["{GROUP}"]', "allowed_uids = [4242]"))
    d.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: d.log().count("event=reloaded") == 2, 10), d.log()
    revoked = ctl_as(t1, d.socket, "exec", prog)
    assert revoked.returncode != 0 and "not allowed" in revoked.stderr


def test_per_uid_limit_on_concurrent_runs(launcher: Callable[..., Daemon], users: dict,  # noqa: F811
                                          shared_dir: Path) -> None:
    d = launcher(group_config(max_runs_per_uid=2, languages={"python": {"pool_size": 3}}),
                 directory=shared_dir / "d")
    started = threading.Barrier(3)
    results: list[str] = []

    def long_run() -> None:
        with d.client() as c:
            events = c.stream("import time\nprint('go', flush=True)\ntime.sleep(4)", language="python")
            for event in events:
                if event.kind == "stdout":
                    started.wait(10)
                if event.kind == "finished":
                    results.append(event.result.status)

    threads = [threading.Thread(target=long_run) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait(20)
    with d.client() as c, pytest.raises(ResourceExhausted, match="uid 0 already has 2 runs in progress"):
        c.execute("print('third')")
    digest = hashlib.sha256(b"print('third')").hexdigest()
    assert re.search(rf"event=run_refused peer_uid=0 peer_pid={os.getpid()} language=python sha256={digest} "
                     r"status=resource_exhausted reason='uid 0 already has 2", d.log()), "refusals are logged too"
    other = ctl_as(users["t1"], d.socket, "exec", str(shared_dir / "prog.py"))
    assert other.returncode == 0, f"the limit is per uid: {other.stderr}"
    for t in threads:
        t.join(30)
    assert results == ["ok", "ok"]
    with d.client() as c:
        assert c.execute("print('after')").stdout == "after\n", "the slots are given back"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"code": "x = 1\n" * 300}, "the program is 1800 bytes; the limit is 1000"),
    ({"stdin": b"y" * 101}, "--stdin: 101 bytes; the limit is 100"),
    ({"files": {"a": b"1", "b": b"2"}}, "--file: 2 files; the limit is 1"),
    ({"files": {"a": b"z" * 101}}, "--file: 101 bytes in all; the limit is 100"),
    ({"args": ["a"] * 4}, "--arg: 4 arguments; the limit is 3"),
    ({"env": {f"K{i}": "v" for i in range(4)}}, "--env: 4 variables; the limit is 3"),
])
def test_request_size_caps(launcher: Callable[..., Daemon], kwargs: dict, message: str) -> None:  # noqa: F811
    d = launcher({"requests": {"max_code_bytes": 1000, "max_stdin_bytes": 100, "max_files": 1,
                               "max_files_bytes": 100, "max_args": 3, "max_env": 3}})
    code = kwargs.pop("code", "print('fits')")
    with d.client() as c:
        with pytest.raises(RequestRejected) as info:
            c.execute(code, **kwargs)
        assert message in str(info.value)
        assert f"status=rejected reason='{message}" in d.log()
        assert c.execute("print('fits')").stdout == "fits\n"


def test_permission_denied_is_its_own_error_type(launcher: Callable[..., Daemon], users: dict,  # noqa: F811
                                                 shared_dir: Path) -> None:
    """Library users get sandboxctl.PermissionDenied, not a generic error."""
    t2 = users["t2"]
    d = launcher(group_config(allowed_uids=[4242]), directory=shared_dir / "d")
    script = ("import sys\nfrom sandboxctl import Client, PermissionDenied\n"
              "try:\n    Client(sys.argv[1]).execute('print(1)')\nexcept PermissionDenied as e:\n"
              "    print('denied:', e)\n")
    out = as_user(t2, sys.executable, "-c", script, d.socket)
    assert out.stdout.startswith(f"denied: uid {t2.pw_uid} is not allowed"), out.stdout + out.stderr
    assert PermissionDenied.__mro__[1].__name__ == "SandboxError"
