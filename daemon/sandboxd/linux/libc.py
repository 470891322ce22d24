"""Thin ctypes bindings for the system calls Python 3.11's `os` lacks.

Syscall numbers come from libseccomp's table for the running architecture, never from
constants written here, so the same code is right on x86_64 and aarch64. What a worker's
pid 1 calls is C (linux/pid1.c), numbered by the kernel headers it is built against.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_LIBC_NAME = ctypes.util.find_library("c") or "libc.so.6"
_libc = ctypes.CDLL(_LIBC_NAME, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


_numbers: dict[str, int] = {}


def syscall_number(name: str) -> int:
    """The syscall number for this architecture, from libseccomp."""
    nr = _numbers.get(name)
    if nr is None:
        import pyseccomp

        nr = _numbers[name] = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    return nr


_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")
