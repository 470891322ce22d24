"""The daemon's side of the fork server: start it, ask it for workers, receive their fds."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections import deque

from .contain import Blueprint


class ZygoteError(RuntimeError):
    pass


# `-I -S`, so the zygote loads neither site nor the editable-install finder: its sys.path is
# the standard library plus the directories passed after the libraries.
BOOT = "import sys; sys.path[:0] = sys.argv[3:]; import sandboxd.linux.zygote as z; z.main()"


def _zygote_argv(fd: int) -> list[str]:
    """Where the zygote finds our modules and libraries: wherever this daemon found them."""
    import ctypes.util

    import _prctl
    import prctl

    import sandboxd

    roots = [os.path.dirname(os.path.dirname(sandboxd.__file__))]
    roots += [os.path.dirname(m.__file__ or "") for m in (prctl, _prctl)]
    libraries = {"c": ctypes.util.find_library("c")}
    return [sys.executable, "-I", "-S", "-c", BOOT, str(fd), json.dumps(libraries),
            *dict.fromkeys(roots)]


class ZygoteClient:
    """Starts the zygote with plain subprocess (vfork + exec), never a bare fork, and hands it
    `seccomp`: each profile's compiled filter (linux/seccomp_policy.program)."""

    def __init__(self, seccomp: dict[str, bytes]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        self.process = subprocess.Popen(
            _zygote_argv(theirs.fileno()),
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, close_fds=True,
        )
        theirs.close()
        ours.send(json.dumps({
            "seccomp": {profile: program.hex() for profile, program in seccomp.items()},
        }).encode())
        self.sock = ours
        self.sock.setblocking(False)
        self.pending: deque[asyncio.Future[list[int]]] = deque()
        self.loop: asyncio.AbstractEventLoop | None = None

    def _attach(self) -> None:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self.loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, 8)
        except BlockingIOError:
            return
        except OSError as exc:
            data, fds = b"", []
            err = exc
        else:
            err = None
        if not data:
            self._fail_all(ZygoteError(f"the fork server went away ({err or 'EOF'})"))
            return
        future = self.pending.popleft() if self.pending else None
        reply = json.loads(data)
        if future is None or future.done():
            for fd in fds:
                os.close(fd)
            return
        if "error" in reply:
            future.set_exception(ZygoteError(reply["error"]))
        else:
            future.set_result(fds)

    def _fail_all(self, exc: Exception) -> None:
        if self.loop is not None:
            self.loop.remove_reader(self.sock.fileno())
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(exc)

    async def spawn(self, bp: Blueprint) -> list[int]:
        """Returns the daemon ends: stdin (w), stdout (r), stderr (r), control (w), status (r),
        exit (r), and a pidfd of the worker's pid 1."""
        self._attach()
        if self.process.poll() is not None:
            raise ZygoteError(f"the fork server exited with {self.process.returncode}")
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        self.sock.send(json.dumps(bp._asdict()).encode())
        return await future

    def close(self) -> None:
        """Idempotent: the daemon closes it before its last sweep, main() again on any exit."""
        if self.loop is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.loop = None
        self.sock.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
