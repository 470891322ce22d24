"""Landlock: the kernel's ABI, and the rights a worker's ruleset handles on it.

pid 1 applies the ruleset (linux/pid1.c) with the grants linux/contain.py lists: read on the
interpreter's files, execute on the interpreters only, read-write on the run's own tmpfs
directories, and nothing else. Every right the running kernel's ABI knows is "handled", so
anything not granted is denied.
"""

from __future__ import annotations

import ctypes
import errno
import os

from .libc import _syscall, syscall_number

CREATE_RULESET_VERSION = 1

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13
TRUNCATE = 1 << 14
IOCTL_DEV = 1 << 15

NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ_ONLY = READ_FILE | READ_DIR
READ_WRITE = (READ_FILE | READ_DIR | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG
              | MAKE_SOCK | MAKE_FIFO | MAKE_SYM | REFER | TRUNCATE)


def _fs_rights_for_abi(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def abi_version() -> int:
    """The kernel's Landlock ABI, 0 when Landlock is absent or disabled."""
    return probe()[0]


def probe() -> tuple[int, str]:
    """(ABI, why it is 0): asks the kernel with LANDLOCK_CREATE_RULESET_VERSION."""
    try:
        nr = syscall_number("landlock_create_ruleset")
    except Exception:
        return 0, "libseccomp does not know landlock_create_ruleset on this architecture"
    result = _syscall(ctypes.c_long(nr), None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    if result >= 0:
        return int(result), ""
    err = ctypes.get_errno()
    if err == errno.EOPNOTSUPP:
        return 0, "Landlock is built into this kernel but not enabled (add it to the lsm= boot parameter)"
    if err == errno.ENOSYS:
        return 0, "this kernel has no Landlock (CONFIG_SECURITY_LANDLOCK, Linux 5.13+)"
    return 0, f"landlock_create_ruleset: {os.strerror(err)}"


def ruleset(abi: int) -> tuple[int, int, int, int, int]:
    """What pid 1 (linux/pid1.c) creates its ruleset with on this ABI: (handled fs rights,
    handled net rights, scopes, the size of struct landlock_ruleset_attr it knows, the rights a
    rule on a file rather than a directory may carry)."""
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    return _fs_rights_for_abi(abi), net, scoped, size, FILE_RIGHTS
