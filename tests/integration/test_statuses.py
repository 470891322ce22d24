"""Every SPEC status, produced by a real program in a real worker, in Python and JavaScript.

Each limit test prints a line first and then hits the limit: that line must survive, since
output produced before a limit ended the run is kept.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
from hostview import find_busy_worker
from sandboxctl import Client, RequestRejected, SandboxError

LANGS = ["python", "javascript"]

NONZERO_EXIT = {
    "python": "import sys\nprint('out')\nsys.exit(3)\n",
    "javascript": "console.log('out'); process.exit(3);\n",
}
UNCAUGHT = {
    "python": "print('out')\nraise ValueError('boom')\n",
    "javascript": "console.log('out');\nthrow new Error('boom');\n",
}
SLEEP_FOREVER = {
    "python": "import time\nprint('before', flush=True)\ntime.sleep(600)\n",
    "javascript": "console.log('before'); setInterval(() => {}, 1000);\n",
}
SPIN = {
    "python": "print('before', flush=True)\nwhile True:\n    pass\n",
    "javascript": "console.log('before'); for (;;) {}\n",
}
ALLOCATE = {
    "python": "print('before', flush=True)\nchunks = []\nwhile True:\n    chunks.append(b'x' * (1 << 20))\n",
    "javascript": "console.log('before'); const chunks = [];\n"
                  "for (;;) chunks.push(Buffer.alloc(1 << 20, 1));\n",
}
# The first line goes to the flooded stream itself: two pipes have no order between them, so
# a first line on the other one may reach the daemon after the flood has used up the cap.
FLOOD = {
    "python": "import sys\nprint('first line', file=sys.{stream}, flush=True)\nwhile True:\n"
              "    sys.{stream}.write('y' * 1000)\n",
    "javascript": "process.{stream}.write('first line\\n');\nfor (;;) process.{stream}.write('y'.repeat(1000));\n",
}
BIG_FILE = {
    "python": "print('before', flush=True)\nwith open('big.bin', 'wb') as f:\n    f.write(b'x' * (3 << 20))\n"
              "print('after')\n",
    "javascript": "console.log('before');\nrequire('fs').writeFileSync('big.bin', Buffer.alloc(3 << 20, 1));\n"
                  "console.log('after');\n",
}
SMALL_FILE = {
    "python": "with open('small.bin', 'wb') as f:\n    f.write(b'x' * (512 << 10))\n"
              "import os\nprint(os.path.getsize('small.bin'))\n",
    "javascript": "const fs = require('fs'); fs.writeFileSync('small.bin', Buffer.alloc(512 << 10, 1));\n"
                  "console.log(fs.statSync('small.bin').size);\n",
}
FORK_BOMB = {
    "python": "import os, time\nprint('before', flush=True)\nwhile True:\n    if os.fork() == 0:\n"
              "        time.sleep(30)\n        os._exit(0)\n",
    "javascript": "const cp = require('child_process'); console.log('before');\n"
                  "for (let i = 0; i < 200; i++)\n"
                  "  cp.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], {stdio: 'ignore'});\n",
}
SELF_SIGNAL = {
    "python": "import os, signal\nprint('before', flush=True)\nos.kill(os.getpid(), signal.SIGTERM)\n",
    "javascript": "console.log('before'); process.kill(process.pid, 'SIGTERM'); setInterval(() => {}, 1000);\n",
}


@pytest.mark.parametrize("lang", LANGS)
def test_nonzero_exit_is_ok_with_its_code(client: Client, lang: str) -> None:
    r = client.execute(NONZERO_EXIT[lang], language=lang)
    assert (r.status, r.exit_code, r.signal, r.error) == ("ok", 3, None, None), r
    assert r.stdout == "out\n"


@pytest.mark.parametrize("lang", LANGS)
def test_uncaught_exception_is_ok_with_exit_1_and_a_traceback(client: Client, lang: str) -> None:
    r = client.execute(UNCAUGHT[lang], language=lang)
    assert (r.status, r.exit_code) == ("ok", 1), r
    assert r.stdout == "out\n"
    assert "boom" in r.stderr
    if lang == "python":
        # The traceback is the user's own, as under `python3 main.py`: no runner frames.
        assert r.stderr.startswith('Traceback (most recent call last):\n  File "main.py", line 2'), r.stderr
        assert "sandboxd" not in r.stderr and "init.py" not in r.stderr, r.stderr


@pytest.mark.parametrize("lang", LANGS)
def test_wall_clock_timeout(client: Client, lang: str) -> None:
    r = client.execute(SLEEP_FOREVER[lang], language=lang, timeout_s=0.5)
    assert r.status == "timeout", r
    assert r.stdout == "before\n"
    assert r.exit_code is None and r.signal == signal.SIGKILL
    assert 500 <= r.usage.wall_ms < 10_000, r.usage


@pytest.mark.parametrize("lang", LANGS)
def test_cpu_limit(client: Client, lang: str) -> None:
    r = client.execute(SPIN[lang], language=lang, cpu_limit_s=0.5, timeout_s=20)
    assert r.status == "cpu_limit", r
    assert r.stdout == "before\n"
    assert r.usage.cpu_user_ms + r.usage.cpu_system_ms >= 450, r.usage


@pytest.mark.parametrize("lang", LANGS)
def test_memory_limit_from_the_cgroup_oom_kill(client: Client, lang: str) -> None:
    r = client.execute(ALLOCATE[lang], language=lang, memory_limit_mb=64, timeout_s=20)
    assert r.status == "memory_limit", r
    assert r.stdout == "before\n"
    assert r.signal == signal.SIGKILL
    assert r.usage.peak_memory_bytes >= 60 << 20, r.usage


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_limit_keeps_the_first_bytes_and_flags_the_stream(client: Client, lang: str, stream: str) -> None:
    r = client.execute(FLOOD[lang].replace("{stream}", stream), language=lang, max_output_bytes=10_000)
    assert r.status == "output_limit", r
    flooded = getattr(r, f"{stream}_bytes")
    assert flooded.startswith(b"first line\n"), flooded[:100]
    assert len(flooded) == 10_000 and len(r.stdout_bytes + r.stderr_bytes) == 10_000, (
        len(r.stdout_bytes), len(r.stderr_bytes))
    assert set(flooded.removeprefix(b"first line\n")) == {ord("y")}
    assert r.stdout_truncated is (stream == "stdout")
    assert r.stderr_truncated is (stream == "stderr")
    produced = getattr(r.usage, f"{stream}_bytes")  # all it wrote, more than was kept
    assert produced > len(getattr(r, f"{stream}_bytes")), r.usage


def test_output_cap_is_shared_by_both_streams(client: Client) -> None:
    # Two pipes have no order between them: stderr is written once the daemon has read
    # every byte of stdout (FIONREAD on the pipe: nothing left unread), not merely after it.
    code = ("import fcntl, sys, termios, time\nsys.stdout.write('o' * 6000)\nsys.stdout.flush()\n"
            "while int.from_bytes(fcntl.ioctl(1, termios.FIONREAD, bytes(4)), 'little'):\n    time.sleep(0.001)\n"
            "sys.stderr.write('e' * 6000)\n")
    r = client.execute(code, max_output_bytes=10_000)
    assert r.status == "output_limit", r
    assert r.stdout_bytes == b"o" * 6000
    assert r.stderr_bytes == b"e" * 4000
    assert (r.stdout_truncated, r.stderr_truncated) == (False, True)


def test_output_just_under_the_cap_is_not_truncated(client: Client) -> None:
    r = client.execute("import sys\nsys.stdout.write('z' * 9999)\n", max_output_bytes=10_000)
    assert (r.status, r.exit_code, r.stdout_truncated) == ("ok", 0, False), r
    assert len(r.stdout) == 9999


@pytest.mark.parametrize("lang", LANGS)
def test_file_size_limit(client: Client, lang: str) -> None:
    r = client.execute(BIG_FILE[lang], language=lang, max_file_size_mb=1)
    assert r.status == "file_size_limit", r
    assert r.signal == signal.SIGXFSZ
    assert r.stdout == "before\n"


# The run's rlimits as the kernel holds them for the program's own process.
READ_LIMITS = {
    "python": "print(open('/proc/self/limits').read())\n",
    "javascript": "console.log(require('fs').readFileSync('/proc/self/limits', 'utf8'));\n",
}


def rlimits_of(limits_text: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in limits_text.strip().splitlines()[1:]:
        name, soft, hard = line[:26].strip(), *line[26:].split()[:2]
        rows[name] = (soft, hard)
    return rows


@pytest.mark.parametrize("lang", LANGS)
def test_the_program_runs_under_the_runs_own_rlimits(client: Client, lang: str) -> None:
    """Set at hand-over: by the Python runner on itself, by the daemon (prlimit) on the Node
    runner. The CPU limit also counts what the runner used to start (well under a second)."""
    r = client.execute(READ_LIMITS[lang], language=lang, cpu_limit_s=2, max_file_size_mb=1)
    assert r.status == "ok", r
    limits = rlimits_of(r.stdout)
    assert limits["Max cpu time"] in (("3", "4"), ("4", "5")), limits
    assert limits["Max file size"] == (str(1 << 20), str(1 << 20)), limits


@pytest.mark.parametrize("lang", LANGS)
def test_file_under_the_size_limit_is_written(client: Client, lang: str) -> None:
    r = client.execute(SMALL_FILE[lang], language=lang, max_file_size_mb=1)
    assert (r.status, r.exit_code, r.stdout) == ("ok", 0, f"{512 << 10}\n"), r


@pytest.mark.parametrize("lang", LANGS)
def test_process_limit(client: Client, lang: str) -> None:
    r = client.execute(FORK_BOMB[lang], language=lang, max_processes=16, timeout_s=20)
    assert r.status == "process_limit", r
    assert r.stdout == "before\n"
    assert r.usage.max_processes <= 16, r.usage


def test_process_limit_counts_threads(client: Client) -> None:
    code = ("import threading, time\nfor _ in range(30):\n"
            "    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n")
    r = client.execute(code, max_processes=8)
    assert r.status == "process_limit", r
    assert "can't start new thread" in r.stderr


def test_process_limit_covers_all_processes_together(client: Client) -> None:
    # Three children with three threads each: 13 tasks, none of the processes near 8 alone.
    code = ("import os, sys, threading, time\nkids = []\nfor _ in range(3):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        ts = [threading.Thread(target=time.sleep, args=(1,)) for _ in range(3)]\n"
            "        [t.start() for t in ts]\n"
            "        [t.join() for t in ts]\n"
            "        os._exit(0)\n"
            "    kids.append(pid)\n"
            "codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids]\n"
            "sys.exit(1 if any(codes) else 0)\n")
    r = client.execute(code, max_processes=8)
    assert r.status == "process_limit", r
    assert "can't start new thread" in r.stderr
    alone = client.execute(code, max_processes=16)
    assert (alone.status, alone.exit_code) == ("ok", 0), alone


def test_javascript_async_io_under_a_tight_process_limit(client: Client) -> None:
    """Node's own thread pool is part of the idle runtime, so a run that starts no process or
    thread of its own keeps working however low --max-processes is."""
    code = "require('fs').readFile(__filename, (e, d) => console.log(e ? e.code : d.length));\n"
    r = client.execute(code, language="javascript", max_processes=2)
    assert (r.status, r.exit_code, r.stdout) == ("ok", 0, f"{len(code)}\n"), r


def test_a_program_that_survives_a_failed_fork_is_ok(client: Client) -> None:
    code = ("import os, time\nkids = 0\ntry:\n    for _ in range(20):\n        if os.fork() == 0:\n"
            "            time.sleep(2)\n            os._exit(0)\n        kids += 1\nexcept BlockingIOError:\n"
            "    print('fork refused after', kids)\n")
    r = client.execute(code, max_processes=4)
    assert (r.status, r.exit_code) == ("ok", 0), r
    assert r.stdout == "fork refused after 3\n"


@pytest.mark.parametrize("lang", LANGS)
def test_killed_by_a_cancel_rpc(client: Client, lang: str) -> None:
    events = []
    for event in client.stream(SLEEP_FOREVER[lang], language=lang, timeout_s=60):
        events.append(event)
        if event.kind == "stdout":
            assert client.cancel(events[0].run_id) is True
    result = events[-1].result
    assert result is not None and result.status == "killed", result
    assert result.signal == signal.SIGKILL and result.stdout == "before\n"
    assert result.usage.wall_ms < 30_000
    assert client.cancel(events[0].run_id) is False  # it is over: nothing left to cancel


def test_cancel_of_an_unknown_run_is_false(client: Client) -> None:
    assert client.cancel("no-such-run") is False


@pytest.mark.parametrize("lang", LANGS)
def test_killed_by_its_own_signal(client: Client, lang: str) -> None:
    r = client.execute(SELF_SIGNAL[lang], language=lang)
    assert (r.status, r.signal, r.exit_code) == ("killed", signal.SIGTERM, None), r
    assert r.stdout == "before\n"


def test_abort_is_killed_by_sigabrt(client: Client) -> None:
    r = client.execute("import os\nos.abort()\n")
    assert (r.status, r.signal) == ("killed", signal.SIGABRT), r


@pytest.mark.parametrize(("field", "value", "flag"), [
    ("memory_limit_mb", 0, "--memory-limit"),
    ("memory_limit_mb", -5, "--memory-limit"),
    ("memory_limit_mb", 10**7, "--memory-limit"),
    ("cpu_limit_s", 0, "--cpu-limit"),
    ("cpu_limit_s", 10**6, "--cpu-limit"),
    ("timeout_s", -0.5, "--timeout"),
    ("timeout_s", float("nan"), "--timeout"),
    ("max_processes", 0, "--max-processes"),
    ("max_processes", 10**6, "--max-processes"),
    ("max_file_size_mb", 0, "--max-file-size"),
    ("max_output_bytes", 0, "--max-output"),
])
def test_bad_limits_are_rejected_before_anything_runs(client: Client, field: str, value: float, flag: str) -> None:
    with pytest.raises(RequestRejected) as info:
        client.execute("print('must not run')", **{field: value})
    assert flag in str(info.value)
    assert isinstance(info.value, SandboxError)
    assert client.execute("print('still serving')").stdout == "still serving\n"


def test_fractional_seconds_are_accepted(client: Client) -> None:
    r = client.execute("print('quick')", timeout_s=2.5, cpu_limit_s=0.75)
    assert (r.status, r.stdout) == ("ok", "quick\n"), r


def test_unknown_language_is_rejected(client: Client) -> None:
    with pytest.raises(RequestRejected, match="unknown language"):
        client.execute("puts 1", language="ruby")


def test_a_worker_that_dies_under_the_run_is_an_error(client: Client, shared_daemon) -> None:
    """The sandbox itself failing (here: its pid 1 killed from the host) is `error`, with a
    message, never a guess at the program's fate."""
    code = ("import threading, time\nfor _ in range(24):\n"
            "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
            "print('ready', flush=True)\ntime.sleep(60)\n")
    outcome: list = []

    def run() -> None:
        outcome.append(client.execute(code, timeout_s=60, max_processes=64))

    runner = threading.Thread(target=run)
    runner.start()
    worker = find_busy_worker(shared_daemon.cgroup_name, 26)
    os.kill(worker.init_pid(), signal.SIGKILL)
    runner.join(30)
    assert outcome, "the run did not end after its worker died"
    r = outcome[0]
    assert r.status == "error", r
    assert r.error and r.exit_code is None


def test_configured_defaults_apply_and_maxima_are_refused_not_clamped(daemon_factory) -> None:
    d = daemon_factory({
        "limits": {"timeout_s": 1, "memory_mb": 64, "max_output_bytes": 100},
        "max_limits": {"timeout_s": 2, "memory_mb": 128, "max_output_bytes": 1000},
        "languages": {"python": {"pool_size": 1}, "javascript": {"pool_size": 0}},
    })
    with d.client() as c:
        r = c.execute("import time\nprint('x' * 50, flush=True)\ntime.sleep(30)\n")
        assert r.status == "timeout" and 1000 <= r.usage.wall_ms < 20_000, r  # the default, 1 s
        r = c.execute("import sys\nsys.stdout.write('y' * 500)\n")
        assert (r.status, len(r.stdout)) == ("output_limit", 100), r
        r = c.execute(ALLOCATE["python"], timeout_s=2)
        assert r.status == "memory_limit", r
        for kwargs, message in (({"timeout_s": 2.5}, "--timeout: must be > 0 and <= 2 seconds"),
                                ({"memory_limit_mb": 129}, "--memory-limit: must be > 0 and <= 128 MB"),
                                ({"max_output_bytes": 1001}, "--max-output: must be > 0 and <= 1000 bytes")):
            with pytest.raises(RequestRejected) as info:
                c.execute("print('must not run')", **kwargs)
            assert message in str(info.value)
        assert c.execute("print('ok')", timeout_s=2, max_output_bytes=1000).stdout == "ok\n"


def test_a_memory_limit_below_the_idle_runtime_is_memory_limit_before_running(client: Client) -> None:
    r = client.execute("print('must not run')", memory_limit_mb=1)
    assert (r.status, r.stdout, r.exit_code) == ("memory_limit", "", None), r
    assert r.error and "--memory-limit" in r.error
    assert r.cli_exit_code == 125
