"""The fork server: a single-threaded process that builds workers for the daemon.

The gRPC process must never fork without exec (grpc's threads make forked children crash),
so the daemon starts this module with plain `subprocess` before it imports grpc, and asks it
over a SOCK_SEQPACKET socket for workers. Each answer carries the worker's pipe ends as
SCM_RIGHTS. Keep its imports minimal: every worker is a fork of this process.

Started as `python -I -S -c BOOT FD LIBRARIES PATH...` (zygote_client.py): without `site`
neither site-packages nor the editable-install finder (pathlib, inspect, typing…) is loaded,
so the daemon hands over the directories that hold our modules and the shared libraries it
already resolved (`LIBRARIES`, JSON).
"""

from __future__ import annotations

import _socket
import array
import gc
import json
import os
import signal
import sys
import types
from typing import TYPE_CHECKING

import prctl

if TYPE_CHECKING:
    from .contain import Blueprint
    from .netns import NetnsPool

MAX_REQUEST = 1 << 20


def _import_with_libraries(paths: dict[str, str | None]) -> None:
    """Imports the worker-building modules while `ctypes.util.find_library` answers from
    `paths` (libc, already found by the daemon).

    The real ctypes.util pulls in subprocess, threading, shutil and tempfile (~3 MB that
    every worker would inherit, and threading's at-fork hooks slow every fork) only to find
    those two libraries. The stand-in is removed afterwards, so user code importing
    ctypes.util gets the real one.
    """
    import ctypes

    util = types.ModuleType("ctypes.util")
    util.find_library = paths.__getitem__  # type: ignore[attr-defined]
    sys.modules["ctypes.util"] = ctypes.util = util  # type: ignore[attr-defined]
    try:
        from . import contain  # noqa: F401  (imported once, for every worker)
    finally:
        del sys.modules["ctypes.util"], ctypes.util  # type: ignore[attr-defined]


def _spawn(bp: Blueprint, networks: NetnsPool | None, seccomp: dict[str, bytes]) -> list[int]:
    from .contain import start_worker

    if bp.seccomp and bp.seccomp not in seccomp:
        raise ValueError(f"no seccomp program for profile {bp.seccomp!r}")
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    status_r, status_w = os.pipe()
    exit_r, exit_w = os.pipe()
    worker_ends = [stdin_r, stdout_w, stderr_w, ctl_r, status_w, exit_w]
    daemon_ends = [stdin_w, stdout_r, stderr_r, ctl_w, status_r, exit_r]
    try:
        pidfd = start_worker(bp, worker_ends, networks, seccomp.get(bp.seccomp, b""))
    except BaseException:
        for fd in daemon_ends:
            os.close(fd)
        raise
    finally:
        for fd in worker_ends:
            os.close(fd)
    return [*daemon_ends, pidfd]


def _send_fds(sock: _socket.socket, data: bytes, fds: list[int]) -> None:
    """`socket.send_fds` without the socket module: its enums and selectors (~0.4 MB) would
    sit in every worker."""
    sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds))])


def receive_start(sock: _socket.socket) -> dict[str, bytes]:
    """The daemon's first message (ZygoteClient): each seccomp profile's compiled program
    (hex), so that libseccomp's binding stays out of this heap. Returns the programs."""
    from .seccomp_load import check

    message = json.loads(sock.recv(MAX_REQUEST) or b"{}")
    return {profile: check(bytes.fromhex(program)) for profile, program in message["seccomp"].items()}


def serve(sock: _socket.socket, seccomp: dict[str, bytes]) -> None:
    from .contain import Blueprint
    from .netns import NetnsPool, reusable

    networks = NetnsPool() if reusable() else None
    while True:
        try:
            data = sock.recv(MAX_REQUEST)
        except InterruptedError:
            continue
        if not data:
            return
        try:
            bp = Blueprint.from_json(data)
            fds = _spawn(bp, networks, seccomp)
        except Exception as exc:  # a bad blueprint must not take the fork server down
            sock.send(json.dumps({"error": f"zygote: {exc}"}).encode())
            continue
        try:
            _send_fds(sock, json.dumps({"worker_id": bp.worker_id}).encode(), fds)
        finally:
            for fd in fds:
                os.close(fd)


def main() -> None:
    fd = int(sys.argv[1])
    prctl.set_pdeathsig(signal.SIGKILL)
    prctl.set_child_subreaper(True)
    # Workers' pid 1s are reaped by the kernel; nobody here waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # pid 1 starts with these credentials: no supplementary group may reach it.
    os.setgroups([])
    _import_with_libraries(json.loads(sys.argv[2]))
    # Run with -S, yet fork-mode user code expects the builtins site defines (exit, quit,
    # help…); with -S, importing site defines them without its sys.path and .pth processing.
    import site

    site.setquit()
    site.setcopyright()
    site.sethelper()
    sock = _socket.socket(fileno=fd)
    seccomp = receive_start(sock)
    from .contain import note_own_modules

    note_own_modules()
    # Every worker inherits this heap (~15k objects). Frozen, the collector of a worker's pid 1
    # and runner never walks it: a full collection of it costs ~1.6 ms here and writes to every
    # inherited object's header, turning shared pages into private copies.
    gc.freeze()
    serve(sock, seccomp)


if __name__ == "__main__":
    main()
