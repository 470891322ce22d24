"""Empty network namespaces for workers, each reused only once nothing of its last worker is left.

A new network namespace costs ~1 ms of CPU (its creation plus the kernel's deferred
clean-up), the largest single item of a worker's build. The fork server keeps the ones its
workers used, and gives one to the next worker only when

1. the last worker's pid 1 has exited: the kernel ends a pid namespace with its init, and
   every process of a run is in its pid namespace, so none of them is left; and
2. the kernel counts no socket of any protocol in it (/proc/net/protocols, read from inside):
   an abstract Unix socket caught in a descriptor-passing cycle outlives its processes until
   the kernel's garbage collector frees it, and would let one run leave a name for the next.
   Such a namespace is dropped, and a new one made.

Entering a namespace the fork server did not create for itself (setns) takes CAP_SYS_ADMIN
in the host's user namespace. The shipped systemd unit leaves that capability out of the
bounding set: there every worker gets a new network namespace from clone3 (which needs no
capability beside a new user namespace), and `sandboxctl capabilities` says which applies.

Everything else a network namespace holds (interfaces, addresses, routes, sysctls) needs
CAP_NET_ADMIN over it, and these belong to the host's root: no worker can change any of it,
so loopback stays down. The next run gets a namespace as empty as a new one, and never one
another live worker uses.
"""

from __future__ import annotations

import os
import select

from . import libc

CAP_SYS_ADMIN = 21


def reusable() -> bool:
    """Whether this process may enter the namespaces it keeps: CAP_SYS_ADMIN is effective."""
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("CapEff:"))
    return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)


def holds_no_socket() -> bool:
    """Whether the calling process's network namespace counts no socket of any protocol."""
    fd = os.open("/proc/self/net/protocols", os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    lines = b"".join(chunks).decode().splitlines()[1:]
    return all(line.split()[2] == "0" for line in lines)


class NetnsPool:
    """Only where reusable(); else the caller asks clone3 for a new namespace each time."""

    def __init__(self) -> None:
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.free: list[int] = []
        self.lent: dict[int, int] = {}  # the pidfd of the pid 1 using it -> the namespace

    def enter(self) -> int:
        """Moves the calling process into an empty network namespace; returns its fd."""
        self._reclaim()
        try:
            while self.free:
                ns = self.free.pop()
                libc.setns(ns, libc.CLONE_NEWNET)
                if holds_no_socket():
                    return ns
                os.close(ns)  # dropped: the kernel frees it with its last socket
            libc.unshare(libc.CLONE_NEWNET)
            return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except BaseException:
            libc.setns(self.home, libc.CLONE_NEWNET)
            raise

    def leave(self, ns: int, pidfd: int | None) -> None:
        """Back to the caller's own namespace; `ns` is lent to the process behind `pidfd`
        until it exits (None: nobody got it)."""
        libc.setns(self.home, libc.CLONE_NEWNET)
        if pidfd is None:
            self.free.append(ns)
        else:
            self.lent[pidfd] = ns

    def _reclaim(self) -> None:
        if not self.lent:
            return
        poller = select.poll()
        for pidfd in self.lent:
            poller.register(pidfd, select.POLLIN)
        for pidfd, _ in poller.poll(0):
            self.free.append(self.lent.pop(pidfd))
            os.close(pidfd)
