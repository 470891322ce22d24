"""The pool's bookkeeping with fake workers: filling, bounded builds, waiting, replacement.

A fake worker is a real `Worker` whose status channel is a real pipe: closing the write end
is exactly what the daemon sees when a worker dies, so death and staleness go through the
same code as in production. No sandbox is built here; tests/integration/test_pool.py does
the same things against a real daemon.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest
from sandboxd import pool as pool_mod
from sandboxd.backend import BuildError, Containment, Sample
from sandboxd.pipes import StatusChannel
from sandboxd.pool import Pool, PoolFull, percentile
from sandboxd.worker import Worker


class FakeContainment(Containment):
    def apply_limits(self, memory_bytes: int, max_tasks: int) -> None:
        return None

    def sample(self) -> Sample:
        return Sample(0, 0, 0, 1)

    def peak_memory(self) -> int:
        return 0

    def oom_kills(self) -> int:
        return 0

    def pids_limit_hits(self) -> int:
        return 0

    def kill(self) -> None:
        return None

    def destroy(self) -> bool:
        return True


class Builder:
    """Builds fake workers; counts builds in flight and can be told to fail or to wait."""

    def __init__(self) -> None:
        self.built: list[Worker] = []
        self.status_ends: dict[str, int] = {}
        self.exit_ends: list[int] = []  # the runners' ends of the exit pipes, never written
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail = False
        self.error: Exception = BuildError("no interpreter")
        self.gate: asyncio.Event | None = None

    async def __call__(self, language: str) -> Worker:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            if self.gate is not None:
                await self.gate.wait()
            if self.fail:
                raise self.error
            r, w = os.pipe()
            exit_r, exit_w = os.pipe()
            self.exit_ends.append(exit_w)
            worker = Worker(f"{language}-{len(self.built)}", language, -1, -1, -1, -1, StatusChannel(r, exit_r),
                            FakeContainment(), build_ms=2.0, baseline=Sample(0, 0, 0, 1))
            self.status_ends[worker.id] = w
            self.built.append(worker)
            return worker
        finally:
            self.in_flight -= 1

    def die(self, worker: Worker) -> None:
        """What a worker's death looks like from the daemon: its status pipe closes."""
        os.close(self.status_ends.pop(worker.id))

    def close(self) -> None:
        for fd in [*self.status_ends.values(), *self.exit_ends]:
            os.close(fd)
        self.status_ends.clear()
        self.exit_ends.clear()


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def make_pool(builder: Builder, target: int, slots: int = 2, max_waiting: int = 8,
              discarded: list[Worker] | None = None) -> Pool:
    sink = discarded if discarded is not None else []

    def discard(worker: Worker) -> None:
        worker.close_fds()
        sink.append(worker)

    return Pool("python", target, builder, asyncio.Semaphore(slots), max_waiting, discard)


def test_fills_to_target_with_bounded_concurrent_builds() -> None:
    async def body() -> None:
        builder = Builder()
        pool = make_pool(builder, target=6, slots=2)
        pool.refill()
        await until(lambda: len(pool.ready) == 6, "the pool to fill")
        assert builder.max_in_flight == 2
        assert pool.building == 0
        assert pool.stats.builds == 6
        assert pool.mean_build_ms() == 2.0
        await pool.close()
        builder.close()

    run(body)


def test_warm_acquire_and_refill_after_release() -> None:
    async def body() -> None:
        builder = Builder()
        discarded: list[Worker] = []
        pool = make_pool(builder, target=2, discarded=discarded)
        pool.refill()
        await until(lambda: len(pool.ready) == 2, "the pool to fill")
        worker, warm = await pool.acquire()
        assert warm is True
        assert worker not in pool.ready
        assert pool.stats.runs_served == 1 and pool.stats.cold_starts == 0
        pool.release(worker)
        assert discarded == [worker], "a used worker is destroyed, never put back"
        await until(lambda: len(pool.ready) == 2, "the replacement")
        assert worker not in pool.ready
        await pool.close()
        builder.close()

    run(body)


def test_replacement_is_started_without_release_for_a_long_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_mod, "REFILL_DELAY_S", 0.001)

    async def body() -> None:
        builder = Builder()
        pool = make_pool(builder, target=1)
        pool.refill()
        await until(lambda: len(pool.ready) == 1, "the pool to fill")
        worker, _ = await pool.acquire()
        await until(lambda: len(pool.ready) == 1, "a replacement while the run goes on")
        pool.release(worker)
        await pool.close()
        builder.close()

    run(body)


def test_empty_pool_waits_for_the_next_build_cold() -> None:
    async def body() -> None:
        builder = Builder()
        pool = make_pool(builder, target=0)
        pool.refill()
        assert pool.building == 0, "a disabled pool builds nothing up front"
        worker, warm = await pool.acquire()
        assert warm is False
        assert pool.stats.cold_starts == 1 and pool.stats.runs_served == 1
        pool.release(worker)
        await asyncio.sleep(0.01)
        assert not pool.ready and pool.building == 0, "pool_size 0 keeps no idle worker"
        await pool.close()
        builder.close()

    run(body)


def test_queue_bound_refuses_past_max_waiting() -> None:
    async def body() -> None:
        builder = Builder()
        builder.gate = asyncio.Event()
        pool = make_pool(builder, target=0, max_waiting=2)
        first = asyncio.create_task(pool.acquire())
        second = asyncio.create_task(pool.acquire())
        await until(lambda: len(pool.waiters) == 2, "two waiters")
        with pytest.raises(PoolFull, match="max_queue = 2"):
            await pool.acquire()
        builder.gate.set()
        for task in (first, second):
            worker, warm = await task
            assert warm is False
            pool.release(worker)
        await pool.close()
        builder.close()

    run(body)


def test_dead_idle_worker_is_replaced() -> None:
    async def body() -> None:
        builder = Builder()
        discarded: list[Worker] = []
        pool = make_pool(builder, target=2, discarded=discarded)
        pool.refill()
        await until(lambda: len(pool.ready) == 2, "the pool to fill")
        victim = pool.ready[0]
        builder.die(victim)
        await until(lambda: victim in discarded, "the dead worker to be dropped")
        await until(lambda: len(pool.ready) == 2, "its replacement")
        assert victim not in pool.ready
        assert pool.stats.replaced_stale == 1
        assert pool.stats.builds == 3
        await pool.close()
        builder.close()

    run(body)


def test_worker_that_speaks_out_of_turn_is_stale() -> None:
    async def body() -> None:
        builder = Builder()
        discarded: list[Worker] = []
        pool = make_pool(builder, target=1, discarded=discarded)
        pool.refill()
        await until(lambda: len(pool.ready) == 1, "the pool to fill")
        victim = pool.ready[0]
        os.write(builder.status_ends[victim.id], b'{"exit_code": 0}\n')
        await until(lambda: not victim.alive(), "the message to arrive")
        worker, warm = await pool.acquire()
        assert worker is not victim and warm is False
        assert victim in discarded
        pool.release(worker)
        await pool.close()
        builder.close()

    run(body)


def test_repeated_build_failures_fail_the_waiters() -> None:
    async def body() -> None:
        builder = Builder()
        builder.fail = True
        pool = make_pool(builder, target=0)
        with pytest.raises(BuildError, match="no interpreter"):
            await asyncio.wait_for(pool.acquire(), 30)
        assert pool.stats.build_failures >= pool_mod.FAILURES_BEFORE_GIVING_UP
        await pool.close()
        builder.close()

    run(body)


def test_unexpected_build_errors_are_reported_and_retried_until_builds_work() -> None:
    async def body() -> None:
        builder = Builder()
        builder.fail = True
        builder.error = OSError(30, "Read-only file system", "/sys/fs/cgroup/memory/x/w-0")
        pool = make_pool(builder, target=1)
        pool.refill()
        await until(lambda: pool.stats.build_failures >= 2, "two failed builds")
        assert pool.last_error == "OSError: [Errno 30] Read-only file system: '/sys/fs/cgroup/memory/x/w-0'"
        builder.fail = False
        await until(lambda: len(pool.ready) == 1, "the pool to recover")
        assert pool.last_error == ""
        await pool.close()
        builder.close()

    run(body)


def test_cancelled_waiter_hands_its_worker_on() -> None:
    async def body() -> None:
        builder = Builder()
        builder.gate = asyncio.Event()
        pool = make_pool(builder, target=0)
        gone = asyncio.create_task(pool.acquire())
        await until(lambda: len(pool.waiters) == 1, "a waiter")
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert not pool.waiters
        builder.gate.set()
        await until(lambda: pool.building == 0, "the build to finish")
        assert len(pool.ready) == 1, "a worker nobody waits for any more is kept, not leaked"
        worker, warm = await pool.acquire()
        assert warm is True
        pool.release(worker)
        await pool.close()
        builder.close()

    run(body)


def test_close_discards_ready_and_fails_waiters() -> None:
    async def body() -> None:
        builder = Builder()
        discarded: list[Worker] = []
        pool = make_pool(builder, target=2, discarded=discarded)
        pool.refill()
        await until(lambda: len(pool.ready) == 2, "the pool to fill")
        ready = list(pool.ready)
        await pool.close()
        assert all(w in discarded for w in ready)
        with pytest.raises(BuildError, match="shutting down"):
            await pool.acquire()
        builder.close()

    run(body)


def test_resize_shrinks_and_grows() -> None:
    async def body() -> None:
        builder = Builder()
        pool = make_pool(builder, target=3)
        pool.refill()
        await until(lambda: len(pool.ready) == 3, "the pool to fill")
        pool.resize(1)
        assert len(pool.ready) == 1
        pool.resize(2)
        await until(lambda: len(pool.ready) == 2, "the pool to grow")
        await pool.close()
        builder.close()

    run(body)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) == 0.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) in (50.0, 51.0)
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([1.0, 2.0, 3.0], 0) == 1.0


def test_handover_percentiles_follow_every_new_sample() -> None:
    async def body() -> None:
        pool = make_pool(Builder(), 1)
        assert pool.handover_percentiles() == (0.0, 0.0, 0.0)
        for ms in (9.0, 1.0, 5.0):
            pool.record_handover(ms)
        assert pool.handover_percentiles() == (5.0, 9.0, 9.0)
        assert pool.handover_percentiles() == (5.0, 9.0, 9.0)  # asked again: the same window
        for _ in range(3):
            pool.record_handover(0.5)
        assert pool.handover_percentiles() == (0.5, 5.0, 9.0)
        for _ in range(pool_mod.HANDOVER_WINDOW):
            pool.record_handover(2.0)
        assert pool.handover_percentiles() == (2.0, 2.0, 2.0)  # the old samples left the window

    run(body)
