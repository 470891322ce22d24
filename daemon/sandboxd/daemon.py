"""The daemon's lifetime: lock, socket, gRPC server, pools, signals, drain.

SIGTERM/SIGINT drain (new runs refused with UNAVAILABLE, running ones get the grace period,
then are killed, or at once on a second signal; workers and cgroups removed; socket
unlinked; exit 0). SIGHUP reloads the config without dropping running runs. Start-up
first removes what a crashed predecessor on the same socket left: worker cgroups, the
private gRPC directory, the stale socket.

Under systemd the daemon tells its state through sd_notify: READY=1 once the pools are
warm, STATUS= with the pools every few seconds (and WATCHDOG=1 from the same event-loop
task, so a wedged loop stops the pings), RELOADING=1 around a reload, STOPPING=1 on drain.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import time

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sandboxctl._pb.sandbox.v1 import sandbox_pb2_grpc as pb_grpc
from sandboxctl.aio import LOCAL_TRANSPORT

from . import config as config_mod
from . import logs
from .backend import Backend
from .config import Config
from .http2_server import methods_of
from .metrics import MetricsServer
from .notify import notify, watchdog_interval_s
from .peer import Relay, forget_policies, socket_group
from .server import SandboxServicer
from .service import Service

log = logging.getLogger("sandboxd")

WARM_TIMEOUT_S = 120.0
STATUS_INTERVAL_S = 5.0
PRIVATE_SUFFIX = ".grpc"
# Settings the running daemon cannot change: they shape sockets, cgroups and the workers'
# build recipe. A reload that changes them keeps the running values and says so.
STARTUP_ONLY = ("socket", "socket_mode", "socket_group", "metrics_listen", "max_building", "sandbox")


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


def prepare_private_dir(socket_path: str) -> str:
    """The directory of the private gRPC socket, beside the public one so that it lives in
    a directory root controls; one left by a crashed daemon is ours (we hold the lock)."""
    path = socket_path + PRIVATE_SUFFIX
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        log.warning("event=cleaned_leftovers kind=private_dir path=%s", path)
    os.mkdir(path, 0o700)
    return path


def receive_limit(cfg: Config) -> int:
    """The largest request message either transport accepts: above the request caps, so an
    oversized request reaches admission and gets its clear message rather than a generic one."""
    caps = cfg.requests
    return max(80 << 20, caps.max_code_bytes + caps.max_stdin_bytes + caps.max_files_bytes + (4 << 20))


def message_limits(cfg: Config) -> list[tuple[str, int]]:
    send = 2 * cfg.max_limits.max_output_bytes + (4 << 20)
    return [("grpc.max_receive_message_length", receive_limit(cfg)),
            ("grpc.max_send_message_length", max(80 << 20, send)), *LOCAL_TRANSPORT]


def keep_startup_settings(old: Config, new: Config) -> list[str]:
    """Copies into `new` what only a restart may change; returns the keys that differed."""
    changed = []
    for key in STARTUP_ONLY:
        if getattr(old, key) != getattr(new, key):
            changed.append(key)
            setattr(new, key, getattr(old, key))
    languages = {}
    for name, lang in old.languages.items():
        fresh = new.languages.get(name)
        if fresh is None:
            changed.append(f"languages.{name} (removed)")
            languages[name] = lang
            continue
        if dataclasses.replace(fresh, pool_size=lang.pool_size) != lang:
            changed.append(f"languages.{name}")
        languages[name] = dataclasses.replace(lang, pool_size=fresh.pool_size)
    changed += [f"languages.{name} (added)" for name in new.languages if name not in old.languages]
    new.languages = languages
    return changed


def bind_public_socket(path: str, cfg: Config) -> socket.socket:
    """Binds the socket; a leftover file is stale (we hold the lock), so it is replaced."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
            log.warning("event=cleaned_leftovers kind=stale_socket path=%s", path)
        else:
            raise SocketInUse(f"{path} exists and is not a socket; refusing to replace it")
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    try:
        gid = socket_group(cfg.socket_group) if cfg.socket_group else None
        if cfg.socket_group and gid is None:
            log.warning("event=socket_group_missing group=%s detail=%r", cfg.socket_group,
                        "the socket keeps root's group, so only root can connect; create the group")
        elif gid is not None:
            os.chown(path, -1, gid)
        os.chmod(path, int(cfg.socket_mode, 8))
        sock.listen(512)
    except OSError:
        sock.close()
        os.unlink(path)
        raise
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
        self.health = health.aio.HealthServicer()

    def reload(self) -> None:
        """SIGHUP. The new values are copied into the one live Config object, which the
        service, the backend and the access checks all read, so nothing keeps a stale copy;
        runs already going keep the limits they were admitted with."""
        notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            fresh = config_mod.load(self.config_path)
        except config_mod.ConfigError as exc:
            log.error("event=reload_failed error=%r", str(exc))
            notify("READY=1", "STATUS=reload failed, still serving the previous config: " + str(exc))
            return
        for key in keep_startup_settings(self.cfg, fresh):
            log.warning("event=reload_needs_restart key=%s detail=%r", key,
                        "read at start-up only; the running value is kept")
        for f in dataclasses.fields(Config):
            setattr(self.cfg, f.name, getattr(fresh, f.name))
        forget_policies()
        logs.setup(self.log_level or self.cfg.log_level)
        self.service.apply_config(self.cfg)
        log.info("event=reloaded pools=%s",
                 ",".join(f"{n}:{lang.pool_size}" for n, lang in self.cfg.languages.items()))
        notify("READY=1", self._status_line())

    def _stop_signal(self) -> None:
        """The first SIGTERM drains; a second one, while draining, kills the running runs
        now instead of at the end of the grace period (an impatient `systemctl stop`)."""
        if self.stop.is_set():
            log.warning("event=drain_cut_short killing=%d", len(self.service.active))
            for driver in list(self.service.active.values()):
                driver.cancel("killed")
        self.stop.set()

    def _status_line(self) -> str:
        pools = " ".join(f"{n}={len(p.ready)}/{p.target}" for n, p in self.service.pools.items())
        state = "draining" if self.service.draining else "serving"
        failing = "".join(f"; {n} builds failing: {p.last_error}" for n, p in self.service.pools.items()
                          if p.last_error)
        return f"STATUS={state}; ready {pools}; {len(self.service.active)} running{failing}"

    async def _status_loop(self) -> None:
        """STATUS= every few seconds; WATCHDOG=1 from the same task when systemd asks for it,
        so the pings stop when the event loop stops turning."""
        watchdog = watchdog_interval_s()
        interval = min(watchdog, STATUS_INTERVAL_S) if watchdog else STATUS_INTERVAL_S
        while True:
            await asyncio.sleep(interval)
            notify(*(["WATCHDOG=1"] if watchdog else []), self._status_line())

    async def _warm_or_stopped(self) -> bool:
        """Waits for the pools, or for a SIGTERM that arrives first; True when warm enough."""
        warm = asyncio.create_task(self.service.wait_warm(WARM_TIMEOUT_S))
        stop = asyncio.create_task(self.stop.wait())
        await asyncio.wait({warm, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not warm.done():
            warm.cancel()
            return False
        if warm.result():
            return True
        failing = [f"no {n} worker could be built ({p.stats.build_failures} attempts); last error: {p.last_error}"
                   for n, p in self.service.pools.items() if p.stats.build_failures and not p.stats.builds]
        if failing:
            raise BuildFailed("; ".join(failing))
        log.warning("event=slow_warmup detail=%r", f"pools not full after {WARM_TIMEOUT_S:g}s; serving anyway")
        return True

    async def serve(self, private_dir: str, ready_fd: int | None) -> int:
        loop = asyncio.get_running_loop()
        private_sock = os.path.join(private_dir, "s")
        server = grpc.aio.server(options=message_limits(self.cfg))
        servicer = SandboxServicer(self.service)
        pb_grpc.add_SandboxServicer_to_server(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        server.add_insecure_port("unix:" + private_sock)
        relay: Relay | None = None
        metrics: MetricsServer | None = None
        status: asyncio.Task[None] | None = None
        try:
            await server.start()
            try:
                public = bind_public_socket(self.socket_path, self.cfg)
            except OSError as exc:
                log.error("event=cannot_start error=%r", f"cannot set up {self.socket_path}: {exc}")
                print(f"sandboxd: cannot set up {self.socket_path}: {exc}", file=sys.stderr)
                return 1
            relay = Relay(public, private_sock, methods_of(servicer), receive_limit(self.cfg))
            await relay.start()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop_signal)
            loop.add_signal_handler(signal.SIGHUP, self.reload)
            if _early_stop:
                self.stop.set()
            if self.cfg.metrics_listen:
                metrics = MetricsServer(self.service, self.cfg.metrics_listen)
                try:
                    await metrics.start()
                except OSError as exc:
                    metrics = None
                    log.error("event=cannot_start error=%r", f"metrics_listen {self.cfg.metrics_listen}: {exc}")
                    print(f"sandboxd: metrics_listen {self.cfg.metrics_listen}: {exc}", file=sys.stderr)
                    return 1
            self.service.start_pools()
            notify("STATUS=warming the pools")
            log.info("event=listening socket=%s backend=%s", self.socket_path, self.backend.name)
            try:
                warm = await self._warm_or_stopped()
            except BuildFailed as exc:
                log.error("event=cannot_build_workers detail=%r", str(exc))
                notify("STATUS=cannot build workers: " + str(exc))
                print(f"sandboxd: cannot start: {exc}", file=sys.stderr)
                return 1
            if warm:
                await self._set_health(health_pb2.HealthCheckResponse.SERVING)
                notify("READY=1", self._status_line())
                log.info("event=ready %s", self._status_line().removeprefix("STATUS="))
                if ready_fd is not None:
                    os.write(ready_fd, b"1")
                    os.close(ready_fd)
                status = asyncio.create_task(self._status_loop())
                await self.stop.wait()
            # The relay keeps accepting while draining, so a new caller hears UNAVAILABLE
            # with the reason rather than a refused connection.
            await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
            notify("STOPPING=1", f"STATUS=draining; {len(self.service.active)} running")
            log.info("event=draining active=%d grace_s=%g", len(self.service.active), self.cfg.drain_grace_s)
            await self.service.drain(self.cfg.drain_grace_s)
            return 0
        finally:
            if status is not None:
                status.cancel()
            if relay is not None:
                await relay.close()
            if metrics is not None:
                await metrics.close()
            await server.stop(1.0)
            await self.service.close()
            if relay is not None:
                try:
                    os.unlink(self.socket_path)
                except FileNotFoundError:
                    pass
            log.info("event=stopped")

    async def _set_health(self, status: int) -> None:
        for name in ("", "sandbox.v1.Sandbox"):
            await self.health.set(name, status)


class BuildFailed(RuntimeError):
    """No worker of some language could be built during warm-up."""


_early_stop: list[int] = []


def _stop_early(signum: int, _frame: object) -> None:
    """SIGTERM before the event loop exists (cleaning a crashed predecessor's cgroups can
    take seconds) is remembered and honoured as soon as the loop runs, not fatal midway."""
    _early_stop.append(signum)


def run_daemon(cfg: Config, backend: Backend, socket_path: str, config_path: str | None,
               log_level: str | None, ready_fd: int | None) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_early)
    try:
        # systemd's RuntimeDirectory= makes /run/sandboxd; launchd or a start by hand do not.
        os.makedirs(os.path.dirname(socket_path) or ".", mode=0o755, exist_ok=True)
        lock_fd = acquire_lock(socket_path)
    except (SocketInUse, OSError) as exc:
        log.error("event=cannot_start error=%r", str(exc))
        print(f"sandboxd: {exc}", file=sys.stderr)
        return 1
    private_dir = None
    try:
        cleaned = backend.cleanup_leftovers()
        if cleaned:
            log.warning("event=cleaned_leftovers kind=cgroups count=%d", cleaned)
        if len(os.fsencode(socket_path)) > config_mod.SOCKET_PATH_MAX:
            print(f"sandboxd: socket path {socket_path} is longer than {config_mod.SOCKET_PATH_MAX} bytes "
                  "(the private socket beside it needs the rest of the 107 a unix socket may have)",
                  file=sys.stderr)
            return 1
        private_dir = prepare_private_dir(socket_path)
        daemon = Daemon(cfg, backend, socket_path, config_path, log_level)
        try:
            return asyncio.run(daemon.serve(private_dir, ready_fd))
        except SocketInUse as exc:
            print(f"sandboxd: {exc}", file=sys.stderr)
            return 1
    finally:
        # Still holding the lock (a successor's workers must not be swept): with the fork
        # servers gone nothing can join a worker cgroup any more, so whatever is left there (a
        # worker admitted after its build was abandoned) is killed and removed, and said;
        # then the cgroup levels that held the workers go too.
        backend.close()
        cleaned = backend.cleanup_leftovers()
        if cleaned:
            log.warning("event=cleaned_leftovers kind=cgroups count=%d when=shutdown", cleaned)
        backend.release()
        if private_dir is not None:
            shutil.rmtree(private_dir, ignore_errors=True)
        os.close(lock_fd)
