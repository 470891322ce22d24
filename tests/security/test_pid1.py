"""A worker's pid 1 (linux/pid1.c) against the real kernel, without a daemon: what it reports
when a step of the set-up fails, and what it refuses before it clones at all.

Each case runs in a plain subprocess (never a fork of this grpc-holding test process) that
plays the fork server's part: it calls pid1.spawn, admits pid 1 into its user namespace, and
releases it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SPAWN = """
import json, os, sys
from sandboxd.linux import contain, libc, pid1
args = json.loads(sys.argv[1])
pipes = [os.pipe() for _ in range(7)]
ends = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][0], pipes[4][1], pipes[5][1], pipes[6][0]]
try:
    pid, pidfd = pid1.spawn(contain.NAMESPACES | libc.CLONE_NEWNET, tuple(ends), args["paths"], False,
                            args["workdir_mb"], 8, [], None, [], b"", args["argv"], args["env"])
except (ValueError, TypeError) as exc:
    print(json.dumps({"refused": f"{type(exc).__name__}: {exc}"}))
    sys.exit(0)
if pid == 0:
    os.write(4, b'{"runner": true}\\n')
    os._exit(7)
for fd in ends:
    os.close(fd)
for name, text in (("setgroups", "deny"), ("uid_map", "1000 0 1\\n"), ("gid_map", "1000 0 1\\n")):
    fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY)
    os.write(fd, text.encode())
    os.close(fd)
os.write(pipes[6][1], b"1")
lines = []
with os.fdopen(pipes[4][0], "rb") as status:
    lines = [json.loads(line) for line in status]
_, wait_status = os.waitpid(pid, 0)
print(json.dumps({"lines": lines, "exit_code": os.waitstatus_to_exitcode(wait_status)}))
"""


def spawn(workdir_mb: int = 8, paths: list[str] | None = None, argv: list[str] | None = None,
          env: list[str] | None = None) -> dict[str, object]:
    args = {"workdir_mb": workdir_mb, "paths": paths if paths is not None else ["/usr", "/lib", "/lib64", "/bin"],
            "argv": argv or [], "env": env or []}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SPAWN), json.dumps(args)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_forked_runner_returns_into_python_and_pid_1_reports_its_exit() -> None:
    assert spawn() == {"lines": [{"runner": True}, {"exit_code": 7}], "exit_code": 0}


def test_a_failed_mount_is_reported_with_its_target_and_errno() -> None:
    got = spawn(workdir_mb=-1)
    assert got == {"lines": [{"error": "worker setup failed: mount tmpfs on /tmp/work: Invalid argument"}],
                   "exit_code": 1}


def test_the_report_escapes_what_it_names() -> None:
    """A path with a quote, a backslash and a newline still makes one line of valid JSON. The
    exec-mode runner reports its failed execve; pid 1 then reports the runner's exit."""
    program = '/no/such "dir"\\\n/prog'
    got = spawn(argv=[program], env=["A=1"])
    assert got == {"lines": [{"error": f"worker setup failed: execve {program}: No such file or directory"},
                             {"exit_code": 1}], "exit_code": 0}


def test_an_exec_mode_runner_starts_with_a_fresh_processs_signals_and_only_its_environment() -> None:
    """The fork server ignores SIGCHLD and Python ignores SIGPIPE and SIGXFSZ: none of it may
    reach the program (an ignored disposition survives execve)."""
    check = ('test "$(grep SigIgn /proc/self/status)" = "SigIgn:\t0000000000000000" || exit 3; '
             'test "$(grep SigBlk /proc/self/status)" = "SigBlk:\t0000000000000000" || exit 4; '
             'test "$A" = 1 && test -z "$HOME" || exit 5; exit 9')
    assert spawn(argv=["/bin/sh", "-c", check], env=["A=1"]) == {"lines": [{"exit_code": 9}], "exit_code": 0}


@pytest.mark.parametrize(("paths", "argv", "why"), [
    (["/usr\0/x"], [], "ValueError: readonly_paths: embedded NUL byte"),
    ([f"/p{i}" for i in range(257)], [], "ValueError: readonly_paths: expected a list of at most 256 str"),
    (["/usr", 7], [], "TypeError: readonly_paths: expected str"),
    ([], ["/bin/true", 8], "TypeError: argv: expected str"),
])
def test_a_recipe_pid_1_cannot_hold_is_refused_before_the_clone(paths: list[object], argv: list[object],
                                                                 why: str) -> None:
    assert spawn(paths=paths, argv=argv) == {"refused": why}  # type: ignore[arg-type]


def test_a_daemon_whose_paths_pid_1_cannot_hold_refuses_to_start(daemon_factory) -> None:
    """Checked once at start-up: otherwise every build would fail the same way."""
    paths = ["/usr", "/lib", "/lib64", "/bin", *(f"/opt/sbx-absent-{i}" for i in range(260))]
    d = daemon_factory({"sandbox": {"readonly_paths": paths}}, wait=False)
    assert d.process.wait(60) == 1, d.log()
    assert "sandboxd: cannot start: sandbox.readonly_paths: at most 256 paths, got 264" in d.log(), d.log()


def test_the_landlock_rules_pid_1_takes_are_counted_from_the_same_list_it_gets() -> None:
    from sandboxd.linux import contain, pid1

    assert contain.exceeds_pid1(["/usr"], ["/usr/bin/python3"]) == ""
    exec_paths = [f"/usr/lib/x{i}.so" for i in range(pid1.MAX_GRANTS)]
    assert contain.exceeds_pid1(["/usr"], exec_paths) == (
        f"the Landlock ruleset would need {pid1.MAX_GRANTS + 8} rules (sandbox.readonly_paths and the "
        f"interpreters' files), more than the {pid1.MAX_GRANTS} a worker's pid 1 takes")
