"""The seccomp filter every worker's pid 1 loads as the last step before untrusted code runs.

An allowlist per runtime: a call that is not listed answers ENOSYS, the answer of an older
kernel, which libc and both runtimes handle by falling back (faccessat2, close_range, statx,
clone3…). The lists are measured, not guessed: `tests/security/syscall_trace.py` runs the
corpus in `tests/security/corpus/` under `strace -f` and every call made after the filter
was loaded is listed here (marked "measured"), plus its direct kin (marked "kin": the same
operation spelled by another libc, runtime version or architecture). The filter is loaded in
pid 1, so both lists also cover pid 1's own supervision (linux/pid1.c, in both modes).

Beyond the allowlist, the split DESIGN.md describes:
- probes a well-behaved program may make (a non-AF_UNIX socket, flock, memfd…) answer EPERM;
- calls only an attack makes are answered with SECCOMP_RET_USER_NOTIF. The listener belongs
  to the worker's pid 1, which on the first notification kills every process of the run and
  reports the call (number and audit arch) to the daemon, which names it here. The call
  never executes: the caller is blocked in the kernel until it dies. This names the offending
  call reliably, unlike SECCOMP_RET_KILL_PROCESS (nothing tells the parent which call it was;
  the audit log is rate-limited, optional and host-global) or SECCOMP_RET_TRAP (user code can
  install a SIGSYS handler and carry on). pid 1 is non-dumpable, so no process of the run can
  reach the listener through /proc, and pidfd_getfd/ptrace are themselves on the kill list.
- system calls of another ABI (32-bit int 0x80 or x32 on x86_64) take the same path.

Numbers come from libseccomp for the running architecture; names the architecture lacks
(e.g. `open` or `poll` on aarch64) or libseccomp does not know yet are skipped — for the
allowlist that errs on the side of ENOSYS.
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Iterable
from typing import NamedTuple

import pyseccomp as sc

from . import seccomp_load

PYTHON = "python"
NODE = "node"

LOW32 = 0xFFFFFFFF
AF_UNIX = 1
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (NEWTIME exists for clone3
# and unshare only: in clone's flags its bit is part of the exit signal).
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000,
                         0x20000000, 0x40000000)
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
PERSONALITY_QUERY = 0xFFFFFFFF
PR_SET_DUMPABLE = 4

# fcntl commands a program may use: dup, fd/fl flags, POSIX and OFD record locks, owner and
# signal of async I/O, pipe size, seals. Leases (F_SETLEASE 1024, F_GETLEASE 1025) and
# directory notification are left out: leases on the read-only files every run shares
# would let one run stall or signal another (isolate 2.4-2.6).
FCNTL_ALLOWED = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16, 36, 37, 38, 1030, 1031, 1032, 1033, 1034)
FCNTL_EPERM = (1024, 1025, 1026)
# prctl options that only read state or tighten it: get/set name, get dumpable, PR_SET_DUMPABLE
# to 0 (pid 1 makes itself untouchable with it), get/set pdeathsig, securebits and caps reads,
# no_new_privs, timer slack, THP, subreaper, vma names, get seccomp mode.
PRCTL_ALLOWED = (1, 2, 3, 15, 16, 21, 23, 27, 29, 30, 36, 37, 38, 39, 41, 42, 0x53564D41)
# Options that would loosen something: keepcaps, securebits, PR_SET_MM, ambient caps,
# speculation control, ptracer, I/O flusher, syscall user dispatch; and PR_SET_SECCOMP,
# refused like the seccomp() call itself.
PRCTL_EPERM = (8, 22, 28, 35, 47, 53, 57, 59, 0x59616D61)

# measured: the worker's init and both runtimes over the whole corpus.
_SHARED_MEASURED = (
    "accept4", "access", "arch_prctl", "bind", "brk", "chmod", "clone", "close", "close_range",
    "connect", "dup2", "epoll_create1", "epoll_ctl", "execve", "exit", "exit_group", "fcntl", "futex",
    "getcwd", "getdents64", "getegid", "geteuid", "getgid", "getpid", "getppid", "getrandom",
    "getrusage", "getsockname", "gettid", "getuid", "ioctl", "listen", "lseek", "madvise", "mkdir",
    "mmap", "mprotect", "munmap", "newfstatat", "openat", "pipe2", "pread64", "prlimit64", "read",
    "readlink", "rename", "rmdir", "rseq", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "sched_getaffinity", "set_robust_list", "set_tid_address", "socket", "socketpair", "symlink",
    "sysinfo", "uname", "unlink", "utimensat", "wait4", "write",
    # pid 1's supervision loop: poll its listener and wake-up pipe, kill the run, drop dumpable.
    "poll", "ppoll", "kill", "prctl",
)
# kin: the same operations under other names (legacy vs *at, arch, libc version).
_SHARED_KIN = (
    "open", "stat", "fstat", "lstat", "statx", "faccessat", "faccessat2", "readlinkat", "getdents",
    "mkdirat", "unlinkat", "renameat", "renameat2", "symlinkat", "linkat", "link", "fchmod", "fchmodat",
    "futimesat", "utimes", "utime", "dup", "dup3", "pipe", "readv", "writev", "preadv", "pwritev",
    "preadv2", "pwritev2", "pwrite64", "ftruncate", "truncate", "fsync", "fdatasync", "fadvise64",
    "fallocate", "statfs", "fstatfs", "chdir", "fchdir", "umask", "creat",
    "getpgrp", "getpgid", "getsid", "setsid", "setpgid", "getgroups", "getresuid", "getresgid",
    "tgkill", "tkill", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "rt_sigqueueinfo",
    "sigaltstack", "pause", "alarm", "getitimer", "setitimer",
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time", "times",
    "sched_yield", "sched_getparam", "sched_getscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "getpriority", "getcpu", "getrlimit", "setrlimit", "mremap", "msync",
    "mincore", "membarrier", "select", "pselect6", "epoll_create", "epoll_wait", "epoll_pwait",
    "epoll_pwait2", "eventfd", "eventfd2", "waitid", "vfork", "fork", "restart_syscall",
    "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "accept", "getpeername",
    "setsockopt", "getsockopt", "shutdown", "sendfile", "copy_file_range", "splice", "tee",
    "pidfd_open", "pidfd_send_signal", "capget",
)
_PYTHON_MEASURED = (
    "clock_gettime", "clock_nanosleep", "epoll_wait", "fdatasync", "fsync", "getgroups", "link",
    "msync", "poll", "pselect6", "pwrite64", "recvfrom", "restart_syscall", "sendfile", "sendto",
    "setitimer", "times", "truncate", "unlinkat", "vfork",
)
_PYTHON_KIN = ("timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4",
               "sync_file_range", "readahead", "getxattr", "lgetxattr", "fgetxattr", "listxattr",
               "llistxattr", "flistxattr")
_NODE_MEASURED = (
    "capget", "copy_file_range", "epoll_pwait", "eventfd2", "fchmod", "fstat", "ftruncate",
    "getsockopt", "pkey_alloc", "sched_yield", "shutdown", "statx", "writev",
)
_NODE_KIN = ("pkey_free", "pkey_mprotect", "inotify_init", "inotify_init1", "inotify_add_watch",
             "inotify_rm_watch", "timerfd_create", "timerfd_settime", "timerfd_gettime", "get_mempolicy",
             "getxattr", "lgetxattr", "fgetxattr")

ALLOW = {
    PYTHON: tuple(dict.fromkeys(_SHARED_MEASURED + _SHARED_KIN + _PYTHON_MEASURED + _PYTHON_KIN)),
    NODE: tuple(dict.fromkeys(_SHARED_MEASURED + _SHARED_KIN + _NODE_MEASURED + _NODE_KIN)),
}
# Arguments are checked for these, so they must not also be allowed unconditionally.
_CHECKED = ("clone", "socket", "socketpair", "ioctl", "fcntl", "prctl", "personality")

# A program may reasonably probe these; it gets EPERM and carries on.
EPERM = (
    "flock", "mbind", "set_mempolicy", "migrate_pages", "move_pages", "memfd_create", "seccomp",
    "chown", "fchown", "lchown", "fchownat", "mknod", "mknodat", "sync", "syncfs", "mlock", "mlock2",
    "mlockall", "munlock", "munlockall", "sched_setscheduler", "sched_setparam", "sched_setaffinity",
    "sched_setattr", "setpriority", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
    "lremovexattr", "fremovexattr", "process_madvise", "ioprio_set", "vmsplice",
)
# Only an attack makes these: the run is killed and reported as a security violation.
KILL = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "sethostname", "setdomainname", "iopl", "ioperm", "vhangup", "uselib",
    "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "fanotify_init",
    "memfd_secret", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setfsuid", "setfsgid", "setgroups", "capset", "nfsservctl",
)


# A NamedTuple, not a dataclass: dataclasses imports inspect (ast, dis, tokenize…), which
# every worker forked from the zygote would carry.
class Policy(NamedTuple):
    """One runtime's filter as data a test can read."""

    allow: tuple[str, ...]
    eperm: tuple[str, ...] = EPERM
    kill: tuple[str, ...] = KILL


def policy_for(profile: str) -> Policy:
    return Policy(ALLOW[profile])


@functools.cache
def number(name: str) -> int | None:
    """The native number of `name`, None where this architecture or libseccomp lacks it.
    Cached: `status` reports counts over every profile, ~1 ms of libseccomp lookups a call."""
    try:
        nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
    except Exception:
        return None
    return nr if nr >= 0 else None


def complement_masks(excluded: Iterable[int], bits: int = 32) -> list[tuple[int, int]]:
    """(mask, value) pairs whose MASKED_EQ matches cover every `bits`-bit value except
    `excluded`, looking at the low `bits` bits only: a binary trie walked from the top bit.

    libseccomp drops conditional rules for a call that also has an unconditional one, and
    "cmd != TIOCSTI" on all 64 bits lets 0x1_00005412 through (the kernel only reads 32 bits:
    CVE-2019-10063), so "everything but these" is spelled as exact low-bit patterns.
    """
    out: list[tuple[int, int]] = []
    values = set(excluded)

    def walk(prefix: int, depth: int) -> None:
        shift = bits - depth
        mask = ((1 << bits) - 1) ^ ((1 << shift) - 1)
        if not any((v & mask) == prefix for v in values):
            out.append((mask, prefix))
        elif depth < bits:
            walk(prefix, depth + 1)
            walk(prefix | (1 << (shift - 1)), depth + 1)

    walk(0, 0)
    return out


def build_filter(policy: Policy) -> sc.SyscallFilter:
    f = sc.SyscallFilter(sc.ERRNO(errno.ENOSYS))
    # 32-bit and x32 system calls on x86_64 would bypass a native-only filter: treated as attacks.
    f.set_attr(sc.Attr.ACT_BADARCH, sc.NOTIFY)
    # A binary tree of syscall numbers instead of libseccomp's default linear chain: a call
    # walks ~log2 of the ~200 numbers instead of up to all of them, and the kernel takes the
    # program in 201 us instead of 377 (measured in a forked daemon interpreter, median of 30).
    f.set_attr(sc.Attr.CTL_OPTIMIZE, 2)
    eperm, kill = sc.ERRNO(errno.EPERM), sc.NOTIFY

    def rule(action: int, name: str, *args: sc.Arg) -> None:
        if number(name) is not None:
            f.add_rule(action, name, *args)

    for name in policy.allow:
        if name not in _CHECKED:
            rule(sc.ALLOW, name)
    for name in policy.eperm:
        rule(eperm, name)
    for name in policy.kill:
        rule(kill, name)
    # clone: no namespace flags (the flags are arg 0 on x86_64 and aarch64). clone3 hides its
    # flags in memory the filter cannot read: it is never allowed, so it gets the default
    # ENOSYS and libc falls back to clone.
    ns_mask = 0
    for flag in CLONE_NAMESPACE_FLAGS:
        ns_mask |= flag
        rule(kill, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, ns_mask, 0))
    for name in ("socket", "socketpair"):
        rule(sc.ALLOW, name, sc.Arg(0, sc.EQ, AF_UNIX))
        rule(eperm, name, sc.Arg(0, sc.NE, AF_UNIX))
    # ioctl commands are 32 bits: faking a terminal's input or console is an attack.
    for cmd in (TIOCSTI, TIOCLINUX):
        rule(kill, "ioctl", sc.Arg(1, sc.MASKED_EQ, LOW32, cmd))
    for mask, value in complement_masks((TIOCSTI, TIOCLINUX)):
        rule(sc.ALLOW, "ioctl", sc.Arg(1, sc.MASKED_EQ, mask, value))
    for cmd in FCNTL_ALLOWED:
        rule(sc.ALLOW, "fcntl", sc.Arg(1, sc.EQ, cmd))
    for cmd in FCNTL_EPERM:
        rule(eperm, "fcntl", sc.Arg(1, sc.EQ, cmd))
    for option in PRCTL_ALLOWED:
        rule(sc.ALLOW, "prctl", sc.Arg(0, sc.EQ, option))
    rule(sc.ALLOW, "prctl", sc.Arg(0, sc.EQ, PR_SET_DUMPABLE), sc.Arg(1, sc.EQ, 0))
    rule(eperm, "prctl", sc.Arg(0, sc.EQ, PR_SET_DUMPABLE), sc.Arg(1, sc.NE, 0))
    for option in PRCTL_EPERM:
        rule(eperm, "prctl", sc.Arg(0, sc.MASKED_EQ, LOW32, option))
    # personality reads 32 bits too: personality(-1) is the same query as 0xffffffff.
    rule(sc.ALLOW, "personality", sc.Arg(0, sc.MASKED_EQ, LOW32, PERSONALITY_QUERY))
    for mask, value in complement_masks((PERSONALITY_QUERY,)):
        rule(eperm, "personality", sc.Arg(0, sc.MASKED_EQ, mask, value))
    return f


def compile_program(f: sc.SyscallFilter) -> bytes:
    """The BPF program libseccomp would load for `f` (it exports only to a file descriptor)."""
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as out:
            f.export_bpf(out)
        program = os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
    return seccomp_load.check(program)


@functools.cache
def program(profile: str) -> bytes:
    """`profile`'s compiled filter, compiled once per daemon: assembling the rules costs
    milliseconds of Python and libseccomp compiling them ~1.9 ms (measured, per worker, when
    each worker loaded a libseccomp filter), while installing a compiled program is one system
    call (linux/seccomp_load.py, in each worker's pid 1)."""
    return compile_program(build_filter(policy_for(profile)))


@functools.cache
def allowed_count(profile: str) -> int:
    """How many system calls the profile lets through on this architecture (with or
    without argument checks), for `capabilities`."""
    return sum(1 for name in ALLOW[profile] if number(name) is not None)


@functools.cache
def kill_count() -> int:
    """How many of the attack-only calls exist on this architecture, for `capabilities`."""
    return sum(1 for name in KILL if number(name) is not None)


X32_SYSCALL_BIT = 0x40000000


def describe_violation(nr: int, arch: int) -> str:
    """Names a call reported by a worker's pid 1 (`arch` is the AUDIT_ARCH of the call). On
    x86_64 the x32 ABI shares the native audit arch and marks its numbers with bit 30."""
    if arch == sc.Arch.X86_64 and nr & X32_SYSCALL_BIT:
        arch = sc.Arch.X32
    native = arch == sc.system_arch()
    try:
        name = sc.resolve_syscall(arch, nr).decode()
    except (ValueError, OSError):
        name = f"#{nr}"
    where = "" if native else f" of a foreign ABI ({_ARCH_NAMES.get(arch, f'audit arch {arch:#x}')})"
    return f"forbidden system call {name}{where}: the run was killed"


_ARCH_NAMES = {sc.Arch.X86: "i386", sc.Arch.X32: "x32", sc.Arch.X86_64: "x86_64", sc.Arch.ARM: "arm",
               sc.Arch.AARCH64: "aarch64"}
