"""Measures which system calls sandboxed programs really make, to build and check the allowlists.

`strace -f` is attached to a running daemon's fork servers, so every worker built afterwards is
traced from its first instruction. Only calls made *after* the worker loaded its seccomp filter
count (that is what the filter has to answer); the build steps before it (mount, pivot_root…)
are the daemon's own business. Run as a script to print the measured table:

    .venv/bin/python tests/security/syscall_trace.py
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
LANGUAGES = {"python": ".py", "javascript": ".js"}
EXPECTED_EXIT = {"failing": 1}
CORPUS_STDIN = b"corpus stdin\n"

_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")
# "= -1 EPERM (...)", or with --decode-pids=pidns "= 2 /* 15140 in strace's PID NS */".
_RESULT = re.compile(r"=\s+(-?\d+|\?)(?:\s+/\* (\d+) in strace's PID NS \*/|\s+(\w+))?")
_FORKS = ("clone", "clone3", "fork", "vfork")


def corpus(language: str) -> list[Path]:
    return sorted((CORPUS / language).glob("*" + LANGUAGES[language]))


def expected_exit(path: Path) -> int:
    return EXPECTED_EXIT.get(path.stem, 0)


@dataclass
class Trace:
    """System calls per worker made after its filter was loaded, with how each was answered."""

    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    denied: dict[str, set[str]] = field(default_factory=lambda: collections.defaultdict(set))


def parse(text: str) -> Trace:
    """Counts the calls of every pid that loaded a seccomp filter (from that moment on) and of
    all its descendants. Two passes, because strace may print a child's first calls before
    its parent's fork returns (always so for vfork)."""
    events = []
    unfinished: dict[int, str] = {}
    for index, line in enumerate(text.splitlines()):
        m = _LINE.match(line)
        if not m:
            continue
        pid, resumed = int(m.group(1)), m.group(2) is not None
        name, rest = m.group(2) or m.group(3), m.group(4)
        if "<unfinished ...>" in rest:
            unfinished[pid] = rest
            events.append((index, pid, name, resumed, None, ""))
            continue
        call = (unfinished.pop(pid, "") if resumed else "") + rest
        result = _RESULT.match("=" + rest.rpartition(" =")[2]) if " =" in rest else None
        events.append((index, pid, name, resumed, result.groups() if result else None, call))
    marked: dict[int, int] = {}
    children: dict[int, list[int]] = collections.defaultdict(list)
    for index, pid, name, _, result, call in events:
        if result is None:
            continue
        value, host_pid, _ = result
        if name in _FORKS and host_pid:
            children[pid].append(int(host_pid))
        # Loading returns 0, or the listener fd with SECCOMP_FILTER_FLAG_NEW_LISTENER; libseccomp's
        # feature probes before it pass a NULL program and fail.
        loaded = value not in ("-1", "?") and "filter=" in call
        if loaded and pid not in marked and ((name == "seccomp" and "SECCOMP_SET_MODE_FILTER" in call)
                                             or (name == "prctl" and "PR_SET_SECCOMP" in call)):
            marked[pid] = index
    since = dict(marked)
    stack = list(marked)
    while stack:
        for child in children[stack.pop()]:
            if child not in since:
                since[child] = -1
                stack.append(child)
    trace = Trace()
    for index, pid, name, resumed, result, _ in events:
        if index <= since.get(pid, len(events) + index):
            continue
        if not resumed:
            trace.calls[name] += 1
        if result and result[0] == "-1" and result[2] in ("EPERM", "ENOSYS") and _answered_by_filter(name, result[2]):
            trace.denied[name].add(result[2])
    return trace


def _answered_by_filter(name: str, err: str) -> bool:
    """strace cannot tell the filter's answer from the kernel's own; the kernel's EPERM for
    these calls is ordinary (e.g. kill of a process in another uid), the rest is ours."""
    return not (err == "EPERM" and name in ("kill", "tgkill", "setpgid"))


@contextmanager
def traced(daemon_pid: int, out: Path) -> Iterator[None]:
    """strace -f on every one of the daemon's fork servers for the duration of the block."""
    sys.path.insert(0, str(HERE.parent))
    from conftest import fork_servers_of

    servers = fork_servers_of(daemon_pid)
    if not servers:
        raise RuntimeError(f"sandboxd {daemon_pid} has no fork server")
    argv = ["strace", "-f", "-qq", "--decode-pids=pidns", "-e", "trace=all", "-o", str(out)]
    for pid in servers:
        argv += ["-p", str(pid)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for pid in servers:
            _wait_attached(pid)
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def _wait_attached(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:") and int(line.split()[1]) != 0:
                return
        time.sleep(0.02)
    raise RuntimeError("strace did not attach")


def run_corpus(client: object, language: str) -> list[tuple[Path, object]]:
    return [(path, client.execute(path.read_bytes(), language=language, stdin=CORPUS_STDIN,  # type: ignore[attr-defined]
                                  timeout_s=60, cpu_limit_s=30, memory_limit_mb=512))
            for path in corpus(language)]


def measure(language: str) -> tuple[Trace, list[tuple[Path, object]]]:
    """Starts a daemon with a one-worker pool, traces it, runs the language's corpus."""
    sys.path.insert(0, str(HERE.parent))
    from conftest import start_daemon

    with tempfile.TemporaryDirectory(prefix="sbx-trace-", dir="/tmp") as tmp:
        other = "javascript" if language == "python" else "python"
        d = start_daemon(Path(tmp), {"languages": {language: {"pool_size": 1}, other: {"pool_size": 0}}})
        out = Path(tmp) / "strace.out"
        try:
            with d.client() as c, traced(d.process.pid, out):
                # The ready worker (and maybe its successor) were built before strace
                # attached: spend them on warm-ups.
                for _ in range(2):
                    c.execute("1" if language == "python" else "1;", language=language)
                results = run_corpus(c, language)
                _wait_torn_down(d)
        finally:
            d.stop()
            d.remove_cgroup_parents()
        return parse(out.read_text(errors="replace")), results


def _wait_torn_down(d: object) -> None:
    """Waits until only the ready worker is left. A run's result arrives before its worker is
    torn down; detaching strace from processes the v1 freezer is freezing for that teardown
    leaves both waiting for each other."""
    from conftest import worker_cgroups

    deadline = time.monotonic() + 30
    while len(worker_cgroups(d.cgroup_name)) > 1 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.02)


def main() -> None:
    for language in LANGUAGES:
        trace, results = measure(language)
        print(f"== {language}: {len(trace.calls)} distinct system calls after the filter loaded")
        for path, r in results:
            print(f"   {path.name}: {r.status} exit={r.exit_code}")  # type: ignore[attr-defined]
        for name, count in trace.calls.most_common():
            print(f"   {count:8d} {name}")
        for name, errs in sorted(trace.denied.items()):
            print(f"   denied: {name} {sorted(errs)}")


if __name__ == "__main__":
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    main()
