"""Asyncio helpers for the raw pipe descriptors a worker hands back.

Plain non-blocking fds with `add_reader`/`add_writer` cost less per chunk than asyncio's
transports, and the run loop needs nothing more.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable


def close_quietly(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def write_some(fd: int, data: bytes | memoryview) -> memoryview:
    """Writes what the non-blocking `fd` takes now; returns the rest (empty when all was
    written, or when the reader is gone: EPIPE just stops)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            return view
        except OSError:
            return view[:0]
    return view


async def write_all(fd: int, data: bytes | memoryview) -> None:
    """Writes `data` without blocking the loop; EPIPE (reader gone) just stops."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view := write_some(fd, view):
        ready = loop.create_future()
        loop.add_writer(fd, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_writer(fd)


class Drain:
    """Reads a pipe until EOF, handing each chunk to `on_data`; `done` resolves at EOF."""

    def __init__(self, fd: int, on_data: Callable[[bytes], None], chunk: int = 1 << 16) -> None:
        self.fd = fd
        self.on_data = on_data
        self.chunk = chunk
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        os.set_blocking(fd, False)
        self.loop.add_reader(fd, self._readable)

    def _read(self) -> bytes | None:
        """One chunk; b"" at EOF (or a read error), None when nothing is there yet."""
        try:
            return os.read(self.fd, self.chunk)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def _readable(self) -> None:
        data = self._read()
        if data is None:
            return
        if data:
            self.on_data(data)
            return
        self.stop()

    def read_available(self) -> None:
        """Takes what the pipe holds now, then stops: for when its writer has said it is done
        but others (the run's leftover processes) may still hold it open."""
        while not self.done.done() and (data := self._read()):
            self.on_data(data)
        self.stop()

    def stop(self) -> None:
        if not self.done.done():
            self.loop.remove_reader(self.fd)
            self.done.set_result(None)


class StatusChannel:
    """JSON lines from the worker (zygote, pid 1): pid, ready, exit status; and, from the
    exit pipe, the runner's own exit code as {"exit_code": N, "runner": True}, ahead of pid 1's
    report (runners/init.py). The first exit status to arrive is the run's."""

    def __init__(self, fd: int, exit_fd: int) -> None:
        self.fd = fd
        self.exit_fd = exit_fd
        self.buffer = b""
        self.messages: asyncio.Queue[dict[str, object] | None] = asyncio.Queue()
        self.closed = False
        self.drain = Drain(fd, self._on_data, 4096)
        self.drain.done.add_done_callback(lambda _: self._eof())
        self.exit_drain = Drain(exit_fd, self._on_exit, 1)

    def _on_exit(self, data: bytes) -> None:
        """One byte, once: anything after it cannot change the run's result."""
        self.exit_drain.stop()
        self.messages.put_nowait({"exit_code": data[0], "runner": True})

    def _on_data(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                message = {"error": f"unreadable status line {line[:80]!r}"}
            self.messages.put_nowait(message if isinstance(message, dict) else {"error": "bad status"})

    def _eof(self) -> None:
        self.closed = True
        self.messages.put_nowait(None)

    async def next(self, timeout: float | None = None) -> dict[str, object] | None:
        """The next message, or None once the worker closed its end (it died or finished).

        asyncio.timeout, not wait_for: wait_for runs the get in a task of its own, which costs
        the run's critical path two more turns of the event loop."""
        async with asyncio.timeout(timeout):
            return await self.messages.get()

    def close(self) -> None:
        self.drain.stop()
        close_quietly(self.fd)
        self.exit_drain.stop()
        close_quietly(self.exit_fd)
