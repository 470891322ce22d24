"""Thin ctypes bindings for the system calls Python 3.11's `os` lacks.

Syscall numbers come from libseccomp's table for the running architecture, never from
constants written here, so the same code is right on x86_64 and aarch64. The fork server
never imports libseccomp's binding: the daemon resolves WORKER_SYSCALLS and sends them to
it (zygote_client.py), and `learn_numbers` enters them here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal

_LIBC_NAME = ctypes.util.find_library("c") or "libc.so.6"
_libc = ctypes.CDLL(_LIBC_NAME, use_errno=True)
# The same library without releasing the GIL around calls: what os.fork itself does.
_libc_holding_gil = ctypes.PyDLL(_LIBC_NAME, use_errno=True)

CLONE_PIDFD = 0x00001000
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOSYMFOLLOW = 0x100
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


# What building a worker calls by number: fork_into, pivot_root, Landlock, the seccomp load.
WORKER_SYSCALLS = ("clone3", "pivot_root", "landlock_create_ruleset", "landlock_add_rule",
                   "landlock_restrict_self", "seccomp")
_numbers: dict[str, int] = {}


def learn_numbers(numbers: dict[str, int]) -> None:
    _numbers.update(numbers)


def syscall_number(name: str) -> int:
    """The syscall number for this architecture, from libseccomp unless already known."""
    nr = _numbers.get(name)
    if nr is None:
        import pyseccomp

        nr = _numbers[name] = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    return nr


_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def raw_syscall(name: str, *args: object) -> int:
    return _check(_syscall(ctypes.c_long(syscall_number(name)), *args), name)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(
        _libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]),
        f"mount {source or fstype} on {target}",
    )


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    raw_syscall("pivot_root", new_root.encode(), put_old.encode())


def sethostname(name: str) -> None:
    data = name.encode()
    _check(_libc.sethostname(data, ctypes.c_size_t(len(data))), "sethostname")


def setdomainname(name: str) -> None:
    data = name.encode()
    _check(_libc.setdomainname(data, ctypes.c_size_t(len(data))), "setdomainname")


class _CloneArgs(ctypes.Structure):
    """struct clone_args up to `tls` (CLONE_ARGS_SIZE_VER0)."""

    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls")]


_clone3 = _libc_holding_gil.syscall
_clone3.restype = ctypes.c_long
_clone3_number: int | None = None


def fork_into(namespaces: int) -> tuple[int, int]:
    """os.fork() whose child starts inside new `namespaces` (clone3 with a NULL stack forks).
    Returns (pid, pidfd) in the parent, (0, -1) in the child.

    With CLONE_NEWPID the child is pid 1 of its namespace at once: nobody has to unshare and
    fork a second time, which in a forked Python heap costs a page-table copy, the
    copy-on-write faults of one more process and its exit. The interpreter's own fork hooks
    run around it as they do for os.fork (import lock, at-fork handlers, thread state).
    """
    global _clone3_number
    if _clone3_number is None:
        _clone3_number = syscall_number("clone3")
    pidfd = ctypes.c_int(-1)
    args = _CloneArgs(flags=namespaces | CLONE_PIDFD, pidfd=ctypes.addressof(pidfd), exit_signal=signal.SIGCHLD)
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = _clone3(ctypes.c_long(_clone3_number), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0, -1
    err = ctypes.get_errno()
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    if pid == -1:
        raise OSError(err, f"clone3: {os.strerror(err)}")
    return pid, pidfd.value
