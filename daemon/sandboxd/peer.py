"""Who is calling: SO_PEERCRED on our own accept loop, then served or relayed.

A connection that asks for it in its first SETTINGS frame (the library's sync Client) is
served in this loop by http2_server; every other one is relayed to the private gRPC server.

grpcio exposes no peer credentials (and would re-bind a socket a live daemon holds), so the
public socket is ours: each accepted connection's uid/gid/pid is read from the kernel, and
the connection is relayed to the gRPC server on a socket only root can reach, from a client
socket bound to an abstract name that encodes those credentials. The handler reads them back
from `context.peer()`. Nobody else can connect to the private socket, so nobody can forge
that name.

Whether a peer may use the daemon is decided on every call against the current config
(`policy_for`), not once per connection: a SIGHUP that revokes a uid also stops the
connections it already holds.
"""

from __future__ import annotations

import asyncio
import grp
import logging
import os
import pwd
import secrets
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from .config import Config
from .http2_server import Connection, Method, wants_local

log = logging.getLogger("sandboxd.peer")

PREFIX = "sandboxd-peer"
HIGH_WATER = 1 << 20
CHUNK = 1 << 16
HEAD_MAX = 4096  # a connection's first frame is its SETTINGS: a few dozen bytes
# A connection that has not said where it goes by then is closed: gRPC clients send their
# preface and SETTINGS at once, and an idle one would otherwise hold a descriptor for good
# (grpc's own server closes a connection that does not finish its handshake in 120 s).
ROUTE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class PeerCred:
    uid: int
    gid: int
    pid: int


def peer_of(sock: socket.socket) -> tuple[int, int, int]:
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", data)
    return uid, gid, pid


def encode_name(uid: int, gid: int, pid: int) -> str:
    return f"{PREFIX}-{uid}-{gid}-{pid}-{secrets.token_hex(6)}"


def decode_peer(peer: str) -> PeerCred | None:
    """Parses grpc's `context.peer()` for a relayed connection; None for anything else."""
    name = peer.rsplit(":", 1)[-1].lstrip("\0@")
    parts = name.split("-")
    if not name.startswith(PREFIX + "-") or len(parts) != 6:
        return None
    try:
        uid, gid, pid = (int(p) for p in parts[2:5])
    except ValueError:
        return None
    return PeerCred(uid, gid, pid)


def groups_of(uid: int, gid: int) -> set[int]:
    try:
        name = pwd.getpwuid(uid).pw_name
        return set(os.getgrouplist(name, gid))
    except KeyError:
        return {gid}


class AccessPolicy:
    """allowed_uids / allowed_gids / allowed_groups of one config.

    Supplementary groups come from the group database (as sshd's AllowGroups does), looked
    up once per uid for the life of this policy: a reload picks up membership changes.
    """

    def __init__(self, allowed_uids: list[int], allowed_gids: list[int], allowed_groups: list[str]) -> None:
        self.uids = set(allowed_uids)
        self.gids = set(allowed_gids)
        for name in allowed_groups:
            try:
                self.gids.add(grp.getgrnam(name).gr_gid)
            except KeyError:
                log.warning("event=allowed_group_missing group=%s", name)
        self.open = not (self.uids or self.gids or allowed_groups)
        self._groups: dict[tuple[int, int], set[int]] = {}

    @classmethod
    def from_config(cls, cfg: Config) -> AccessPolicy:
        return cls(cfg.allowed_uids, cfg.allowed_gids, cfg.allowed_groups)

    def allows(self, uid: int, gid: int) -> bool:
        """Root always; with no lists configured, whoever the socket's mode lets in."""
        if uid == 0 or self.open or uid in self.uids:
            return True
        key = (uid, gid)
        if key not in self._groups:
            self._groups[key] = groups_of(uid, gid)
        return bool(self.gids & self._groups[key])


_policies: dict[tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]], AccessPolicy] = {}


def policy_for(cfg: Config) -> AccessPolicy:
    """The policy of `cfg`'s access rules, built once per distinct rule set."""
    key = (tuple(cfg.allowed_uids), tuple(cfg.allowed_gids), tuple(cfg.allowed_groups))
    if key not in _policies:
        _policies.clear()
        _policies[key] = AccessPolicy.from_config(cfg)
    return _policies[key]


def forget_policies() -> None:
    """On SIGHUP: group memberships may have changed even where the rules did not."""
    _policies.clear()


class _Pump(asyncio.BufferedProtocol):
    """One direction of a relayed connection.

    A buffered protocol reads into one buffer of its own: a plain Protocol gets a fresh
    256 KiB bytes object per read, which glibc may serve by mmap, trimmed by mremap and
    munmap (three system calls and a page fault on every gRPC message, seen under strace)."""

    def __init__(self, route: Callable[[bytes], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.other: _Pump | None = None
        self.buffer: list[bytes] = []
        self.chunk = bytearray(CHUNK)
        # An accepted connection's pump first collects the bytes that say where it goes.
        self.route = route
        self.head = b""
        self.unrouted: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(HIGH_WATER)
        if self.route is not None:
            self.unrouted = asyncio.get_running_loop().call_later(ROUTE_TIMEOUT_S, self._close_unrouted)

    def _close_unrouted(self) -> None:
        if self.route is not None and self.transport is not None:
            log.warning("event=connection_unrouted after_s=%g bytes=%d", ROUTE_TIMEOUT_S, len(self.head))
            self.transport.close()

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.chunk

    def buffer_updated(self, nbytes: int) -> None:
        # A copy: the transport may keep what it could not send yet, and the buffer is reused.
        data = bytes(memoryview(self.chunk)[:nbytes])
        if self.route is not None:
            self.head += data
            if wants_local(self.head) is None and len(self.head) < HEAD_MAX:
                return
            route, self.route = self.route, None
            if self.unrouted is not None:
                self.unrouted.cancel()
            route(self.head)
            return
        other = self.other
        if other is not None and other.transport is not None:
            other.transport.write(data)
        else:
            self.buffer.append(data)

    def connect(self, other: _Pump) -> None:
        self.other = other
        for data in self.buffer:
            assert other.transport is not None
            other.transport.write(data)
        self.buffer.clear()

    def eof_received(self) -> bool:
        if self.other and self.other.transport and self.other.transport.can_write_eof():
            self.other.transport.write_eof()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.unrouted is not None:
            self.unrouted.cancel()
        if self.other and self.other.transport:
            self.other.transport.close()

    def pause_writing(self) -> None:
        if self.other and self.other.transport:
            self.other.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.other and self.other.transport:
            self.other.transport.resume_reading()


class Relay:
    """Accepts on the public socket; serves each connection that asks for it in this loop
    (http2_server.py) and relays every other one to the private gRPC socket."""

    def __init__(self, public: socket.socket, private_path: str, methods: dict[str, Method],
                 max_receive: int) -> None:
        self.public = public
        self.private_path = private_path
        self.methods = methods
        self.max_receive = max_receive
        self.server: asyncio.base_events.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self.local: set[Connection] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_unix_server(self._accepted, sock=self.public)

    def _accepted(self) -> _Pump:
        pump = _Pump()
        pump.route = lambda head: self._route(pump, head)
        return pump

    def _route(self, pump: _Pump, head: bytes) -> None:
        transport = pump.transport
        assert transport is not None
        try:
            uid, gid, pid = peer_of(transport.get_extra_info("socket"))
        except OSError as exc:
            log.error("event=relay_failed error=%r", str(exc))
            transport.close()
            return
        local = bool(wants_local(head))
        log.debug("event=peer_connected peer_uid=%d peer_gid=%d peer_pid=%d transport=%s",
                  uid, gid, pid, "local" if local else "grpc")
        if local:
            conn = Connection(self.methods, f"unix:@{encode_name(uid, gid, pid)}", self.max_receive, self.local.discard)
            self.local.add(conn)
            conn.adopt(transport, head)
            return
        pump.buffer.append(head)
        task = asyncio.ensure_future(self._link(pump, transport, uid, gid, pid))
        self._links.add(task)
        task.add_done_callback(self._links.discard)

    async def _link(self, inbound: _Pump, transport: asyncio.BaseTransport, uid: int, gid: int, pid: int) -> None:
        try:
            out = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            out.bind("\0" + encode_name(uid, gid, pid))
            out.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(out, self.private_path)
            outbound = _Pump()
            await loop.create_unix_connection(lambda: outbound, sock=out)
        except OSError as exc:
            log.error("event=relay_failed error=%r", str(exc))
            transport.close()
            return
        outbound.other = inbound
        inbound.connect(outbound)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.local):
            conn.close()


def socket_group(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None
