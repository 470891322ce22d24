"""Linux: namespaces, cgroups, rlimits, dropped privileges, Landlock and seccomp per worker.

Workers are built by the fork servers, in turn (see linux/contain.py for the recipe); this
module decides what each worker gets and holds its cgroup and pidfd for the run.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import os
import platform
import resource
import secrets
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from ..config import Config
from ..linux import cgroups, elf, landlock, netns, seccomp_policy
from ..linux.contain import NAMESPACES, Blueprint, exceeds_pid1
from ..linux.libc import CLONE_NEWCGROUP, CLONE_NEWNET
from ..linux.pid1 import WORKDIR
from ..linux.zygote_client import ZygoteClient, ZygoteError
from ..pipes import StatusChannel, close_quietly
from ..runners import source as runner_source
from ..worker import Worker
from . import Backend, BuildError, Capability, Containment, Sample

log = logging.getLogger("sandboxd.backend")

BUILD_TIMEOUT_S = 30.0
EXIT_WAIT_S = 1.0  # for a killed worker's pid 1 to be gone before its cgroup is removed
WORKER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORKDIR, "LANG": "C.UTF-8",
              "TMPDIR": "/tmp"}
MIB = 1 << 20
# A fork-mode worker inherits its fork server's whole address space, its str hash seed and
# layout included, which a bare interpreter draws anew at each exec. The seed alone moves
# CPU-bound Python by up to a fifth, as a module-level loop's globals collide in their dict
# or not: bare `python3` with PYTHONHASHSEED 0-15, three runs each, took 205-222 ms (medians)
# for fourteen seeds and 249 and 266 ms for seeds 3 and 5. One daemon, 48 interleaved runs over
# 4 servers: the workers of one server took 284/292 ms (min/median) and another's 236/250.
# With one server a daemon kept a single draw for its whole life. Builds go to the servers
# in turn (each costs ~1.5 MB of unshared memory).
FORK_SERVERS = 4
# What building a worker needs from the kernel, tried for real at start-up as the first worker
# uid: switch uid, unshare every namespace, map the uid, mount a tmpfs. A sysctl can say
# "allowed" while an LSM (AppArmor's userns restriction on Ubuntu 24.04) still refuses.
_NAMESPACE_PROBE = r"""
import ctypes, os, sys
uid = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def check(ok, what):
    if not ok:
        sys.exit(what + ": " + os.strerror(ctypes.get_errno()))
try:
    os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)
except OSError as exc:
    sys.exit("switching to the worker uid: " + exc.strerror)
check(libc.prctl(4, 1, 0, 0, 0) == 0, "prctl(PR_SET_DUMPABLE)")
check(libc.unshare(int(sys.argv[2])) == 0, "unshare")
with open("/proc/self/setgroups", "w") as f: f.write("deny")
with open("/proc/self/uid_map", "w") as f: f.write("1000 %d 1" % uid)
with open("/proc/self/gid_map", "w") as f: f.write("1000 %d 1" % uid)
check(libc.mount(None, b"/", None, 0x44000, None) == 0, "making / private in a new mount namespace")
check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None) == 0, "mounting a tmpfs in a new user namespace")
os.mkdir("/tmp/empty"); os.mkdir("/tmp/view")
lower = sys.argv[3].replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")
if libc.mount(b"overlay", b"/tmp/view", b"overlay", 1, ("lowerdir=%s:/tmp/empty" % lower).encode()) == 0:
    print("overlay")
else:
    print("no overlay: " + os.strerror(ctypes.get_errno()))
"""


def exited(pidfd: int, wait_s: float = 0.0) -> bool:
    """Whether the process behind `pidfd` has exited, waiting up to `wait_s` for it. poll, not
    select(): descriptors above 1024 are normal here."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(wait_s * 1000))


@dataclass
class Runner:
    """A spawned runner (Node), found once its worker is ready, for its rlimits at hand-over."""

    pid: int
    pidfd: int
    cpu_s: float  # what it used to start and warm up: its RLIMIT_CPU counts that too


def find_runner(cgroup: cgroups.RunCgroup, init_pid: int) -> Runner:
    """The one process of a ready worker besides its pid 1. Its pid cannot be another's by the
    time the pidfd is open: the runner is blocked reading its control pipe, and should it die,
    pid 1 keeps its pid as a zombie until it has reported the death."""
    others = [pid for pid in cgroup.pids() if pid != init_pid]
    if len(others) != 1:
        raise BuildError(f"expected its runner alone beside pid 1, found {len(others)} processes")
    pid = others[0]
    pidfd = os.pidfd_open(pid)
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except BaseException:
        os.close(pidfd)
        raise
    return Runner(pid, pidfd, cpu_s)


class LinuxContainment(Containment):
    def __init__(self, cgroup: cgroups.RunCgroup, pidfd: int | None) -> None:
        self.cgroup = cgroup
        self.pidfd = pidfd
        self.runner: Runner | None = None
        self.limits: tuple[int, int] | None = None

    def apply_limits(self, memory_bytes: int, max_tasks: int) -> None:
        """The peak was reset when the worker became ready (build_worker): an idle worker is
        blocked reading its pipe and uses no more memory, so the run's peak needs no write here."""
        if self.limits != (memory_bytes, max_tasks):  # build time already set the defaults
            self.cgroup.set_limits(memory_bytes, max_tasks)
            self.limits = (memory_bytes, max_tasks)

    def limit_runner(self, cpu_s: float, file_size_bytes: int) -> None:
        """prlimit needs CAP_SYS_RESOURCE in the runner's user namespace, and the root daemon
        has every capability there, whatever its own sets: the fork server created that
        namespace as root, so root owns it. A runner that has exited is left alone: pid 1
        reports its death, and its pid may be another process's once pid 1 has reaped it."""
        r = self.runner
        if r is None or exited(r.pidfd):
            return
        cpu = int(r.cpu_s + cpu_s) + 1
        try:
            resource.prlimit(r.pid, resource.RLIMIT_CPU, (cpu, cpu + 1))
            resource.prlimit(r.pid, resource.RLIMIT_FSIZE, (file_size_bytes, file_size_bytes))
        except ProcessLookupError:
            pass  # exited meanwhile: as above

    def sample(self) -> Sample:
        return self.cgroup.sample()

    def peak_memory(self) -> int:
        return self.cgroup.peak_memory()

    def oom_kills(self) -> int:
        return self.cgroup.oom_kills()

    def pids_limit_hits(self) -> int:
        return self.cgroup.pids_limit_hits()

    def peak_processes(self) -> int | None:
        return self.cgroup.pids_peak()

    def kill(self) -> None:
        """Immediate, and cheap enough for the event loop: SIGKILL to the worker's pid 1 takes
        its whole pid namespace down at once, and every process of the run is in it (setns is
        on the seccomp kill list). Before pid 1 is known (a build that failed early) the cgroup
        is killed instead. destroy() kills the whole cgroup in any case before removing it."""
        if self.pidfd is None:
            self.cgroup.kill()
            return
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def destroy(self) -> bool:
        """Blocking (the daemon runs it in a thread). pid 1's exit takes its whole namespace
        with it, so waiting for its pidfd first lets the first rmdir succeed instead of
        freezing, listing and killing again every 2 ms while the kernel tears processes down."""
        self.kill()
        if self.pidfd is not None:
            exited(self.pidfd, EXIT_WAIT_S)
            close_quietly(self.pidfd)
            self.pidfd = None
        if self.runner is not None:
            close_quietly(self.runner.pidfd)
            self.runner = None
        return self.cgroup.kill_and_remove()


def _sysctl(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


class LinuxBackend(Backend):
    name = "linux"
    base_env = WORKER_ENV

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.landlock_abi, self.landlock_missing = landlock.probe()
        self.readonly_overlay = False  # decided by check_required's namespace probe
        self.reuses_networks = netns.reusable()  # what the fork server, started with these capabilities, does
        self.overlay_missing = "not probed"
        self.hierarchy = cgroups.Hierarchy(cfg.sandbox.cgroup_name, parent_setting=cfg.sandbox.cgroup_parent)
        self.counter = itertools.count()
        self.prefix = secrets.token_hex(3)
        self._programs = self._seccomp_programs()
        self.zygotes = [ZygoteClient(self._programs) for _ in range(FORK_SERVERS)]
        self._argv = {name: self._runner_argv(name) for name in cfg.languages}
        exec_paths: set[str] = set()
        for interp in {lang.interpreter for lang in cfg.languages.values()}:
            exec_paths.update(elf.exec_closure(interp))
        self._exec_paths = sorted(exec_paths)
        self._python_path = {name: self._sys_path(lang.interpreter) for name, lang in cfg.languages.items()
                             if lang.mode == "fork"}

    @staticmethod
    def _sys_path(interpreter: str) -> list[str]:
        """sys.path of a fresh `interpreter -I`, for fork-mode workers to start from."""
        out = subprocess.run([interpreter, "-I", "-c", "import sys, json; print(json.dumps(sys.path))"],
                             capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
        return [p for p in json.loads(out.stdout) if p] if out.returncode == 0 else []

    def _spawns(self, language: str) -> bool:
        """Whether pid 1 starts the runner as a program of its own (Node) instead of forking
        a Python runner."""
        lang = self.cfg.languages[language]
        return lang.mode != "fork" and bool(lang.command)

    def _runner_argv(self, language: str) -> list[str]:
        """What the runner pid 1 forks execs (linux/pid1.c); [] for a fork-mode runner."""
        lang = self.cfg.languages[language]
        if lang.mode == "fork":
            return []
        if not self._spawns(language):
            return [lang.interpreter, "-I", "-c", runner_source("init.py"), "runner"]
        runner = runner_source(lang.runner) if lang.runner else ""
        return [part.replace("{interpreter}", lang.interpreter).replace("{runner}", runner) for part in lang.command]

    def check_required(self) -> None:
        userns = _sysctl("/proc/sys/user/max_user_namespaces")
        if userns == "0":
            raise RuntimeError("user namespaces are disabled (user.max_user_namespaces = 0); "
                               "sandboxd cannot isolate workers on this host")
        if _sysctl("/proc/sys/kernel/unprivileged_userns_clone") == "0":
            raise RuntimeError("unprivileged user namespaces are disabled "
                               "(kernel.unprivileged_userns_clone = 0); set it to 1")
        if _sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
            raise RuntimeError("AppArmor restricts unprivileged user namespaces "
                               "(kernel.apparmor_restrict_unprivileged_userns = 1); "
                               "allow them or add an AppArmor profile for sandboxd")
        if self.cfg.sandbox.landlock == "required" and self.landlock_abi == 0:
            raise RuntimeError("the config requires Landlock (sandbox.landlock = \"required\") but "
                               f"{self.landlock_missing}; set sandbox.landlock = \"best\" to run without it")
        if self.cfg.sandbox.seccomp:
            missing = self._seccomp_missing()
            if missing:
                raise RuntimeError(f"the config requires seccomp (sandbox.seccomp = true) but {missing}")
        too_many = exceeds_pid1(list(self.cfg.sandbox.readonly_paths), self._exec_paths)
        if too_many:
            raise RuntimeError(too_many)
        self._probe_namespaces()
        for name, lang in self.cfg.languages.items():
            if not os.access(lang.interpreter, os.X_OK):
                raise RuntimeError(f"languages.{name}.interpreter: {lang.interpreter} is not an executable file")
            own = os.path.realpath(sys.executable)
            if lang.mode == "fork" and os.path.realpath(lang.interpreter) != own:
                raise RuntimeError(
                    f"languages.{name}: mode \"fork\" runs code in the daemon's own interpreter ({own}), "
                    f"but interpreter = {lang.interpreter} is {os.path.realpath(lang.interpreter)}; "
                    "run sandboxd with that interpreter or set mode = \"exec\"")

    def _seccomp_programs(self) -> dict[str, bytes]:
        """What the fork server installs in workers; none where the layer is off or cannot be
        built (check_required then refuses to start, or capabilities say why it is missing)."""
        if not self.cfg.sandbox.seccomp or self._seccomp_missing():
            return {}
        return {profile: seccomp_policy.program(profile) for profile in seccomp_policy.ALLOW}

    def _seccomp_profile(self, language: str) -> str:
        runtime = os.path.basename(os.path.realpath(self.cfg.languages[language].interpreter))
        return seccomp_policy.NODE if runtime.startswith("node") else seccomp_policy.PYTHON

    @staticmethod
    @functools.cache
    def _seccomp_missing() -> str:
        """Why the seccomp layer cannot be built here, "" when it can. Asked once: compiling
        every profile's filter takes ~4 ms, and `capabilities` (every status call) asks too."""
        actions = (_sysctl("/proc/sys/kernel/seccomp/actions_avail") or "").split()
        if not actions:
            return "this kernel has no seccomp filter support"
        if "user_notif" not in actions:
            return "this kernel lacks SECCOMP_RET_USER_NOTIF, which names the call a violation made"
        try:
            for profile in seccomp_policy.ALLOW:
                seccomp_policy.program(profile)
        except OSError as exc:
            return f"libseccomp cannot build the filter: {exc}"
        return ""

    def _probe_namespaces(self) -> None:
        """Builds a bare namespace like a worker's; also finds out whether read-only
        directories can be private overlays (contain.Blueprint.readonly_overlay)."""
        uid = self.cfg.sandbox.uid_base
        dirs = [p for p in self.cfg.sandbox.readonly_paths if os.path.isdir(p) and not os.path.islink(p)]
        flags = NAMESPACES | CLONE_NEWNET | CLONE_NEWCGROUP  # all of a worker's, as one unshare
        out = subprocess.run([sys.executable, "-I", "-S", "-c", _NAMESPACE_PROBE, str(uid), str(flags),
                              dirs[0] if dirs else "/usr"],
                             capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
        if out.returncode != 0:
            detail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
            raise RuntimeError(f"cannot build an isolated worker on this host ({detail}); sandboxd needs root "
                               "and unprivileged user namespaces that may mount (check AppArmor's "
                               "userns restriction and kernel.unprivileged_userns_clone)")
        self.readonly_overlay = out.stdout.strip() == "overlay"
        self.overlay_missing = out.stdout.strip().removeprefix("no overlay: ")

    def capabilities(self) -> list[Capability]:
        cg = self.hierarchy.version
        shared = ("private overlays" if self.readonly_overlay else
                  f"binds (no overlayfs here: {self.overlay_missing}; record locks on these shared files are "
                  "visible to concurrent runs)")
        return [
            Capability("namespaces", True, "user, pid, net, mount, ipc, uts, cgroup per worker; "
                       "uid 1000 inside mapped to a per-worker unprivileged host uid (checked at start-up); "
                       "all owned by root, not by that uid"),
            Capability("filesystem", True, "pivot_root into a private tmpfs root; read-only nosuid "
                       f"{', '.join(self.cfg.sandbox.readonly_paths)} as {shared}; private tmpfs /work, /tmp, /dev/shm "
                       "(never opened by the daemon); /proc of the run's pid namespace only; /dev holds null, "
                       "zero, full, random, urandom; the host's /sys is not mounted"),
            Capability("network", True, "empty network namespace: no interfaces, loopback down; " + (
                "one worker's at a time, reused by a later worker only once every process of the last has "
                "exited and the kernel counts no socket in it" if self.reuses_networks else
                "a new one per worker (no CAP_SYS_ADMIN to reuse them)")),
            Capability("cgroups", True, f"cgroup v{cg}: memory (+swap), pids, cpu accounting, "
                       f"{'cgroup.kill' if cg == 2 else 'freezer'} per worker, under {self.hierarchy.where}"),
            Capability("rlimits", True, "CPU seconds, file size, open files, processes, core 0"),
            Capability("privileges", True, "all capabilities dropped (effective, permitted, inheritable, bounding, "
                       "ambient), securebits locked, no_new_privs, no setuid binary can run; the worker's pid 1 "
                       "is non-dumpable"),
            self._landlock_capability(),
            self._seccomp_capability(),
            Capability("environment", True, "fixed minimal environment, only the run's own pipes (stdio, and "
                       "fd 5 for its exit code), umask 077"),
        ]

    def _landlock_capability(self) -> Capability:
        ll = self.landlock_abi
        if self.cfg.sandbox.landlock == "off":
            return Capability("landlock", False, f"disabled by config (sandbox.landlock = \"off\"; kernel ABI {ll})")
        if ll == 0:
            return Capability("landlock", False, f"{self.landlock_missing} (kernel {platform.release()})")
        net = "TCP bind and connect denied" if ll >= 4 else "TCP not restricted (needs ABI 4, Linux 6.7)"
        scoped = ("signals and abstract unix sockets scoped to the run" if ll >= 6 else
                  "no signal/abstract-socket scoping (needs ABI 6, Linux 6.12)")
        return Capability("landlock", True, f"ABI {ll}: read-only {', '.join(self.cfg.sandbox.readonly_paths)}, "
                          "execute only the interpreters and their libraries, read-write /work, /tmp, /dev/shm; "
                          f"{net}; {scoped}")

    def _seccomp_capability(self) -> Capability:
        if not self.cfg.sandbox.seccomp:
            return Capability("seccomp", False, "disabled by config (sandbox.seccomp = false)")
        missing = self._seccomp_missing()
        if missing:
            return Capability("seccomp", False, missing)
        sizes = ", ".join(f"{p} {seccomp_policy.allowed_count(p)}" for p in seccomp_policy.ALLOW)
        kills = seccomp_policy.kill_count()
        return Capability("seccomp", True,
                          f"allowlist per runtime ({sizes} system calls; anything else ENOSYS), "
                          "argument checks on clone, socket (AF_UNIX only), ioctl (no TIOCSTI/TIOCLINUX), "
                          f"fcntl, prctl, personality; probes get EPERM; {kills} attack-only calls and "
                          "every call of a foreign ABI kill the run as security_violation, naming the call")

    def release(self) -> None:
        self.hierarchy.remove_parents()

    def cleanup_leftovers(self) -> int:
        leftovers = self.hierarchy.leftovers()
        for cg in leftovers:
            cg.kill_and_remove()
        return len(leftovers)

    def _blueprint(self, language: str, worker_id: str, seq: int, cg: cgroups.RunCgroup) -> Blueprint:
        sb = self.cfg.sandbox
        mx = self.cfg.max_limits
        host_id = sb.uid_base + seq % sb.uid_count
        fsize = int(mx.max_file_size_mb * MIB)
        cpu = int(mx.cpu_s) + 30
        tasks = mx.max_processes + 16
        return Blueprint(
            worker_id=worker_id, argv=self._argv[language], env=WORKER_ENV,
            cgroup_procs=cg.procs_files, host_uid=host_id, host_gid=host_id,
            readonly_paths=list(sb.readonly_paths), exec_paths=self._exec_paths,
            readonly_overlay=self.readonly_overlay,
            workdir_size_mb=sb.workdir_size_mb, tmp_size_mb=sb.tmp_size_mb,
            rlimits={"RLIMIT_CORE": [0, 0], "RLIMIT_NOFILE": [1024, 1024],
                     "RLIMIT_FSIZE": [fsize, fsize], "RLIMIT_CPU": [cpu, cpu],
                     "RLIMIT_NPROC": [tasks, tasks]},
            landlock_abi=self.landlock_abi if sb.landlock != "off" else 0,
            seccomp=self._seccomp_profile(language) if sb.seccomp else "",
            mode=self.cfg.languages[language].mode,
            python_path=self._python_path.get(language, []),
        )

    async def build_worker(self, language: str) -> Worker:
        """One warm worker, or a BuildError naming the worker, the step that failed and why
        (an OSError keeps its errno and path): whatever goes wrong, the pool must hear a
        BuildError to report it and retry, and nothing of the half-built worker is left."""
        started = time.monotonic()
        seq = next(self.counter)
        worker_id = f"{self.prefix}-{seq}"
        defaults = self.cfg.limits
        memory, tasks = int(defaults.memory_mb * MIB), defaults.max_processes + 1
        try:
            cg = self.hierarchy.create(worker_id, memory, tasks)
        except OSError as exc:
            raise BuildError(f"{language} worker {worker_id}: creating its cgroup failed: {exc}") from exc
        containment = LinuxContainment(cg, None)
        containment.limits = (memory, tasks)
        status: StatusChannel | None = None
        fds: list[int] = []
        step = "handing the blueprint to the fork server"
        try:
            fds = await self._fork_server(seq).spawn(self._blueprint(language, worker_id, seq, cg))
            containment.pidfd = fds[6]
            status = StatusChannel(fds[4], fds[5])
            for fd in fds[:4]:
                os.set_blocking(fd, False)
            step = "setting up the sandbox"
            first = await status.next(BUILD_TIMEOUT_S)
            if not first or "pid" not in first:
                raise BuildError(str((first or {}).get("error", "worker exited during set-up")))
            step = "starting its runner"
            ready = await status.next(BUILD_TIMEOUT_S)
            if not ready or not ready.get("ready"):
                raise BuildError(str((ready or {}).get("error", "worker exited before it was ready")))
            if self._spawns(language):
                step = "finding its runner"
                containment.runner = find_runner(cg, int(first["pid"]))  # type: ignore[arg-type]
            step = "reading its cgroup's baseline usage"
            cg.reset_peak()  # the run's peak starts from the ready worker, not its build
            baseline = containment.sample()
            cg.keep_run_files_open()
        except BaseException as exc:
            for fd in fds[:4]:
                close_quietly(fd)
            if status is not None:
                status.close()
            else:
                for fd in fds[4:6]:  # fds[6], the pidfd, is the containment's
                    close_quietly(fd)
            try:
                await asyncio.get_running_loop().run_in_executor(None, containment.destroy)
            except OSError as cleanup:
                log.error("event=teardown_failed worker=%s error=%r", worker_id, str(cleanup))
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, TimeoutError):
                detail = f"no answer within {BUILD_TIMEOUT_S:g} s"
            elif isinstance(exc, BuildError | ZygoteError | OSError):
                detail = str(exc)
            else:
                detail = f"{type(exc).__name__}: {exc}"
            raise BuildError(f"{language} worker {worker_id}: {step} failed: {detail}") from exc
        return Worker(worker_id, language, fds[0], fds[1], fds[2], fds[3], status, containment,
                      build_ms=(time.monotonic() - started) * 1000, baseline=baseline)

    def _fork_server(self, seq: int) -> ZygoteClient:
        """The server whose turn it is. One that has exited (killed, crashed) is replaced first:
        losing it costs the builds it had in hand, not every fourth build from then on."""
        turn = seq % len(self.zygotes)
        server = self.zygotes[turn]
        if server.process.poll() is not None:
            log.error("event=fork_server_replaced pid=%d exit_status=%d", server.process.pid, server.process.returncode)
            server.close()
            server = self.zygotes[turn] = ZygoteClient(self._programs)
        return server

    def close(self) -> None:
        for zygote in self.zygotes:
            zygote.close()
