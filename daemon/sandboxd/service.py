"""The daemon's core, free of gRPC: admission → pool → run → result, plus the counters.

The gRPC handlers in `server` translate messages to and from this; tests and the drain
logic talk to it directly.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .admission import RawRequest, Rejected, admit
from .backend import Backend, BuildError
from .config import Config
from .pool import Pool, PoolFull
from .result import Finding, RunResult
from .run import Emit, OnStarted, RunDriver
from .worker import Worker

log = logging.getLogger("sandboxd.service")

# A finished run's teardown waits for its response to go out (see Service.execute), but never
# longer than this, whatever the transport does.
TEARDOWN_DEFER_MAX_S = 1.0
AfterResponse = Callable[[Callable[[], None]], None]


@dataclass
class _Deferred:
    """A finished run's worker whose teardown waits for the response to go out."""

    pool: Pool
    worker: Worker
    timer: asyncio.TimerHandle
    then: list[Callable[[], None]] = field(default_factory=list)


def _log_finished(run_id: str, peer: Peer, language: str, code: bytes, result: RunResult) -> None:
    u = result.usage  # hashing a 1 MB program costs ~0.6 ms: done only when logged
    log.info("event=run_finished run_id=%s peer_uid=%d peer_pid=%d language=%s sha256=%s "
             "status=%s exit_code=%s signal=%s wall_ms=%.2f cpu_ms=%.2f peak_memory=%d warm=%s",
             run_id, peer.uid, peer.pid, language, hashlib.sha256(code).hexdigest(),
             result.status, result.exit_code, result.signal, u.wall_ms,
             u.cpu_user_ms + u.cpu_system_ms, u.peak_memory_bytes, result.warm_start)


class Unavailable(Exception):
    """The daemon is draining or its pools cannot build workers."""


class TooBusy(Exception):
    """A per-peer or per-pool bound was reached; the caller may retry later."""


@dataclass(frozen=True)
class Peer:
    uid: int
    gid: int
    pid: int


class Service:
    def __init__(self, cfg: Config, backend: Backend, base_env: dict[str, str]) -> None:
        self.cfg = cfg
        self.backend = backend
        self.base_env = base_env
        self.started = time.monotonic()
        self.build_slots = asyncio.Semaphore(cfg.max_building)
        self.pools = {name: self._make_pool(name) for name in cfg.languages}
        self.active: dict[str, RunDriver] = {}
        self.runs_by_uid: Counter[int] = Counter()
        self.status_counts: Counter[str] = Counter()
        self.runs_total = 0
        self.draining = False
        self._teardowns: set[asyncio.Task[None]] = set()
        self._deferred: dict[str, _Deferred] = {}

    def _make_pool(self, name: str) -> Pool:
        return Pool(name, self.cfg.languages[name].pool_size, self.backend.build_worker,
                    self.build_slots, self.cfg.max_queue, self.discard)

    def start_pools(self) -> None:
        for pool in self.pools.values():
            pool.refill()

    async def wait_warm(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(len(p.ready) >= p.target for p in self.pools.values()):
                return True
            failing = [p for p in self.pools.values() if p.stats.build_failures >= 3 and not p.stats.builds]
            if failing:
                return False
            await asyncio.sleep(0.02)
        return False

    def discard(self, worker: Worker) -> None:
        """Destroys a worker off the event loop; the kill itself is immediate."""
        worker.containment.kill()
        worker.close_fds()
        task = asyncio.create_task(self._destroy(worker))
        self._teardowns.add(task)
        task.add_done_callback(self._teardowns.discard)

    async def _destroy(self, worker: Worker) -> None:
        ok = await asyncio.get_running_loop().run_in_executor(None, worker.containment.destroy)
        if not ok:
            log.error("event=teardown_failed worker=%s", worker.id)

    def apply_config(self, cfg: Config) -> None:
        """SIGHUP: new limits, access rules and pool sizes; running runs are untouched."""
        self.cfg = cfg
        for name in cfg.languages:
            if name in self.pools:
                self.pools[name].max_waiting = cfg.max_queue
                self.pools[name].resize(cfg.languages[name].pool_size)
            else:
                self.pools[name] = self._make_pool(name)
                self.pools[name].refill()

    async def execute(self, raw: RawRequest, peer: Peer, emit: Emit | None, on_started: OnStarted | None,
                      lint: asyncio.Future[list[Finding]] | None = None,
                      after_response: AfterResponse | None = None) -> RunResult:
        """Runs one request. Raises Rejected / TooBusy / Unavailable before anything runs.
        `emit` and `on_started` stream its events; None when only the result is wanted.

        The worker is destroyed (and its replacement started) once the program has ended: at
        once, or, given `after_response`, through it once the result is out, so the kill, the
        cgroup teardown and the next build stay off the response path. A run that did not end
        (cancelled, crashed) is killed at once either way.

        `lint` may still be running (policy 'warn'): the result waits for it; a request that
        does not run cancels it."""
        try:
            return await self._execute(raw, peer, emit, on_started, lint, after_response)
        finally:
            if lint is not None and not lint.done():
                lint.cancel()

    async def _execute(self, raw: RawRequest, peer: Peer, emit: Emit | None, on_started: OnStarted | None,
                       lint: asyncio.Future[list[Finding]] | None, after_response: AfterResponse | None,
                       ) -> RunResult:
        if self.draining:
            raise Unavailable("the daemon is shutting down; not accepting new runs")
        spec = admit(self.cfg, raw)
        if self.runs_by_uid[peer.uid] >= self.cfg.max_runs_per_uid:
            raise TooBusy(f"uid {peer.uid} already has {self.runs_by_uid[peer.uid]} runs in progress "
                          f"(limit {self.cfg.max_runs_per_uid})")
        run_id = secrets.token_hex(8)
        self.runs_by_uid[peer.uid] += 1
        started = time.monotonic()
        pool = self.pools[spec.language]
        worker: Worker | None = None
        driver: RunDriver | None = None
        deferred: _Deferred | None = None
        try:
            try:
                worker, warm = await pool.acquire()
            except PoolFull as exc:
                raise TooBusy(str(exc)) from None
            except BuildError as exc:
                raise Unavailable(f"cannot start a {spec.language} worker: {exc}") from None
            driver = RunDriver(run_id, worker, spec, emit, self.base_env)
            self.active[run_id] = driver
            if on_started is not None:
                await on_started(run_id, warm)
            result = await driver.run()
            if driver.started_at is not None:
                pool.record_handover((driver.started_at - started) * 1000)
            result.warm_start = warm
            result.lint = list(await lint) if lint is not None else []
        finally:
            self.runs_by_uid[peer.uid] -= 1
            if self.runs_by_uid[peer.uid] <= 0:
                del self.runs_by_uid[peer.uid]
            self.active.pop(run_id, None)
            if worker is not None:
                if after_response is not None and driver is not None and driver.finished.is_set():
                    deferred = self._release_later(pool, worker, after_response)
                else:
                    pool.release(worker)
        self.runs_total += 1
        self.status_counts[result.status] += 1
        if log.isEnabledFor(logging.INFO):
            # The line goes out with the worker's teardown, after the response, when that is
            # deferred: a journal record costs ~30 µs, the run's critical path needs none of it.
            announce = functools.partial(_log_finished, run_id, peer, spec.language, spec.code, result)
            if deferred is not None:
                deferred.then.append(announce)
            else:
                announce()
        return result

    def _release_later(self, pool: Pool, worker: Worker, after_response: AfterResponse) -> _Deferred:
        timer = asyncio.get_running_loop().call_later(TEARDOWN_DEFER_MAX_S, self._release, worker.id)
        entry = self._deferred[worker.id] = _Deferred(pool, worker, timer)
        after_response(lambda: self._release(worker.id))
        return entry

    def _release(self, worker_id: str) -> None:
        """Destroys a finished run's worker (and does what waited for it); the first of its
        two triggers wins."""
        entry = self._deferred.pop(worker_id, None)
        if entry is not None:
            entry.timer.cancel()
            entry.pool.release(entry.worker)
            for then in entry.then:
                then()

    def cancel(self, run_id: str) -> bool:
        driver = self.active.get(run_id)
        if driver is None:
            return False
        driver.cancel("killed")
        return True

    def reject_count(self) -> None:
        self.status_counts["rejected"] += 1

    async def drain(self, grace_s: float) -> None:
        """Refuses new runs, lets running ones finish for `grace_s`, then kills the rest."""
        self.draining = True
        deadline = time.monotonic() + grace_s
        while self.active and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for driver in list(self.active.values()):
            driver.cancel("killed")
        while self.active:
            await asyncio.sleep(0.02)
        await self.close()

    async def close(self) -> None:
        for worker_id in list(self._deferred):
            self._release(worker_id)
        for pool in self.pools.values():
            await pool.close()
        while self._teardowns:
            await asyncio.gather(*list(self._teardowns), return_exceptions=True)


__all__ = ["Peer", "Rejected", "Service", "TooBusy", "Unavailable"]
