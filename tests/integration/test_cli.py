"""The real `sandboxctl exec` (and `run`) against a real daemon: exit codes, --json, --verbose,
input options, and one-line errors."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import SANDBOXCTL, Daemon
from hostview import wait_until
from sandboxctl import AsyncClient, Client, DaemonUnavailable, RequestRejected, SandboxError

JSON_KEYS = {"id", "status", "exit_code", "signal", "stdout", "stderr", "stdout_truncated", "stderr_truncated",
             "usage", "lint", "warm_start", "error"}
USAGE_KEYS = {"wall_ms", "cpu_user_ms", "cpu_system_ms", "peak_memory_bytes", "avg_memory_bytes", "max_processes",
              "stdout_bytes", "stderr_bytes"}


@pytest.fixture
def write(tmp_path: Path):
    def make(name: str, text: str | bytes) -> str:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return str(path)
    return make


def one_line_error(p: subprocess.CompletedProcess[bytes]) -> str:
    err = p.stderr.decode()
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sandboxctl: "), err
    return lines[0]


@pytest.mark.parametrize(("name", "code", "expected"), [
    ("exit7.py", "import sys\nprint('hi')\nsys.exit(7)\n", 7),
    ("exit7.js", "console.log('hi'); process.exit(7);\n", 7),
    ("ok.py", "print('hi')\n", 0),
    ("term.py", "import os, signal\nprint('hi', flush=True)\nos.kill(os.getpid(), signal.SIGTERM)\n", 128 + 15),
    ("kill.js", "console.log('hi'); process.kill(process.pid, 'SIGKILL');\n", 128 + 9),
])
def test_exit_code_is_the_programs(shared_daemon: Daemon, write, name: str, code: str, expected: int) -> None:
    p = shared_daemon.ctl("exec", write(name, code))
    assert p.returncode == expected, p.stderr
    assert p.stdout == b"hi\n"


def test_timeout_exits_124(shared_daemon: Daemon, write) -> None:
    p = shared_daemon.ctl("exec", write("sleep.py", "import time\nprint('a', flush=True)\ntime.sleep(60)\n"),
                          "--timeout", "0.5")
    assert p.returncode == 124, p.stderr
    assert p.stdout == b"a\n"
    assert b"timeout" in p.stderr


def test_limit_statuses_exit_128_plus_the_signal(shared_daemon: Daemon, write) -> None:
    p = shared_daemon.ctl("exec", write("spin.js", "for (;;) {}\n"), "--cpu-limit", "0.3")
    assert p.returncode == 128 + 9, p.stderr
    assert b"cpu_limit" in p.stderr


@pytest.mark.parametrize("args", [
    ["--memory-limit", "0"], ["--memory-limit", "-1"], ["--memory-limit", "abc"], ["--memory-limit", "1e9"],
    ["--cpu-limit", "0"], ["--timeout", "nan"], ["--max-processes", "2.5"], ["--max-processes", "-3"],
    ["--max-output", "0"], ["--max-file-size", "100000"],
])
def test_bad_limit_exits_125_with_one_line_naming_the_flag(shared_daemon: Daemon, write, args: list[str]) -> None:
    p = shared_daemon.ctl("exec", write("never.py", "print('ran')\n"), *args)
    assert p.returncode == 125
    assert p.stdout == b""
    assert args[0] in one_line_error(p)


def test_bad_limit_message_names_the_allowed_range(shared_daemon: Daemon, write) -> None:
    p = shared_daemon.ctl("exec", write("never.py", "print('ran')\n"), "--memory-limit", "0")
    assert "--memory-limit: must be > 0 and <= 4096 MB" in one_line_error(p)


def test_bad_limit_with_json_prints_one_rejected_object(shared_daemon: Daemon, write) -> None:
    p = shared_daemon.ctl("exec", write("never.py", "print('ran')\n"), "--timeout", "-1", "--json")
    assert p.returncode == 125
    obj = json.loads(p.stdout)
    assert obj["status"] == "rejected" and "--timeout" in obj["error"]
    assert set(obj) == JSON_KEYS


def test_missing_file_is_one_line(shared_daemon: Daemon, tmp_path: Path) -> None:
    p = shared_daemon.ctl("exec", str(tmp_path / "nope.py"))
    assert p.returncode == 125
    assert "nope.py" in one_line_error(p)


def test_unknown_extension_needs_lang(shared_daemon: Daemon, write) -> None:
    path = write("prog.txt", "print('by --lang')\n")
    p = shared_daemon.ctl("exec", path)
    assert p.returncode == 125 and "--lang" in one_line_error(p)
    p = shared_daemon.ctl("exec", path, "--lang", "python")
    assert (p.returncode, p.stdout) == (0, b"by --lang\n")


def test_no_daemon_is_one_line(write, tmp_path: Path) -> None:
    path = write("hi.py", "print('hi')\n")
    p = subprocess.run([SANDBOXCTL, "--socket", str(tmp_path / "absent.sock"), "exec", path],
                       capture_output=True, timeout=60)
    assert p.returncode == 125
    assert "absent.sock" in one_line_error(p)
    p = subprocess.run([SANDBOXCTL, "--socket", str(tmp_path / "absent.sock"), "exec", path, "--json"],
                       capture_output=True, timeout=60)
    obj = json.loads(p.stdout)
    assert (p.returncode, obj["status"]) == (125, "error") and "absent.sock" in obj["error"]


def test_json_is_one_object_holding_the_output(shared_daemon: Daemon, write) -> None:
    code = "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\nsys.exit(4)\n"
    p = shared_daemon.ctl("exec", write("both.py", code), "--json")
    assert p.returncode == 4
    obj = json.loads(p.stdout)  # raises if anything but one JSON document is on stdout
    assert p.stdout.count(b"\n") == 1
    assert set(obj) == JSON_KEYS and set(obj["usage"]) == USAGE_KEYS
    assert (obj["status"], obj["exit_code"], obj["signal"]) == ("ok", 4, None)
    assert (obj["stdout"], obj["stderr"]) == ("to stdout\n", "to stderr\n")
    assert obj["error"] is None and isinstance(obj["warm_start"], bool) and obj["id"]


def test_json_replaces_invalid_utf8(shared_daemon: Daemon, write) -> None:
    p = shared_daemon.ctl("exec", write("bad.py", "import sys\nsys.stdout.buffer.write(b'a\\xffb')\n"), "--json")
    assert json.loads(p.stdout)["stdout"] == "a\ufffdb"


def test_plain_output_is_raw_bytes(shared_daemon: Daemon, write) -> None:
    p = shared_daemon.ctl("exec", write("bad.py", "import sys\nsys.stdout.buffer.write(bytes(range(256)))\n"))
    assert (p.returncode, p.stdout) == (0, bytes(range(256)))


def test_verbose_adds_a_usage_summary_on_stderr(shared_daemon: Daemon, write) -> None:
    p = shared_daemon.ctl("exec", write("v.py", "print('out')\n"), "--verbose")
    assert (p.returncode, p.stdout) == (0, b"out\n")
    last = p.stderr.decode().strip().splitlines()[-1]
    for field in ("status=ok", "exit_code=0", "wall=", "cpu=", "peak_mem=", "procs=", "stdout=4B"):
        assert field in last, last


def test_run_is_an_alias_of_exec(shared_daemon: Daemon, write) -> None:
    p = shared_daemon.ctl("run", write("alias.js", "console.log('aliased')\n"), "--json")
    assert json.loads(p.stdout)["stdout"] == "aliased\n"


def test_stdin_args_env_and_files(shared_daemon: Daemon, write) -> None:
    code = ("import json, os, sys\nprint(json.dumps([sys.stdin.read(), sys.argv[1:], os.environ.get('K'),"
            " open('in/data.txt').read()]))\n")
    program = write("io.py", code)
    stdin_file = write("stdin.txt", "from a file")
    data = write("data.txt", "extra file")
    p = shared_daemon.ctl("exec", program, "--stdin", stdin_file, "--arg", "a b", "--arg", "-x", "--arg", "--json",
                          "--arg=--y", "--env", "K=v=1", "--file", f"in/data.txt={data}")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == ["from a file", ["a b", "-x", "--json", "--y"], "v=1", "extra file"]
    p = shared_daemon.ctl("exec", program, "--stdin", "-", "--file", f"in/data.txt={data}", stdin=b"piped")
    assert json.loads(p.stdout)[0] == "piped"


def test_malformed_env_and_file_options_are_one_line(shared_daemon: Daemon, write, tmp_path: Path) -> None:
    program = write("x.py", "print(1)\n")
    for args in (["--env", "NOEQUALS"], ["--file", "name-only"], ["--file", f"x={tmp_path / 'missing'}"],
                 ["--stdin", str(tmp_path / "missing")]):
        p = shared_daemon.ctl("exec", program, *args)
        assert p.returncode == 125, args
        assert args[0] in one_line_error(p)


# The library: exceptions under SandboxError, and AsyncClient.

def test_library_errors_share_a_base(tmp_path: Path, client: Client) -> None:
    assert issubclass(DaemonUnavailable, SandboxError) and issubclass(RequestRejected, SandboxError)
    with Client(str(tmp_path / "absent.sock")) as c, pytest.raises(DaemonUnavailable, match=r"absent\.sock"):
        c.execute("print(1)")
    with pytest.raises(RequestRejected, match="--memory-limit"):
        client.execute("print(1)", memory_limit_mb=0)


def test_async_client_errors(tmp_path: Path, shared_daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(str(tmp_path / "absent.sock")) as c:
            with pytest.raises(DaemonUnavailable):
                await c.execute("print(1)")
        async with AsyncClient(shared_daemon.socket) as c:
            with pytest.raises(RequestRejected, match="--cpu-limit"):
                await c.execute("print(1)", cpu_limit_s=-1)
            r = await c.execute("import sys\nsys.exit(5)\n")
            assert (r.status, r.exit_code, r.cli_exit_code) == ("ok", 5, 5)

    asyncio.run(main())


def test_to_dict_is_the_json_object(client: Client) -> None:
    d = client.execute("print('x')").to_dict()
    assert set(d) == JSON_KEYS and set(d["usage"]) == USAGE_KEYS
    json.dumps(d)


def test_undecodable_argument_bytes_are_one_line(shared_daemon: Daemon, write) -> None:
    program = write("x.py", "print(1)\n")
    for args in ([b"--arg", b"\xff"], [b"--env", b"K=\xfe"]):
        p = subprocess.run([SANDBOXCTL.encode(), b"--socket", shared_daemon.socket.encode(), b"exec",
                            program.encode(), *args], capture_output=True, timeout=60)
        assert p.returncode == 125
        assert "not valid UTF-8" in one_line_error(p)


def test_a_reader_that_goes_away_ends_the_cli_quietly(shared_daemon: Daemon, write) -> None:
    program = write("chatty.py", "import time\nfor i in range(600):\n    print(i, flush=True)\n    time.sleep(0.05)\n")
    cli = subprocess.Popen([SANDBOXCTL, "--socket", shared_daemon.socket, "exec", program],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert cli.stdout is not None and cli.stderr is not None
    assert cli.stdout.readline() == b"0\n"
    cli.stdout.close()  # like `| head -1`
    try:
        rc = cli.wait(timeout=30)  # not the program's 30 s
        err = cli.stderr.read()
    finally:
        cli.kill()
        cli.wait()
    assert rc == 128 + 13
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err


def test_an_es_module_runs_as_one(shared_daemon: Daemon, write) -> None:
    code = "import { basename } from 'path';\nawait Promise.resolve();\nconsole.log(basename(import.meta.url));\n"
    p = shared_daemon.ctl("exec", write("mod.mjs", code))
    assert (p.returncode, p.stdout) == (0, b"mod.mjs\n"), p.stderr
    p = shared_daemon.ctl("exec", write("fail.mjs", "throw new Error('esm boom');\n"))
    assert p.returncode == 1 and b"esm boom" in p.stderr


def test_socket_comes_from_the_environment_without_socket_flag(shared_daemon: Daemon, write,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOXD_SOCKET", shared_daemon.socket)
    p = subprocess.run([SANDBOXCTL, "exec", write("e.py", "print('via env')\n")], capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, b"via env\n"), p.stderr
    with Client() as c:
        assert c.execute("print('library via env')").stdout == "library via env\n"


def _syscall(pid: int) -> list[str]:
    """The system call a process is blocked in, from /proc: number and arguments."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split()
    except OSError:
        return []


def test_ctrl_c_while_waiting_for_stdin_is_one_line(shared_daemon: Daemon, write) -> None:
    cli = subprocess.Popen([SANDBOXCTL, "--socket", shared_daemon.socket, "exec", write("x.py", "print(1)\n"),
                            "--stdin", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Interrupt it once it is blocked in read(0, ...), as a person at the terminal would.
        assert wait_until(lambda: _syscall(cli.pid)[:2] == ["0", "0x0"]), _syscall(cli.pid)
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=30)
    finally:
        cli.kill()
        cli.wait()
    assert cli.returncode == 130
    assert b"Traceback" not in err, err
