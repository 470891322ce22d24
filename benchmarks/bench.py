"""sandboxd benchmark: one run on this machine, every number side by side.

    .venv/bin/python benchmarks/bench.py [--quick] [--markdown FILE] [--json FILE]

Starts its own daemons (warm pools, and pools disabled for the cold comparison) on temporary
sockets with their own cgroup parents, and measures:

- hello world in Python and JavaScript through the client library and through the
  `sandboxctl` CLI: p50/p90/p99, warm pool vs pool disabled (cold);
- the same programs under bubblewrap with an equivalent isolation set (its namespaces, the
  worker's own seccomp filter, a cgroup per run with the worker's limits), bwrap with its
  namespaces alone, and bare interpreters (clean environment), with the ratios
  sandboxd/bwrap and sandboxd/bare;
- sustained throughput of trivial Python runs with 8 concurrent clients, and the pool's build
  rate when refilling from empty;
- the memory of one idle warm worker per language (RSS, PSS, USS via psutil; the cgroup charge);
- a CPU-bound program sandboxed vs bare.

Warm latencies are paced: each request is sent once the pool is full again, so they measure
the hand-over itself rather than a run racing its own replacement's build (the throughput
test measures the other case). Nothing here is asserted: tests never time things.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import psutil
from sandboxctl import Client
from sandboxd.backend.linux import FORK_SERVERS
from sandboxd.config import Config
from sandboxd.pool import percentile

BIN = Path(sys.executable).parent
SANDBOXD = str(BIN / "sandboxd")
SANDBOXCTL = str(BIN / "sandboxctl")
PYTHON = "/usr/bin/python3"
NODE = "/usr/bin/node"
BWRAP = "/usr/bin/bwrap"
CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")

HELLO = {"python": "print('hello')\n", "javascript": "console.log('hello')\n"}
EXT = {"python": ".py", "javascript": ".js"}
# About a second of pure computation in each language: the sandbox should cost nothing here.
CPU_BOUND = {
    "python": "t = 0\nfor i in range({n}):\n    t += i * i % 7\nprint(t)\n",
    "javascript": "let t = 0;\nfor (let i = 0; i < {n}; i++) t += i * i % 7;\nconsole.log(t);\n",
}
CPU_N = {"python": 7_000_000, "javascript": 30_000_000}
CLIENTS = 8


@dataclass
class Settings:
    quick: bool
    lib_runs: int
    cold_runs: int
    cli_runs: int
    proc_runs: int
    throughput_s: float
    cpu_daemons: int
    build_pool: int
    cpu_scale: float

    @classmethod
    def make(cls, quick: bool) -> Settings:
        if quick:
            return cls(True, 8, 4, 2, 4, 1.0, 1, 4, 0.02)
        return cls(False, 300, 60, 30, 60, 10.0, 6, 16, 1.0)


@dataclass
class Row:
    """One latency row: a name, its samples in ms, and what it is compared with."""

    name: str
    samples: list[float]
    note: str = ""

    def q(self, p: float) -> float:
        return percentile(sorted(self.samples), p)


@dataclass
class Report:
    host: str
    latency: list[Row] = field(default_factory=list)
    ratios: list[tuple[str, float, float, float, float]] = field(default_factory=list)
    facts: list[tuple[str, str, str]] = field(default_factory=list)  # (what, value, detail)

    def fact(self, what: str, value: str, detail: str = "") -> None:
        self.facts.append((what, value, detail))
        print(f"  {what}: {value}" + (f"  ({detail})" if detail else ""), flush=True)


# --- daemons ---------------------------------------------------------------------------------

def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


class Daemon:
    """A sandboxd of the bench's own: temporary socket, its own cgroup parent, debug log."""

    def __init__(self, name: str, python_pool: int, js_pool: int, log_level: str = "warning",
                 max_building: int = Config.max_building) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"sbx-bench-{name}-", dir="/tmp"))
        self.socket = str(self.dir / "sandboxd.sock")
        self.max_building = max_building
        self.cgroup_name = f"sandboxd-bench-{name}-{secrets.token_hex(3)}"
        config = "\n".join([
            'socket_mode = "0600"',
            f"max_building = {max_building}",
            "[sandbox]",
            f"cgroup_name = {_toml(self.cgroup_name)}",
            "[languages.python]",
            f"interpreter = {_toml(PYTHON)}", 'extensions = [".py"]', 'mode = "fork"',
            f"pool_size = {python_pool}",
            "[languages.javascript]",
            f"interpreter = {_toml(NODE)}", 'extensions = [".js", ".mjs", ".cjs"]',
            'runner = "node_runner.js"', 'command = ["{interpreter}", "-e", "{runner}"]',
            "memory_floor_mb = 64", f"pool_size = {js_pool}", "",
        ])
        (self.dir / "sandboxd.toml").write_text(config)
        self.log = open(self.dir / "daemon.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {k: v for k, v in os.environ.items() if k not in ("SANDBOXD_SOCKET", "NOTIFY_SOCKET")}
        self.process = subprocess.Popen(
            [SANDBOXD, "--socket", self.socket, "--config", str(self.dir / "sandboxd.toml"), "--foreground",
             "--log-level", log_level], stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.client = Client(self.socket)

    def wait_full(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sandboxd exited: {self.log_text()[-2000:]}")
            if os.path.exists(self.socket):
                try:
                    if self.full():
                        return
                except Exception:
                    pass
            time.sleep(0.002)
        raise RuntimeError("the pools did not fill in time")

    def log_text(self) -> str:
        return (self.dir / "daemon.log").read_text(errors="replace")

    def full(self, language: str | None = None) -> bool:
        pools = [p for p in self.client.status().pools if language is None or p.language == language]
        return all(p.ready >= p.target and p.building == 0 for p in pools)

    def pool(self, language: str):
        return next(p for p in self.client.status().pools if p.language == language)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        for c in V1_CONTROLLERS:
            for parent in (f"{CGROUP_ROOT}/{c}/{self.cgroup_name}", f"{CGROUP_ROOT}/{self.cgroup_name}"):
                if os.path.isdir(parent):
                    try:
                        os.rmdir(parent)
                    except OSError:
                        pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def worker_processes(self) -> dict[str, list[int]]:
        """Host pids of every worker's processes, by worker cgroup."""
        parent = f"{CGROUP_ROOT}/pids/{self.cgroup_name}"
        if not os.path.isdir(parent):
            parent = f"{CGROUP_ROOT}/{self.cgroup_name}"
        out = {}
        for d in sorted(os.listdir(parent)):
            procs = f"{parent}/{d}/cgroup.procs"
            if os.path.isfile(procs):
                with open(procs) as f:
                    out[f"{parent}/{d}"] = [int(p) for p in f.read().split()]
        return out


# --- measurements ----------------------------------------------------------------------------

def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def lib_latency(d: Daemon, language: str, runs: int, paced: bool) -> list[float]:
    code = HELLO[language]
    samples = []
    for i in range(runs + 3):
        if paced:
            while not d.full(language):
                time.sleep(0.001)
        t = time.perf_counter()
        r = d.client.execute(code, language=language)
        ms = (time.perf_counter() - t) * 1000
        if r.status != "ok" or r.stdout != "hello\n":
            raise RuntimeError(f"{language} hello world failed: {r}")
        if i >= 3:  # the first runs warm the client's channel
            samples.append(ms)
    return samples


def transport_floor(d: Daemon, runs: int) -> list[float]:
    """The same socket, relay, gRPC stack and client library as a run, with nothing to run."""
    for _ in range(3):
        d.client.cancel("0" * 16)
    return [timed(lambda: d.client.cancel("0" * 16)) for _ in range(runs)]


def cli_latency(d: Daemon, language: str, runs: int, paced: bool, workdir: Path) -> list[float]:
    src = workdir / f"hello{EXT[language]}"
    src.write_text(HELLO[language])
    samples = []
    for _ in range(runs):
        if paced:
            while not d.full(language):
                time.sleep(0.001)
        t = time.perf_counter()
        out = subprocess.run([SANDBOXCTL, "--socket", d.socket, "exec", str(src)], capture_output=True)
        samples.append((time.perf_counter() - t) * 1000)
        if out.returncode != 0 or out.stdout != b"hello\n":
            raise RuntimeError(f"sandboxctl exec {src}: {out}")
    return samples


def bare_argv(language: str, code: str) -> list[str]:
    return [PYTHON, "-I", "-S", "-c", code] if language == "python" else [NODE, "-e", code]


BARE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}


def bwrap_argv(language: str, code: str) -> list[str]:
    """An isolation set like a sandboxd worker's: every namespace, a new session, dies with its
    parent, read-only system paths, private /tmp, fresh /proc, minimal /dev, no capabilities."""
    argv = [BWRAP, "--unshare-all", "--new-session", "--die-with-parent", "--cap-drop", "ALL"]
    for path in ("/usr", "/bin", "/lib", "/lib64"):
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    argv += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp", "--clearenv"]
    for k, v in BARE_ENV.items():
        argv += ["--setenv", k, v]
    return [*argv, "--", *bare_argv(language, code)]


def process_latency(argv: list[str], runs: int) -> list[float]:
    samples = []
    for i in range(runs + 2):
        t = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, env=BARE_ENV)
        ms = (time.perf_counter() - t) * 1000
        if out.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {out.stderr.decode(errors='replace')[-500:]}")
        if i >= 2:
            samples.append(ms)
    return samples



def _own_cgroups() -> dict[str, str]:
    """This thread's cgroup per v1 controller ("" on v2: the unified path), to come back to."""
    own = {}
    for line in Path("/proc/thread-self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            own[c] = path
    return own


def _move_thread(cgroup_dirs: dict[str, str]) -> None:
    """Puts the calling thread (v1: its `tasks` file) or process (v2) into the given cgroups;
    a child it starts then begins there, as a sandbox launcher's child does."""
    for controller, path in cgroup_dirs.items():
        if controller:
            target, what = f"{path}/tasks", threading.get_native_id()
        else:
            target, what = f"{path}/cgroup.procs", os.getpid()
        with open(target, "w") as f:
            f.write(str(what))


def bwrap_isolated_latency(language: str, code: str, runs: int) -> list[float]:
    """bwrap with the rest of a worker's isolation set: the worker's own compiled seccomp
    filter (--seccomp) and a fresh cgroup per run with the worker's default memory and
    process limits, made before the run and joined by bwrap. Timed from making the cgroup to
    the program's exit; the calling thread's way back out of the cgroup and removing the
    cgroup afterwards are not (sandboxd removes its worker's cgroup off the response path
    too). Measured here: making the cgroup 0.19 ms, the thread's move in and out 0.20 ms.
    Landlock has no bwrap option, and rlimits (microseconds of setrlimit) are left out: both
    would only make bwrap slower."""
    from sandboxd.config import Limits
    from sandboxd.linux import cgroups, seccomp_policy

    profile = seccomp_policy.NODE if language == "javascript" else seccomp_policy.PYTHON
    program = seccomp_policy.program(profile)
    limits = Limits()
    hierarchy = cgroups.Hierarchy(f"sandboxd-bench-bwrap-{secrets.token_hex(3)}")
    own = _own_cgroups()
    argv = bwrap_argv(language, code)
    cut = argv.index("--")
    samples = []
    try:
        for i in range(runs + 2):
            t = time.perf_counter()
            cg = hierarchy.create(f"run{i}", int(limits.memory_mb) << 20, limits.max_processes + 1)
            dirs = cg.paths if isinstance(cg, cgroups.V1Cgroup) else {"": cg.path}  # type: ignore[attr-defined]
            r, w = os.pipe()
            os.write(w, program)
            os.close(w)
            _move_thread(dirs)
            try:
                p = subprocess.Popen([*argv[:cut], "--seccomp", str(r), *argv[cut:]], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=BARE_ENV, pass_fds=(r,))
                os.close(r)
                out, err = p.communicate()
                ms = (time.perf_counter() - t) * 1000
            finally:  # a launcher's own thread would not be in the run's cgroup: not timed
                _move_thread({c: f"{CGROUP_ROOT}/{c}{own[c]}" if c else f"{CGROUP_ROOT}{own['']}" for c in dirs})
            if p.returncode != 0 or out != b"hello\n":
                raise RuntimeError(f"bwrap with seccomp and a cgroup failed ({p.returncode}): "
                                   f"{err.decode(errors='replace')[-500:]}")
            if not cg.kill_and_remove():
                raise RuntimeError(f"could not remove the bench's bwrap cgroup run{i}")
            if i >= 2:
                samples.append(ms)
    finally:
        parents = hierarchy.parents.values() if hierarchy.version == 1 else [hierarchy.parent]
        for parent in parents:
            os.rmdir(parent)
    return samples

def _throughput_client(socket: str, seconds: float, barrier, results) -> None:
    """One of the concurrent clients (its own process): trivial runs until the time is up."""
    with Client(socket) as c:
        c.execute("pass")
        barrier.wait()
        done = warm = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            r = c.execute("pass")
            if r.status == "ok":
                done += 1
                warm += r.warm_start
        results.put((done, warm))


def throughput(d: Daemon, seconds: float) -> tuple[float, float]:
    ctx = multiprocessing.get_context("spawn")  # the bench holds grpc: never fork it
    barrier = ctx.Barrier(CLIENTS + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=_throughput_client, args=(d.socket, seconds, barrier, results))
             for _ in range(CLIENTS)]
    for p in procs:
        p.start()
    barrier.wait()
    t = time.monotonic()
    counts = [results.get(timeout=seconds + 120) for _ in procs]
    elapsed = time.monotonic() - t
    for p in procs:
        p.join()
    done = sum(c[0] for c in counts)
    warm = sum(c[1] for c in counts)
    return done / elapsed, (warm / done if done else 0.0)


def build_rate(language: str, workers: int) -> tuple[float, float]:
    """Workers per second while a pool of `workers` fills from empty at start-up (from the
    daemon's own log: pools start filling at `event=listening`, `event=ready` once full), and
    the mean build time the daemon reports."""
    d = Daemon(f"build-{language[:2]}", workers if language == "python" else 0,
               workers if language == "javascript" else 0, log_level="info")
    try:
        d.wait_full()
        deadline = time.monotonic() + 60
        while "event=ready" not in d.log_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        stamps = {}
        for line in d.log_text().splitlines():
            for event in ("listening", "ready"):
                if f"event={event}" in line:
                    stamps[event] = datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
        elapsed = stamps["ready"] - stamps["listening"]
        return workers / elapsed if elapsed > 0 else float("inf"), d.pool(language).mean_build_ms
    finally:
        d.stop()


def minor_faults(pid: int) -> int:
    """Page faults the process has taken (field 10 of /proc/<pid>/stat): in a worker forked from
    the fork server, mostly copy-on-write of the pages it shares with it."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[7])


def idle_memory(d: Daemon) -> dict[str, dict[str, float]]:
    """Per language, the mean over its idle workers of RSS/PSS/USS (MB), the cgroup charge
    and the page faults its processes took while it was built."""
    by_lang: dict[str, list[dict[str, float]]] = {"python": [], "javascript": []}
    for cgroup, pids in d.worker_processes().items():
        infos = []
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                infos.append((proc.exe(), proc.memory_full_info(), minor_faults(pid)))
            except (psutil.Error, FileNotFoundError, ProcessLookupError):
                continue
        if not infos:
            continue
        language = "javascript" if any(os.path.basename(exe).startswith("node") for exe, _, _ in infos) else "python"
        runner = max(infos, key=lambda i: i[1].rss)[1]
        name = os.path.basename(cgroup)
        charge = f"{CGROUP_ROOT}/memory/{d.cgroup_name}/{name}/memory.usage_in_bytes"
        if not os.path.exists(charge):
            charge = f"{CGROUP_ROOT}/{d.cgroup_name}/{name}/memory.current"
        try:
            with open(charge) as f:
                cg = int(f.read())
        except FileNotFoundError:
            continue  # a used worker whose teardown finished meanwhile: not an idle one
        mb = 1 << 20
        by_lang[language].append({
            "processes": len(infos),
            "runner_rss": runner.rss / mb,
            "rss_sum": sum(i.rss for _, i, _ in infos) / mb,
            "pss_sum": sum(i.pss for _, i, _ in infos) / mb,
            "uss_sum": sum(i.uss for _, i, _ in infos) / mb,
            "cgroup": cg / mb,
            "faults": sum(f for _, _, f in infos),
        })
    return {lang: {k: statistics.mean(w[k] for w in ws) for k in ws[0]} for lang, ws in by_lang.items() if ws}


def cpu_overhead(language: str, daemons: int, scale: float) -> dict[str, float]:
    """Median wall and CPU ms of a CPU-bound program bare and in sandboxd (client library),
    interleaved. CPU time is the fairer ratio on a shared host: it does not count the time
    other processes held the cores.

    Each sandboxed run comes from its own fork server, FORK_SERVERS of them in each of
    `daemons` fresh daemons, because a fork-mode worker inherits its server's str hash seed
    and address layout, which a bare interpreter draws anew per process. The seed alone moves
    this loop by up to a fifth (its globals' dict probes collide or not); the runs of one
    daemon would sample only its servers' few draws against the bare runs' many."""
    code = CPU_BOUND[language].format(n=int(CPU_N[language] * scale))
    bare_wall, bare_cpu, boxed_wall, boxed_cpu = [], [], [], []
    for _ in range(daemons):
        pools = (FORK_SERVERS, 0) if language == "python" else (0, FORK_SERVERS)
        d = Daemon(f"cpu-{language}", *pools)
        try:
            d.wait_full()
            # The pool hands out its oldest worker first: these runs take the workers built at
            # start-up, one per server, before any refill.
            for _ in range(FORK_SERVERS):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                bare_wall.append(timed(lambda: subprocess.run(bare_argv(language, code), capture_output=True,
                                                              env=BARE_ENV, check=True)))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                bare_cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
                while not d.full(language):
                    time.sleep(0.001)
                t = time.perf_counter()
                r = d.client.execute(code, language=language, timeout_s=120, cpu_limit_s=120)
                boxed_wall.append((time.perf_counter() - t) * 1000)
                if r.status != "ok":
                    raise RuntimeError(f"CPU-bound {language} run failed: {r}")
                boxed_cpu.append(r.usage.cpu_user_ms + r.usage.cpu_system_ms)
        finally:
            d.stop()
    m = statistics.median
    return {"bare_wall": m(bare_wall), "boxed_wall": m(boxed_wall), "bare_cpu": m(bare_cpu),
            "boxed_cpu": m(boxed_cpu), "runs": len(boxed_cpu)}


# --- output ----------------------------------------------------------------------------------

def latency_table(rows: list[Row]) -> list[list[str]]:
    out = [["", "p50 ms", "p90 ms", "p99 ms", "n", "note"]]
    for r in rows:
        out.append([r.name, f"{r.q(50):.2f}", f"{r.q(90):.2f}", f"{r.q(99):.2f}", str(len(r.samples)), r.note])
    return out


def render_text(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        cells = [c.ljust(w) if i in (0, len(row) - 1) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |",
             "|" + "|".join("---" if i in (0, len(table[0]) - 1) else "---:" for i in range(len(table[0]))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return "\n".join(lines)


def tables(report: Report) -> list[tuple[str, list[list[str]]]]:
    ratio = [["hello world, p50", "sandboxd warm ms", "bwrap ms", "bwrap, namespaces only ms", "bare ms",
              "sandboxd/bwrap", "sandboxd/bwrap namespaces only", "sandboxd/bare"]]
    for name, ours, bw, bw_ns, bare in report.ratios:
        ratio.append([name, f"{ours:.2f}", f"{bw:.2f}", f"{bw_ns:.2f}", f"{bare:.2f}",
                      *(f"{ours / base:.3f} ({base / ours:.1f}x faster)" for base in (bw, bw_ns, bare))])
    facts = [["measure", "value", "detail"]] + [list(f) for f in report.facts]
    return [("Latency", latency_table(report.latency)), ("Against bubblewrap and bare interpreters", ratio),
            ("Throughput, build rate, memory, CPU", facts)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few iterations of everything (smoke test)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    ap.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    args = ap.parse_args(argv)
    s = Settings.make(args.quick)
    for tool in (SANDBOXD, SANDBOXCTL, PYTHON, NODE, BWRAP):
        if not os.access(tool, os.X_OK):
            print(f"bench: {tool} is missing", file=sys.stderr)
            return 2
    cpu = platform.processor() or platform.machine()
    report = Report(f"{platform.node()}: Linux {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
                    f"load {os.getloadavg()[0]:.2f} at start" + (", QUICK MODE" if s.quick else ""))
    print(report.host, flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="sbx-bench-src-"))
    warm = Daemon("warm", 4, 2)
    cold = Daemon("cold", 0, 0)
    try:
        warm.wait_full()
        cold.wait_full()
        print("latency (warm requests are paced: sent once the pool is full again)", flush=True)
        floor = Row("empty gRPC call through the daemon's socket", transport_floor(warm, s.lib_runs),
                    "Cancel of an unknown run: the transport under every run")
        report.latency.append(floor)
        print(f"  {floor.name}: p50 {floor.q(50):.2f} ms", flush=True)
        hello: dict[tuple[str, str], Row] = {}
        for language in ("python", "javascript"):
            for label, d, paced, runs in (("warm", warm, True, s.lib_runs), ("cold", cold, False, s.cold_runs)):
                row = Row(f"{language} client library, {label}", lib_latency(d, language, runs, paced))
                hello[(language, label)] = row
                report.latency.append(row)
                print(f"  {row.name}: p50 {row.q(50):.2f} ms", flush=True)
            for label, d, paced in (("warm", warm, True), ("cold", cold, False)):
                row = Row(f"{language} sandboxctl CLI, {label}", cli_latency(d, language, s.cli_runs, paced, scratch),
                          "includes starting the CLI's interpreter")
                report.latency.append(row)
                print(f"  {row.name}: p50 {row.q(50):.2f} ms", flush=True)
            bw = Row(f"{language} bwrap + interpreter", bwrap_isolated_latency(language, HELLO[language], s.proc_runs),
                     "namespaces, the worker's seccomp filter, a cgroup per run with its limits")
            bw_ns = Row(f"{language} bwrap + interpreter, namespaces only",
                        process_latency(bwrap_argv(language, HELLO[language]), s.proc_runs))
            bare = Row(f"{language} bare interpreter", process_latency(bare_argv(language, HELLO[language]),
                                                                        s.proc_runs),
                       "python3 -I -S" if language == "python" else "node, clean env")
            report.latency += [bw, bw_ns, bare]
            print(f"  {bw.name}: p50 {bw.q(50):.2f} ms; {bw_ns.name}: p50 {bw_ns.q(50):.2f} ms; "
                  f"{bare.name}: p50 {bare.q(50):.2f} ms", flush=True)
            report.ratios.append((language, hello[(language, "warm")].q(50), bw.q(50), bw_ns.q(50), bare.q(50)))
        for language in ("python", "javascript"):
            p = warm.pool(language)
            report.fact(f"{language} hand-over in the daemon (status)",
                        f"p50 {p.handover_p50_ms:.3f} / p90 {p.handover_p90_ms:.3f} / p99 {p.handover_p99_ms:.3f} ms",
                        "request admitted -> code in the worker's pipe")
        print("memory of idle warm workers", flush=True)
        warm.wait_full()
        for language, m in idle_memory(warm).items():
            report.fact(f"idle {language} worker memory",
                        f"RSS {m['runner_rss']:.1f} MB (interpreter), PSS {m['pss_sum']:.1f} MB",
                        f"{m['processes']:.0f} processes: RSS sum {m['rss_sum']:.1f} MB, "
                        f"USS sum {m['uss_sum']:.1f} MB, cgroup charge {m['cgroup']:.1f} MB, "
                        f"{m['faults']:.0f} page faults while built")
        print("CPU-bound overhead", flush=True)
        for language in ("python", "javascript"):
            c = cpu_overhead(language, s.cpu_daemons, s.cpu_scale)
            report.fact(f"CPU-bound {language}, sandboxed/bare",
                        f"CPU {c['boxed_cpu'] / c['bare_cpu']:.3f}, wall {c['boxed_wall'] / c['bare_wall']:.3f}",
                        f"median CPU {c['boxed_cpu']:.0f} vs {c['bare_cpu']:.0f} ms, "
                        f"wall {c['boxed_wall']:.0f} vs {c['bare_wall']:.0f} ms; {c['runs']:.0f} runs each, "
                        f"one per fork server of {s.cpu_daemons} fresh daemons")
        print(f"throughput ({CLIENTS} concurrent clients, {s.throughput_s:g} s)", flush=True)
        warm.wait_full()
        rate, warm_share = throughput(warm, s.throughput_s)
        report.fact(f"trivial Python runs/s, {CLIENTS} clients", f"{rate:.0f}",
                    f"{warm_share:.0%} of runs found a warm worker; pool 4, max_building {warm.max_building}")
    finally:
        warm.stop()
        cold.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    for language in ("python", "javascript"):
        per_s, mean_ms = build_rate(language, s.build_pool)
        report.fact(f"{language} pool build rate", f"{per_s:.1f} workers/s",
                    f"filling {s.build_pool} from empty; mean build {mean_ms:.1f} ms, {Config.max_building} at a time")
    report.host += f", load {os.getloadavg()[0]:.2f} at the end"
    print()
    print(report.host)
    text = []
    for title, table in tables(report):
        text.append(f"\n{title}\n" + render_text(table))
    print("\n".join(text))
    if args.markdown:
        md = [f"Measured by `benchmarks/bench.py` on {report.host}.", ""]
        for title, table in tables(report):
            md += [f"**{title}**", "", render_markdown(table), ""]
        Path(args.markdown).write_text("\n".join(md))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "host": report.host,
            "latency": {r.name: {"p50": r.q(50), "p90": r.q(90), "p99": r.q(99), "n": len(r.samples)}
                        for r in report.latency},
            "ratios": [{"language": n, "sandboxd_ms": o, "bwrap_ms": b, "bwrap_namespaces_only_ms": bn, "bare_ms": a}
                       for n, o, b, bn, a in report.ratios],
            "facts": [{"what": w, "value": v, "detail": d} for w, v, d in report.facts],
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
