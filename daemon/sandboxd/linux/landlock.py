"""Landlock through raw system calls: filesystem, TCP and scope restrictions per ABI.

The ruleset grants read on the interpreter's files, execute on the interpreters only,
read-write on the run's own tmpfs directories, and nothing else; every right the running
kernel's ABI knows is "handled", so anything not granted is denied.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from typing import NamedTuple

from .libc import _check, _syscall, syscall_number

CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

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


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


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


# A NamedTuple, not a dataclass: dataclasses imports inspect (ast, dis, tokenize…), which
# every worker forked from the zygote would carry.
class Grant(NamedTuple):
    path: str
    rights: int


def restrict_self(grants: list[Grant], abi: int) -> None:
    """Applies the ruleset to the calling process and all it will start (irreversibly)."""
    handled_fs = _fs_rights_for_abi(abi)
    attr = _RulesetAttr(handled_fs, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = _check(_syscall(ctypes.c_long(syscall_number("landlock_create_ruleset")),
                              ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
                     "landlock_create_ruleset")
    try:
        add_rule = syscall_number("landlock_add_rule")
        for grant in grants:
            try:
                fd = os.open(grant.path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # not on this host: nothing to grant
            try:
                rights = grant.rights & handled_fs
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    rights &= FILE_RIGHTS
                rule = _PathBeneathAttr(rights, fd)
                _check(_syscall(ctypes.c_long(add_rule), ctypes.c_int(ruleset),
                                ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule),
                                ctypes.c_uint32(0)), f"landlock_add_rule {grant.path}")
            finally:
                os.close(fd)
        _check(_syscall(ctypes.c_long(syscall_number("landlock_restrict_self")),
                        ctypes.c_int(ruleset), ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)
