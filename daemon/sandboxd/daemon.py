"""The daemon's lifetime: lock, socket, gRPC server, pools, signals, drain.

SIGTERM/SIGINT drain (new runs refused with UNAVAILABLE, running ones get the grace period,
then are killed; workers and cgroups removed; socket unlinked; exit 0). SIGHUP reloads the
config without dropping running runs.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sandboxctl._pb.sandbox.v1 import sandbox_pb2_grpc as pb_grpc

from . import config as config_mod
from . import logs
from .backend import Backend
from .config import Config
from .notify import notify, watchdog_interval_s
from .peer import AccessPolicy, Relay, socket_group
from .server import SandboxServicer
from .service import Service

log = logging.getLogger("sandboxd")

WARM_TIMEOUT_S = 120.0


class SocketInUse(RuntimeError):
    pass


def acquire_lock(socket_path: str) -> int:
    """An flock beside the socket: a second daemon on the same path refuses to start."""
    fd = os.open(socket_path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SocketInUse(f"another sandboxd is already serving {socket_path}") from None
    return fd


def bind_public_socket(path: str, cfg: Config) -> socket.socket:
    """Binds the socket; a leftover file is stale (we hold the lock), so it is replaced."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
        else:
            raise SocketInUse(f"{path} exists and is not a socket; refusing to replace it")
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    gid = socket_group(cfg.socket_group)
    if gid is None:
        log.warning("event=socket_group_missing group=%s detail=%r", cfg.socket_group,
                    "socket stays owned by the daemon's group; create the group to share it")
    else:
        os.chown(path, -1, gid)
    os.chmod(path, int(cfg.socket_mode, 8))
    sock.listen(512)
    sock.setblocking(False)
    return sock


class Daemon:
    def __init__(self, cfg: Config, backend: Backend, socket_path: str, config_path: str | None,
                 log_level: str | None) -> None:
        self.cfg = cfg
        self.backend = backend
        self.socket_path = socket_path
        self.config_path = config_path
        self.log_level = log_level
        self.service = Service(cfg, backend, dict(backend.base_env))
        self.stop = asyncio.Event()
        self.health = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()

    def policy(self) -> AccessPolicy:
        return AccessPolicy(self.cfg.allowed_uids, self.cfg.allowed_gids)

    def reload(self) -> None:
        try:
            cfg = config_mod.load(self.config_path)
        except config_mod.ConfigError as exc:
            log.error("event=reload_failed error=%r", str(exc))
            return
        self.cfg = cfg
        logs.setup(self.log_level or cfg.log_level)
        self.service.apply_config(cfg)
        log.info("event=reloaded pools=%s", ",".join(f"{n}:{lang.pool_size}" for n, lang in cfg.languages.items()))

    async def _watchdog(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            notify("WATCHDOG=1", self._status_line())

    def _status_line(self) -> str:
        pools = " ".join(f"{n}={len(p.ready)}/{p.target}" for n, p in self.service.pools.items())
        return f"STATUS=serving; ready {pools}; {len(self.service.active)} running"

    async def serve(self, ready_fd: int | None) -> int:
        loop = asyncio.get_running_loop()
        private_dir = tempfile.mkdtemp(prefix="sandboxd-grpc-")
        private_sock = os.path.join(private_dir, "grpc.sock")
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 80 << 20),
                                          ("grpc.max_send_message_length", 80 << 20)])
        pb_grpc.add_SandboxServicer_to_server(SandboxServicer(self.service), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        server.add_insecure_port("unix:" + private_sock)
        relay = None
        try:
            await server.start()
            relay = Relay(bind_public_socket(self.socket_path, self.cfg), private_sock, self.policy)
            await relay.start()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop.set)
            loop.add_signal_handler(signal.SIGHUP, self.reload)
            self.service.start_pools()
            log.info("event=listening socket=%s backend=%s", self.socket_path, self.backend.name)
            warm = await self.service.wait_warm(WARM_TIMEOUT_S)
            if not warm:
                failing = [f"{n}: {p.stats.build_failures} failed builds" for n, p in self.service.pools.items()
                           if p.stats.build_failures and not p.stats.builds]
                if failing:
                    log.error("event=cannot_build_workers detail=%r", "; ".join(failing))
                    return 1
            await self._set_health(health_pb2.HealthCheckResponse.SERVING)
            notify("READY=1", self._status_line())
            log.info("event=ready %s", self._status_line().removeprefix("STATUS="))
            if ready_fd is not None:
                os.write(ready_fd, b"1")
                os.close(ready_fd)
            interval = watchdog_interval_s()
            watchdog = asyncio.create_task(self._watchdog(interval)) if interval else None
            await self.stop.wait()
            notify("STOPPING=1", "STATUS=draining")
            log.info("event=draining active=%d grace_s=%g", len(self.service.active), self.cfg.drain_grace_s)
            await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
            if relay is not None:
                await relay.close()
            if watchdog:
                watchdog.cancel()
            await self.service.drain(self.cfg.drain_grace_s)
            return 0
        finally:
            await server.stop(1.0)
            await self.service.close()
            try:
                os.unlink(self.socket_path)
            except FileNotFoundError:
                pass
            shutil.rmtree(private_dir, ignore_errors=True)
            log.info("event=stopped")

    async def _set_health(self, status: int) -> None:
        result = self.health.set("", status)
        if asyncio.iscoroutine(result):
            await result
        for name in ("sandbox.v1.Sandbox",):
            result = self.health.set(name, status)
            if asyncio.iscoroutine(result):
                await result


def run_daemon(cfg: Config, backend: Backend, socket_path: str, config_path: str | None,
               log_level: str | None, ready_fd: int | None) -> int:
    try:
        lock_fd = acquire_lock(socket_path)
    except (SocketInUse, OSError) as exc:
        log.error("event=cannot_start error=%r", str(exc))
        print(f"sandboxd: {exc}", file=sys.stderr)
        return 1
    try:
        cleaned = backend.cleanup_leftovers()
        if cleaned:
            log.warning("event=cleaned_leftovers count=%d", cleaned)
        daemon = Daemon(cfg, backend, socket_path, config_path, log_level)
        try:
            return asyncio.run(daemon.serve(ready_fd))
        except SocketInUse as exc:
            print(f"sandboxd: {exc}", file=sys.stderr)
            return 1
    finally:
        os.close(lock_fd)
