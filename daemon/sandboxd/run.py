"""Drives one run on one worker: hand-over, live output, limits, then the truthful result.

Events go out through `emit` as they happen (output batched by size or a few milliseconds,
since each gRPC message costs ~0.1 ms), unless nobody listens (emit None: the result alone
is wanted); the result is produced as soon as the program has ended, and the worker's
teardown happens afterwards, off the response path.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import os
import signal
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .outcome import Observation, classify, violation_error
from .pipes import Drain, write_all, write_some
from .result import RunResult, RunSpec, Usage
from .worker import Worker

FLUSH_BYTES = 64 * 1024
FLUSH_S = 0.004
SAMPLE_FIRST_S = 0.005
SAMPLE_MAX_S = 0.1
EOF_GRACE_S = 2.0
INIT_TASKS = 1  # the worker's own pid 1, which is not the user's


RUNNER_LIMITS = struct.Struct(">dQ")  # the run's rlimits, ahead of its request: runners/init.py
Emit = Callable[[str, bytes], Awaitable[None]]
OnStarted = Callable[[str, bool], Awaitable[None]]


def encode_request(spec: RunSpec, base_env: dict[str, str]) -> bytes:
    env = {**base_env, **spec.env}
    names = sorted(spec.files)
    header = {
        "filename": spec.filename, "args": spec.args, "env": env,
        "files": [[name, len(spec.files[name])] for name in names],
        "code_size": len(spec.code),
    }
    body = json.dumps(header).encode()
    limits = RUNNER_LIMITS.pack(spec.limits.cpu_s, spec.limits.max_file_size_bytes)
    return b"".join([limits, len(body).to_bytes(4, "big"), body, spec.code, *(spec.files[n] for n in names)])


@dataclass
class _Stream:
    name: str
    cap_left: Callable[[], int]
    kept: bytearray = field(default_factory=bytearray)
    total: int = 0
    truncated: bool = False
    pending: bytearray = field(default_factory=bytearray)


class RunDriver:
    def __init__(self, run_id: str, worker: Worker, spec: RunSpec, emit: Emit | None,
                 base_env: dict[str, str]) -> None:
        self.run_id = run_id
        self.worker = worker
        self.spec = spec
        self.emit = emit
        self.base_env = base_env
        self.kill_reason: str | None = None
        self.finished = asyncio.Event()
        self.flush_needed = asyncio.Event()
        limit = spec.limits.max_output_bytes
        self.out = _Stream("stdout", lambda: limit - len(self.out.kept) - len(self.err.kept))
        self.err = _Stream("stderr", lambda: limit - len(self.out.kept) - len(self.err.kept))
        self.samples: list[tuple[float, int]] = []
        self.max_tasks = 0
        self.cpu_base = (0, 0)
        self.started_at: float | None = None  # when the request went to the worker: hand-over ends
        self.start_peak: int | None = None

    def cancel(self, reason: str = "killed") -> None:
        self._kill(reason)

    def _kill(self, reason: str) -> None:
        if self.kill_reason is None and not self.finished.is_set():
            self.kill_reason = reason
            self.worker.containment.kill()

    def _on_output(self, stream: _Stream, data: bytes) -> None:
        stream.total += len(data)
        room = stream.cap_left()
        if len(data) > room:
            data = data[:max(room, 0)]
            stream.truncated = True
        stream.kept += data
        if stream.truncated:
            self._kill("output_limit")
        if self.emit is not None:
            stream.pending += data
            self.flush_needed.set()

    async def _flusher(self) -> None:
        while True:
            await self.flush_needed.wait()
            await asyncio.sleep(FLUSH_S)
            self.flush_needed.clear()
            await self._flush()

    async def _flush(self) -> None:
        if self.emit is None:
            return
        for stream in (self.out, self.err):
            if stream.pending:
                data = bytes(stream.pending)
                stream.pending.clear()
                await self.emit(stream.name, data)

    async def _sampler(self) -> None:
        interval = SAMPLE_FIRST_S
        cpu_limit_ns = self.spec.limits.cpu_s * 1e9
        while True:
            await asyncio.sleep(interval)
            interval = min(interval * 2, SAMPLE_MAX_S)
            self._take_sample()
            used = self._cpu_ns()
            if used >= cpu_limit_ns:
                self._kill("cpu_limit")

    def _cpu_ns(self) -> int:
        s = self.last
        return s.cpu_user_ns + s.cpu_system_ns - self.cpu_base[0] - self.cpu_base[1]

    def _take_sample(self) -> None:
        self.last = self.worker.containment.sample()
        self.samples.append((time.monotonic(), self.last.memory_bytes))
        self.max_tasks = max(self.max_tasks, self.last.processes - INIT_TASKS)

    async def run(self) -> RunResult:
        spec, worker = self.spec, self.worker
        result = RunResult(id=self.run_id, status="error")
        c = worker.containment
        try:
            c.apply_limits(spec.limits.memory_bytes, spec.limits.max_processes + INIT_TASKS)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            # The kernel refuses a memory limit below what the warm interpreter already uses.
            used = c.sample().memory_bytes
            result.status = "memory_limit"
            result.error = (f"--memory-limit {spec.limits.memory_bytes >> 20} MB is below the "
                            f"{used >> 20} MB the {spec.language} runtime itself needs")
            return result
        c.limit_runner(spec.limits.cpu_s, spec.limits.max_file_size_bytes)
        self.last = worker.baseline
        self.cpu_base = (self.last.cpu_user_ns, self.last.cpu_system_ns)
        self.start_peak = c.peak_processes()
        started = self.started_at = time.monotonic()
        self.samples.append((started, self.last.memory_bytes))
        # The request goes first: the runner wakes and reads it while the readers of its
        # output are set up (its output waits in the pipes meanwhile).
        feeders = self._feed("ctl_fd", encode_request(spec, self.base_env)) + self._feed("stdin_fd", spec.stdin)
        out = Drain(worker.stdout_fd, lambda d: self._on_output(self.out, d))
        err = Drain(worker.stderr_fd, lambda d: self._on_output(self.err, d))
        tasks = [asyncio.create_task(self._sampler())]
        if self.emit is not None:
            tasks.append(asyncio.create_task(self._flusher()))
        timer = asyncio.get_running_loop().call_later(spec.limits.timeout_s, self._kill, "timeout")
        try:
            try:
                message = await worker.status.next(spec.limits.timeout_s + EOF_GRACE_S)
            except TimeoutError:
                self._kill("timeout")
                message = await worker.status.next(EOF_GRACE_S)
            ended = time.monotonic()
            self.finished.set()
            if message and message.get("runner"):
                # The runner wrote all its output before its exit code; nothing written later
                # belongs to the run, whose teardown follows the response.
                out.read_available()
                err.read_available()
            if not (out.done.done() and err.done.done()):  # gathering done ones costs loop turns
                try:
                    await asyncio.wait_for(asyncio.gather(out.done, err.done), EOF_GRACE_S)
                except TimeoutError:
                    c.kill()
                    await asyncio.wait_for(asyncio.gather(out.done, err.done), EOF_GRACE_S)
        finally:
            timer.cancel()
            for t in tasks + feeders:
                t.cancel()
            out.stop()
            err.stop()
        await self._flush()
        self._take_sample()
        message = message or {}
        exit_code = message.get("exit_code")
        sig = message.get("signal")
        violation = message.get("violation")
        if self.kill_reason and sig is None and exit_code is None:
            sig = signal.SIGKILL
        cpu_ns = self._cpu_ns()
        obs = Observation(self.kill_reason, exit_code if isinstance(exit_code, int) else None,
                          sig if isinstance(sig, int) else None, c.oom_kills(), c.pids_limit_hits(),
                          cpu_ns / 1e9, spec.limits.cpu_s, violation=isinstance(violation, dict))
        result.status = classify(obs)
        if result.status == "error":
            result.error = str(message.get("error") or "the worker died before reporting an exit status")
        elif isinstance(violation, dict):
            result.error = violation_error(violation)
        result.exit_code = obs.exit_code
        result.signal = obs.signal
        result.stdout, result.stderr = bytes(self.out.kept), bytes(self.err.kept)
        result.stdout_truncated, result.stderr_truncated = self.out.truncated, self.err.truncated
        result.usage = Usage(
            wall_ms=(ended - started) * 1000,
            cpu_user_ms=(self.last.cpu_user_ns - self.cpu_base[0]) / 1e6,
            cpu_system_ms=(self.last.cpu_system_ns - self.cpu_base[1]) / 1e6,
            peak_memory_bytes=c.peak_memory(),
            avg_memory_bytes=self._average_memory(),
            max_processes=self._max_processes(),
            stdout_bytes=self.out.total, stderr_bytes=self.err.total,
        )
        return result

    def _max_processes(self) -> int:
        """The run's most tasks at once (threads count, as in the pids limit), without pid 1.

        Samples miss a thread that lives a few milliseconds, so the kernel's pids.peak is used
        where it describes the run: when the run raised it, or when building the worker never
        had more tasks than the idle worker the run started from.
        """
        best = self.max_tasks
        peak = self.worker.containment.peak_processes()
        if peak is not None and self.start_peak is not None and (
                peak > self.start_peak or self.start_peak <= self.worker.baseline.processes):
            best = max(best, peak - INIT_TASKS)
        return max(best, 1)

    def _average_memory(self) -> int:
        pts = self.samples
        if len(pts) < 2:
            return pts[0][1] if pts else 0
        area = sum((t2 - t1) * (m1 + m2) / 2 for (t1, m1), (t2, m2) in itertools.pairwise(pts))
        span = pts[-1][0] - pts[0][0]
        return int(area / span) if span > 0 else pts[-1][1]

    def _feed(self, fd_name: str, data: bytes) -> list[asyncio.Task[None]]:
        """Writes and closes one of the worker's input pipes (the fd is ours to close once).
        What the pipe takes at once is written here, before the run's first await: the worker
        wakes a loop iteration earlier. Only a rest that does not fit needs a task."""
        fd = getattr(self.worker, fd_name)
        setattr(self.worker, fd_name, -1)
        rest = write_some(fd, data)
        if not rest:
            os.close(fd)
            return []
        return [asyncio.create_task(self._feed_rest(fd, rest))]

    @staticmethod
    async def _feed_rest(fd: int, rest: memoryview) -> None:
        try:
            await write_all(fd, rest)
        finally:
            os.close(fd)
