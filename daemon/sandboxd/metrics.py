"""Prometheus text metrics over plain HTTP, for operators who scrape rather than call `status`.

Off unless `metrics_listen` is set. It answers every GET with the current counters and
closes the connection: a scraper needs nothing more, and a hand-written responder on the
daemon's own event loop costs no dependency and no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from .config import parse_listen
from .service import Service

log = logging.getLogger("sandboxd.metrics")

READ_TIMEOUT_S = 5.0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(service: Service) -> str:
    """The exposition text: one family per line group, HELP and TYPE first."""
    families: list[tuple[str, str, str, list[tuple[str, float]]]] = [
        ("sandboxd_uptime_seconds", "gauge", "Seconds since the daemon started.",
         [("", time.monotonic() - service.started)]),
        ("sandboxd_draining", "gauge", "1 while the daemon refuses new runs before exiting.",
         [("", float(service.draining))]),
        ("sandboxd_active_runs", "gauge", "Runs in progress.", [("", float(len(service.active)))]),
        ("sandboxd_runs_total", "counter", "Finished or refused runs by status.",
         [(f'status="{_escape(s)}"', float(n)) for s, n in sorted(service.status_counts.items())]),
    ]
    pools = sorted(service.pools.items())
    for name, kind, text, get in (
        ("sandboxd_pool_target", "gauge", "Warm workers each pool keeps.", lambda p: p.target),
        ("sandboxd_pool_ready", "gauge", "Warm workers ready now.", lambda p: len(p.ready)),
        ("sandboxd_pool_building", "gauge", "Workers being built now.", lambda p: p.building),
        ("sandboxd_pool_waiting", "gauge", "Requests waiting for a worker.", lambda p: len(p.waiters)),
        ("sandboxd_pool_runs_served_total", "counter", "Workers handed to runs.", lambda p: p.stats.runs_served),
        ("sandboxd_pool_cold_starts_total", "counter", "Runs that had to wait for a build.",
         lambda p: p.stats.cold_starts),
        ("sandboxd_pool_build_failures_total", "counter", "Worker builds that failed.",
         lambda p: p.stats.build_failures),
    ):
        families.append((name, kind, text,
                         [(f'language="{_escape(lang)}"', float(get(pool))) for lang, pool in pools]))
    lines = []
    for name, kind, text, samples in families:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{labels}}} {value:g}" if labels else f"{name} {value:g}" for labels, value in samples]
    return "\n".join(lines) + "\n"


class MetricsServer:
    def __init__(self, service: Service, listen: str) -> None:
        self.service = service
        self.listen = listen
        self.server: asyncio.base_events.Server | None = None
        self.unix_path: str | None = None

    async def start(self) -> None:
        address = parse_listen(self.listen)
        if isinstance(address, str):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)
            self.unix_path = address
            self.server = await asyncio.start_unix_server(self._handle, path=address)
        else:
            self.server = await asyncio.start_server(self._handle, host=address[0], port=address[1])
        log.info("event=metrics_listening address=%s", self.listen)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            method, _, rest = request.partition(b" ")
            path = rest.split(b" ", 1)[0]
            if method != b"GET":
                status, body, kind = "405 Method Not Allowed", "only GET\n", "text/plain"
            elif path not in (b"/metrics", b"/"):
                status, body, kind = "404 Not Found", "try /metrics\n", "text/plain"
            else:
                status, body, kind = "200 OK", render(self.service), "text/plain; version=0.0.4"
            data = body.encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\n"
                         "Connection: close\r\n\r\n".encode() + data)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        if self.unix_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_path)
