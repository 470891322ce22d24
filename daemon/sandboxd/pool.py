"""Warm pools: per language, workers whose sandbox is built and whose interpreter is waiting.

A run takes one ready worker, uses it once, and the pool refills behind it. Builds are
bounded across all pools by one semaphore (they compete for the same cores). A worker that
dies or speaks out of turn while idle is dropped and replaced. With no ready worker, the
request waits for the next one built (a bounded queue; past it, the caller is told so).

The replacement for a worker taken warm is not started at once: building a worker costs
several milliseconds of CPU on each of the host's cores (forks, mounts, the interpreter), and
a hello-world run is over in about one. The build starts just after the run that took the
worker has ended and its result is on its way (`AFTER_RUN_DELAY_S`), or after
`REFILL_DELAY_S` if the run takes longer, so a short run never shares the CPU with the build
of its own replacement. A request that finds the pool empty starts a build at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .backend import BuildError
from .worker import Worker

log = logging.getLogger("sandboxd.pool")

RETRY_BACKOFF_S = (0.1, 0.5, 2.0, 5.0)
FAILURES_BEFORE_GIVING_UP = 3
REFILL_DELAY_S = 0.02
AFTER_RUN_DELAY_S = 0.002
HANDOVER_WINDOW = 2000


class PoolFull(Exception):
    """Too many requests are already waiting for a worker of this language."""


@dataclass
class PoolStats:
    runs_served: int = 0
    builds: int = 0
    build_failures: int = 0
    build_ms_total: float = 0.0
    cold_starts: int = 0
    replaced_stale: int = 0


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of values already sorted; 0 for none (a pool that has not
    served yet)."""
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Pool:
    """The warm workers of one language; every method runs on the daemon's event loop."""

    def __init__(self, language: str, target: int, build: Callable[[str], Awaitable[Worker]],
                 build_slots: asyncio.Semaphore, max_waiting: int,
                 discard: Callable[[Worker], None]) -> None:
        self.language = language
        self.target = target
        self._build = build
        self._slots = build_slots
        self._discard = discard
        self.max_waiting = max_waiting
        self.ready: deque[Worker] = deque()
        self.building = 0  # builds started and not finished (including those queued for a slot)
        self.waiters: deque[asyncio.Future[Worker]] = deque()
        self.stats = PoolStats()
        # From the request reaching the pool to its code being in the worker's pipe.
        self.handover_ms: deque[float] = deque(maxlen=HANDOVER_WINDOW)
        self._handover_sorted: list[float] | None = []
        self._failures = 0
        # The latest failed build's message while builds keep failing, "" once one succeeds.
        self.last_error = ""
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._refill_timer: asyncio.TimerHandle | None = None

    def mean_build_ms(self) -> float:
        return self.stats.build_ms_total / self.stats.builds if self.stats.builds else 0.0

    def wanted(self) -> int:
        """Workers the pool should hold or be building: its target plus one per waiter."""
        return max(self.target, 0) + len(self.waiters)

    def refill(self) -> None:
        """Starts builds until ready + building covers the target and every waiter."""
        if self._refill_timer is not None:
            self._refill_timer.cancel()
            self._refill_timer = None
        if self._closed:
            return
        self._drop_stale()
        while len(self.ready) + self.building < self.wanted():
            self.building += 1
            task = asyncio.create_task(self._build_one())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _refill_soon(self, delay: float) -> None:
        """Schedules refill() in `delay` seconds, unless one is already due sooner."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        if self._refill_timer is not None:
            if self._refill_timer.when() <= loop.time() + delay:
                return
            self._refill_timer.cancel()
        self._refill_timer = loop.call_later(delay, self.refill)

    def _drop_stale(self) -> None:
        for worker in [w for w in self.ready if not w.alive()]:
            self.ready.remove(worker)
            self.stats.replaced_stale += 1
            log.warning("event=worker_stale language=%s worker=%s", self.language, worker.id)
            self._discard(worker)

    async def _build_one(self) -> None:
        worker: Worker | None = None
        try:
            if self._failures:
                await asyncio.sleep(RETRY_BACKOFF_S[min(self._failures, len(RETRY_BACKOFF_S)) - 1])
            async with self._slots:
                # Waiters may have given up while this build queued for a slot.
                if self._closed or len(self.ready) + self.building > self.wanted():
                    return
                worker = await self._build(self.language)
            self._failures = 0
            self.last_error = ""
            self.stats.builds += 1
            self.stats.build_ms_total += worker.build_ms
        except Exception as exc:
            # Anything a backend raises is a failed build: the pool reports it and retries
            # with backoff rather than losing its refill loop to an unexpected exception.
            error = exc if isinstance(exc, BuildError) else BuildError(f"{type(exc).__name__}: {exc}")
            self._failures += 1
            self.stats.build_failures += 1
            self.last_error = str(error)
            retry = RETRY_BACKOFF_S[min(self._failures, len(RETRY_BACKOFF_S)) - 1]
            log.error("event=build_failed language=%s failures_in_a_row=%d retry_in_s=%g error=%r",
                      self.language, self._failures, retry, str(error),
                      exc_info=None if isinstance(exc, BuildError) else exc)
            if self._failures >= FAILURES_BEFORE_GIVING_UP:
                self._fail_waiters(error)
        finally:
            self.building -= 1
        if worker is None:
            if not self._closed:
                self.refill()
            return
        # A worker's status pipe closes when it dies; if that happens while it is idle here,
        # refill() drops it and builds its replacement.
        worker.status.drain.done.add_done_callback(lambda _: self._on_status_closed())
        self._offer(worker)

    def _on_status_closed(self) -> None:
        if not self._closed and any(not w.alive() for w in self.ready):
            self.refill()

    def _fail_waiters(self, exc: Exception) -> None:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)

    def _offer(self, worker: Worker) -> None:
        if self._closed:
            self._discard(worker)
            return
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(worker)
                return
        self.ready.append(worker)

    async def acquire(self) -> tuple[Worker, bool]:
        """A worker for one run and whether it was already warm when asked for."""
        while self.ready:
            worker = self.ready.popleft()
            if worker.alive():
                self.stats.runs_served += 1
                self._refill_soon(REFILL_DELAY_S)
                return worker, True
            self.stats.replaced_stale += 1
            self._discard(worker)
        if self._closed:
            raise BuildError("the daemon is shutting down")
        if len(self.waiters) >= self.max_waiting:
            raise PoolFull(f"{len(self.waiters)} requests are already waiting for a {self.language} "
                           f"worker (max_queue = {self.max_waiting})")
        fut: asyncio.Future[Worker] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        self.stats.cold_starts += 1
        self.refill()
        try:
            worker = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._offer(fut.result())
            raise
        finally:
            if fut in self.waiters:
                self.waiters.remove(fut)
        self.stats.runs_served += 1
        return worker, False

    def release(self, worker: Worker) -> None:
        """The run on `worker` is over: destroy it and build its replacement once the
        result has gone out."""
        self._discard(worker)
        self._refill_soon(AFTER_RUN_DELAY_S)

    def record_handover(self, ms: float) -> None:
        self.handover_ms.append(ms)
        self._handover_sorted = None

    def handover_percentiles(self) -> tuple[float, float, float]:
        """p50, p90 and p99 of the recent hand-overs. The window is sorted once per new sample,
        not per percentile and status call: a full window takes ~80 µs to sort, a status call
        sorted it three times per pool (~0.5 ms of the event loop), and monitors poll status."""
        if self._handover_sorted is None:
            self._handover_sorted = sorted(self.handover_ms)
        ordered = self._handover_sorted
        return percentile(ordered, 50), percentile(ordered, 90), percentile(ordered, 99)

    def resize(self, target: int) -> None:
        self.target = target
        while len(self.ready) > target:
            self._discard(self.ready.pop())
        self.refill()

    async def close(self) -> None:
        self._closed = True
        if self._refill_timer is not None:
            self._refill_timer.cancel()
            self._refill_timer = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        while self.ready:
            self._discard(self.ready.popleft())
        self._fail_waiters(BuildError("the daemon is shutting down"))
