"""The worker's private root: a tmpfs with read-only views of what the interpreter needs.

Runs inside the worker's own user and mount namespaces, so nothing here is visible to the
host and everything disappears with the worker's last process.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from . import libc

NEW_ROOT = "/tmp"  # any existing directory: it is overmounted in the private namespace only
DEVICES = ("null", "zero", "full", "random", "urandom")
INNER_UID = 1000
INNER_GID = 1000
WORKDIR = "/work"
EMPTY_LOWER = "/proc"

# statvfs flag -> mount flag, for the flags the kernel locks on mounts a user namespace
# inherits: a read-only remount must repeat them or it fails with EPERM.
_LOCKED_FLAGS = {
    os.ST_NOSUID: libc.MS_NOSUID,
    os.ST_NODEV: libc.MS_NODEV,
    os.ST_NOEXEC: libc.MS_NOEXEC,
    os.ST_NOATIME: 0x400,
    os.ST_NODIRATIME: 0x800,
    os.ST_RELATIME: 0x200000,
}


# A NamedTuple, not a dataclass: dataclasses imports inspect (ast, dis, tokenize…), which
# every worker forked from the zygote would carry.
class RootSpec(NamedTuple):
    readonly_paths: tuple[str, ...]
    workdir_size_mb: int
    tmp_size_mb: int
    # Read-only directories as a private overlayfs instead of a bind mount: every worker then
    # has inodes of its own, so POSIX/OFD record locks on the files all runs share (which no
    # filter can tell from locks on the run's own files) are invisible to other runs.
    overlay: bool = False


def _create_file(path: str, data: bytes = b"", exclusive: bool = False) -> None:
    """open(path, "w"/"x") in three system calls instead of six (no fstat, isatty, lseek):
    every worker's build runs this a dozen times."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o666)
    try:
        if data:
            os.write(fd, data)
    finally:
        os.close(fd)


def _bind(source: str, target: str, flags: int) -> None:
    """Bind-mounts `source` and remounts it with `flags` added to the host mount's locked ones."""
    libc.mount(source, target, None, libc.MS_BIND)
    flags |= libc.MS_REMOUNT | libc.MS_BIND
    host_flags = os.statvfs(source).f_flag
    for st_flag, ms_flag in _LOCKED_FLAGS.items():
        if host_flags & st_flag:
            flags |= ms_flag
    libc.mount(None, target, None, flags)


def _bind_readonly(source: str, target: str) -> None:
    _bind(source, target, libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV)


def _overlay_readonly(source: str, target: str, empty: str) -> None:
    """A lower-only (hence read-only) overlay of `source`; overlayfs wants two lower layers."""
    def escape(p: str) -> str:
        return p.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")

    libc.mount("overlay", target, "overlay", libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV,
               f"lowerdir={escape(source)}:{escape(empty)}")


def _mirror(path: str, root: str, overlay: bool) -> None:
    """Recreates `path` under `root`: symlinks as symlinks (merged /usr), directories as a
    read-only overlay or bind, files bound."""
    target = root + path
    parent = os.path.dirname(target)
    if parent != root:
        os.makedirs(parent, exist_ok=True)
    if os.path.islink(path):
        os.symlink(os.readlink(path), target)
    elif os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
        if overlay:
            _overlay_readonly(path, target, root + EMPTY_LOWER)
        else:
            _bind_readonly(path, target)
    elif os.path.exists(path):
        _create_file(target, exclusive=True)
        _bind_readonly(path, target)


def _populate_dev(root: str) -> None:
    dev = root + "/dev"
    os.mkdir(dev)
    libc.mount("tmpfs", dev, "tmpfs", libc.MS_NOSUID | libc.MS_NOEXEC, "size=64k,mode=755")
    for name in DEVICES:
        _create_file(f"{dev}/{name}", exclusive=True)
        # The device nodes stay usable (no nodev) but nothing on them is setuid or executable.
        _bind(f"/dev/{name}", f"{dev}/{name}", libc.MS_NOSUID | libc.MS_NOEXEC)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(dev + "/shm")
    libc.mount("tmpfs", dev + "/shm", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC,
               f"size=16m,mode=700,uid={INNER_UID},gid={INNER_GID}")
    libc.mount(None, dev, None, libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NOEXEC)


def _populate_etc(root: str) -> None:
    etc = root + "/etc"
    os.makedirs(etc, exist_ok=True)
    files = {
        "passwd": f"root:x:0:0::/:/bin/false\nsandbox:x:{INNER_UID}:{INNER_GID}::{WORKDIR}:/bin/false\n",
        "group": f"root:x:0:\nsandbox:x:{INNER_GID}:\n",
        "hostname": "sandbox\n",
        "hosts": "127.0.0.1 localhost sandbox\n",
    }
    for name, text in files.items():
        _create_file(f"{etc}/{name}", text.encode())


def build(spec: RootSpec) -> None:
    """Builds the private root and pivots into it. Caller: pid 1 of the new pid namespace,
    holding every capability of its own user namespace (dropped right after)."""
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    root = NEW_ROOT
    libc.mount("tmpfs", root, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "size=1m,mode=755")
    # The overlays' empty second layer: the directory that /proc is mounted on later. An
    # overlay keeps its own clone of each layer's mount, so it stays empty underneath.
    os.mkdir(root + EMPTY_LOWER)
    for path in spec.readonly_paths:
        _mirror(path, root, spec.overlay)
    _populate_etc(root)
    _populate_dev(root)
    # proc must be mounted while the host's /proc is still in this namespace: the kernel only
    # lets a user namespace mount proc where a fully visible one already exists.
    libc.mount("proc", root + "/proc", "proc", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
    for path, size, mode in ((WORKDIR, spec.workdir_size_mb, "700"), ("/tmp", spec.tmp_size_mb, "1777")):
        os.makedirs(root + path, exist_ok=True)
        libc.mount("tmpfs", root + path, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV,
                   f"size={size}m,mode={mode},uid={INNER_UID},gid={INNER_GID}")
    os.mkdir(root + "/.oldroot")
    libc.pivot_root(root, root + "/.oldroot")
    os.chdir("/")
    libc.umount2("/.oldroot", libc.MNT_DETACH)
    os.rmdir("/.oldroot")
    libc.mount(None, "/", None, libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV)
