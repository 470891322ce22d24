"""The macOS backend's platform-neutral parts, exercised on Linux.

The Seatbelt profile, the rlimit table, the launcher (run for real: it is plain POSIX up to
its final exec), the libproc struct layouts, the usage book and the memory watchdog (driving
real signals at a real process) do not need a Mac; only sandbox-exec and libproc do.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sandboxd import backend
from sandboxd.backend import Sample, macos
from sandboxd.config import Config, LanguageConfig

EVIL = '/tmp/x") (allow default) ("'


def balanced(text: str) -> bool:
    """Parentheses balance outside string literals: the profile is one s-expression per line."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            escaped, in_string = (not escaped and ch == "\\"), in_string and (escaped or ch != '"')
            continue
        if ch == '"':
            in_string = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not in_string


def test_profile_denies_by_default_and_denies_the_network() -> None:
    profile = macos.seatbelt_profile(["/usr/lib"], ["/opt/py/bin/python3.11"], "/private/var/tmp/sandboxd/w1")
    lines = profile.text.splitlines()
    assert lines[:3] == ["(version 1)", "(deny default)", "(deny network*)"]
    assert not any("allow network" in line or "allow default" in line for line in lines)
    assert all(balanced(line) for line in lines)


def test_profile_paths_travel_as_parameters_never_as_text() -> None:
    profile = macos.seatbelt_profile([EVIL, "/usr/lib"], [EVIL], EVIL)
    assert "/tmp" not in profile.text and "allow default" not in profile.text
    assert profile.params["WORKDIR"] == EVIL
    assert EVIL in profile.params.values()
    assert all(balanced(line) for line in profile.text.splitlines())


def test_profile_grants_exec_only_to_the_interpreters_and_writes_only_to_the_workdir() -> None:
    profile = macos.seatbelt_profile(["/usr/lib", "/usr/lib"], ["/opt/py/bin/python3"], "/private/var/tmp/w")
    by_rule = {line.split()[1]: line for line in profile.text.splitlines() if line.startswith("(allow")}
    assert by_rule["process-exec"] == '(allow process-exec (literal (param "EXEC0")))'
    assert profile.params["EXEC0"] == "/opt/py/bin/python3"
    writes = [line for line in profile.text.splitlines() if "file-write" in line]
    assert writes == ['(allow file-read* file-write* (subpath (param "WORKDIR")))',
                      '(allow file-read* file-write-data (literal "/dev/null") (literal "/dev/zero"))']
    assert [k for k in profile.params if k.startswith("READ")] == ["READ0"]  # duplicates folded
    parents = {v for k, v in profile.params.items() if k.startswith("PARENT")}
    assert {"/", "/usr", "/opt/py/bin", "/private/var/tmp"} <= parents
    assert "(allow signal (target same-sandbox))" in profile.text


def test_profile_argv_is_sandbox_exec_with_defines_then_the_command() -> None:
    profile = macos.seatbelt_profile(["/usr/lib"], [], "/w")
    argv = profile.argv(["/opt/py/bin/python3", "-I"])
    assert argv[:3] == [macos.SANDBOX_EXEC, "-p", profile.text]
    assert argv[-2:] == ["/opt/py/bin/python3", "-I"]
    defines = argv[3:-2]
    assert defines[0::2] == ["-D"] * len(profile.params)
    assert dict(d.split("=", 1) for d in defines[1::2]) == profile.params


def test_rlimits_sit_at_the_configured_maxima() -> None:
    cfg = Config()
    table = macos.rlimit_table(cfg, own_uid=True)
    mx = cfg.max_limits
    assert table["RLIMIT_CORE"] == (0, 0)
    assert table["RLIMIT_FSIZE"] == (int(mx.max_file_size_mb * macos.MIB),) * 2
    assert table["RLIMIT_CPU"][0] >= mx.cpu_s
    assert table["RLIMIT_NPROC"][0] >= mx.max_processes
    assert not {"RLIMIT_AS", "RLIMIT_DATA"} & set(table)  # macOS does not enforce them
    assert all(hasattr(resource, name) for name in table)


def test_nproc_is_left_alone_on_the_daemons_shared_uid() -> None:
    assert "RLIMIT_NPROC" not in macos.rlimit_table(Config(), own_uid=False)


def test_launch_spec_round_trips() -> None:
    spec = macos.LaunchSpec(7, 8, 9, "/w", {"RLIMIT_CPU": (5, 6)}, ["/bin/true"], 1_800_000_001, 1_800_000_001)
    assert macos.LaunchSpec.from_json(spec.to_json()) == spec


PROBE = r"""
import json, os, resource
fds = sorted(int(n) for n in os.listdir('/proc/self/fd'))
os.write(4, (json.dumps({
    'ctl': os.read(3, 100).decode(), 'fds': fds, 'cwd': os.getcwd(), 'umask': os.umask(0),
    'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(),
    'cpu': resource.getrlimit(resource.RLIMIT_CPU), 'core': resource.getrlimit(resource.RLIMIT_CORE),
}) + '\n').encode())
"""


def run_launcher(spec_for: object, tmp_path: Path, extra_fd: bool = True) -> tuple[int, dict[str, object] | str]:
    """Runs the real launcher the way the backend does: a fresh interpreter, plain subprocess."""
    ctl_r, ctl_w = os.pipe()
    status_r, status_w = os.pipe()
    exit_r, exit_w = os.pipe()
    stray_r, stray_w = os.pipe()  # must not reach the sandboxed command
    spec = spec_for(ctl_r, status_w, exit_w)  # type: ignore[operator]
    own = (ctl_r, status_w, exit_w)
    try:
        process = subprocess.Popen([sys.executable, "-I", "-m", "sandboxd.backend.macos", spec.to_json()],
                                   pass_fds=(*own, stray_r) if extra_fd else own, stdin=subprocess.DEVNULL)
    finally:
        for fd in (*own, stray_r):
            os.close(fd)
    os.write(ctl_w, b"hello")
    os.close(ctl_w)
    code = process.wait(30)
    with os.fdopen(status_r, "rb") as status:
        text = status.read().decode()
    os.close(stray_w)
    os.close(exit_r)
    try:
        return code, json.loads(text)
    except ValueError:
        return code, text


INTERPRETER = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def test_the_launcher_places_descriptors_limits_and_directory(tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    workdir.mkdir()

    def spec(ctl: int, status: int, exit: int) -> macos.LaunchSpec:
        return macos.LaunchSpec(ctl, status, exit, str(workdir), {"RLIMIT_CPU": (7, 8), "RLIMIT_CORE": (0, 0)},
                                [INTERPRETER, "-I", "-S", "-c", PROBE])

    code, seen = run_launcher(spec, tmp_path)
    assert code == 0, seen
    assert isinstance(seen, dict)
    assert seen["ctl"] == "hello"
    assert [fd for fd in seen["fds"] if fd > 2] in ([3, 4, 5], [3, 4, 5, 6])  # 6: listdir's own descriptor
    assert (seen["cwd"], seen["umask"]) == (str(workdir), 0o077)
    assert (seen["cpu"], seen["core"]) == ([7, 8], [0, 0])


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another uid needs root")
def test_the_launcher_drops_to_the_workers_uid(tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    workdir.mkdir()
    uid = 1_800_000_000 + os.getpid() % 1000
    os.chown(workdir, uid, uid)
    os.chmod(tmp_path, 0o755)

    def spec(ctl: int, status: int, exit: int) -> macos.LaunchSpec:
        return macos.LaunchSpec(ctl, status, exit, str(workdir), {}, [INTERPRETER, "-I", "-S", "-c", PROBE], uid, uid)

    code, seen = run_launcher(spec, tmp_path)
    assert code == 0, seen
    assert isinstance(seen, dict)
    assert (seen["uid"], seen["gid"], seen["groups"]) == (uid, uid, [])


def test_a_failed_launch_is_reported_on_the_status_pipe(tmp_path: Path) -> None:
    def spec(ctl: int, status: int, exit: int) -> macos.LaunchSpec:
        return macos.LaunchSpec(ctl, status, exit, str(tmp_path / "missing"), {}, ["/bin/true"])

    code, seen = run_launcher(spec, tmp_path, extra_fd=False)
    assert code == 1
    assert isinstance(seen, dict) and "worker launch failed" in str(seen["error"])


def test_libproc_structs_have_the_darwin_layout() -> None:
    assert ctypes.sizeof(macos.RusageInfoV2) == 16 + 18 * 8
    assert macos.RusageInfoV2.ri_user_time.offset == 16
    assert macos.RusageInfoV2.ri_phys_footprint.offset == 16 + 7 * 8
    assert macos.RusageInfoV2.ri_child_user_time.offset == 16 + 10 * 8
    assert ctypes.sizeof(macos.ProcTaskInfo) == 6 * 8 + 12 * 4
    assert macos.ProcTaskInfo.pti_threadnum.offset == 6 * 8 + 9 * 4


def usage(cpu: int, memory: int, threads: int = 1) -> macos.ProcessUsage:
    return macos.ProcessUsage(cpu, cpu // 2, memory, threads)


def test_the_usage_book_keeps_cpu_of_processes_that_exited() -> None:
    book = macos.UsageBook()
    first = book.add({10: usage(100, 5_000, 2), 11: usage(40, 1_000)})
    assert (first.cpu_user_ns, first.memory_bytes, first.processes) == (140, 6_000, 3)
    later = book.add({10: usage(150, 2_000)})  # 11 has exited
    assert (later.cpu_user_ns, later.cpu_system_ns) == (190, 95)
    assert (later.memory_bytes, later.processes, book.peak_memory) == (2_000, 1, 6_000)


def test_the_watch_terms_then_kills_after_the_grace_period() -> None:
    watch = macos.Watch(memory_limit=1_000, task_limit=4)
    assert watch.decide(Sample(0, 0, 999, 4), 0.0) is None
    assert watch.decide(Sample(0, 0, 1_001, 1), 1.0) == signal.SIGTERM
    assert watch.reason == "memory"
    assert watch.decide(Sample(0, 0, 10, 1), 1.0 + macos.TERM_GRACE_S / 2) is None
    assert watch.decide(Sample(0, 0, 10, 1), 1.0 + macos.TERM_GRACE_S) == signal.SIGKILL


def test_the_watch_counts_tasks_too() -> None:
    watch = macos.Watch(memory_limit=1 << 30, task_limit=4)
    assert watch.decide(Sample(0, 0, 0, 5), 0.0) == signal.SIGTERM
    assert watch.reason == "tasks"


def test_the_watchdog_ends_a_real_process_that_ignores_sigterm(tmp_path: Path) -> None:
    """Memory is faked (libproc is macOS-only); the signals, the grace and the reaping are real."""
    stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print(1, flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True, stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"1\n"
    workdir = tmp_path / "w"
    workdir.mkdir()

    def alive() -> list[int]:
        return [process.pid] if process.poll() is None else []

    c = macos.MacOSContainment(process, None, str(workdir), list_pids=alive,
                               usage=lambda pid: usage(0, 10 << 30))
    started = time.monotonic()
    c.apply_limits(memory_bytes=1 << 30, max_tasks=8)
    assert process.wait(10) == -signal.SIGKILL
    assert time.monotonic() - started >= macos.TERM_GRACE_S
    assert (c.oom_kills(), c.pids_limit_hits(), c.peak_memory()) == (1, 0, 10 << 30)
    assert c.destroy() is True
    assert not workdir.exists()


def test_destroy_kills_the_whole_group(tmp_path: Path) -> None:
    process = subprocess.Popen(["/bin/sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    time.sleep(0.2)

    def group() -> list[int]:
        out = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    assert len(group()) == 3
    c = macos.MacOSContainment(process, None, str(tmp_path), list_pids=group, usage=lambda pid: None)
    assert c.destroy() is True
    assert group() == []


def test_runner_argv_starts_init_for_python_even_in_fork_mode() -> None:
    cfg = Config()
    cfg.languages["python"] = LanguageConfig(interpreter="/opt/py/bin/python3", extensions=[".py"], mode="fork")
    argv = macos.runner_argv(cfg, "python")
    assert argv[:3] == ["/opt/py/bin/python3", "-I", "-c"] and argv[-1] == "python"
    node = macos.runner_argv(cfg, "javascript")
    assert node[node.index("spawn") + 1] == cfg.languages["javascript"].interpreter


def test_capabilities_claim_nothing_macos_lacks() -> None:
    for root in (True, False):
        caps = {c.layer: c for c in macos.capabilities(root, sandbox_exec=True)}
        for absent in ("namespaces", "seccomp", "memory_limit"):
            assert caps[absent].enforced is False
        assert "best effort" in caps["memory_limit"].detail
        assert caps["privileges"].enforced is root and caps["process_limit"].enforced is root
    without = {c.layer: c for c in macos.capabilities(True, sandbox_exec=False)}
    assert not without["seatbelt"].enforced and not without["network"].enforced


def test_the_backend_refuses_to_start_without_sandbox_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(macos, "SANDBOX_EXEC", "/nonexistent/sandbox-exec")
    b = macos.MacOSBackend(Config())
    with pytest.raises(RuntimeError, match="sandbox-exec"):
        b.check_required()
    assert {c.layer: c.enforced for c in b.capabilities()}["seatbelt"] is False


def test_select_picks_the_macos_backend_on_darwin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert isinstance(backend.select(Config()), macos.MacOSBackend)


def test_the_backend_allows_each_interpreter_by_both_its_names(tmp_path: Path) -> None:
    real = tmp_path / "python3.11"
    real.write_text("")
    link = tmp_path / "python3"
    link.symlink_to(real)
    cfg = Config()
    cfg.languages["python"] = LanguageConfig(interpreter=str(link), extensions=[".py"])
    b = macos.MacOSBackend(cfg)
    assert {str(link), str(real)} <= set(b.exec_paths)
    assert str(tmp_path.parent) in b.read_paths  # the installation prefix of .../bin/python3
