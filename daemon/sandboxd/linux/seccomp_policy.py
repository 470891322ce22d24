"""The seccomp filter every worker loads as the last step before untrusted code runs.

Split as DESIGN.md describes: calls a well-behaved program may probe answer EPERM (or ENOSYS
for clone3, so libc falls back to clone whose flags we can check); calls only an attack makes
kill the whole process, and the run reports `security_violation`.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

import pyseccomp as sc

CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000,
                         0x20000000, 0x40000000)
AF_UNIX = 1
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
F_SETLEASE = 1024
LOW32 = 0xFFFFFFFF
PERSONALITY_QUERY = 0xFFFFFFFF
PR_SET_DUMPABLE = 4
PR_SET_SECUREBITS = 28
PR_SET_MM = 35
PR_CAP_AMBIENT = 47
PR_SET_SPECULATION_CTRL = 53
PR_SET_PTRACER = 0x59616D61

# Only an attack makes these: the process is killed and the run is a security violation.
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
# A program may reasonably probe these; it gets an error and carries on.
EPERM = ("flock", "mbind", "set_mempolicy", "migrate_pages", "move_pages", "lsm_set_self_attr")


@dataclass(frozen=True)
class Policy:
    """What the filter does beyond the default action, as data a test can read."""

    kill: tuple[str, ...] = KILL
    eperm: tuple[str, ...] = EPERM
    enosys: tuple[str, ...] = ("clone3",)
    extra_kill: tuple[str, ...] = field(default=())


def _resolvable(name: str) -> bool:
    """libseccomp 2.5 answers -1 for names newer than itself; those cannot be filtered by name."""
    try:
        return sc.resolve_syscall(sc.Arch.NATIVE, name) >= 0
    except Exception:
        return False


def build_filter(policy: Policy) -> sc.SyscallFilter:
    f = sc.SyscallFilter(sc.ALLOW)
    # 32-bit and x32 system calls on x86_64 bypass a native-only filter: kill them outright.
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    for name in policy.kill + policy.extra_kill:
        if _resolvable(name):
            f.add_rule(sc.KILL_PROCESS, name)
    for name in policy.eperm:
        if _resolvable(name):
            f.add_rule(sc.ERRNO(errno.EPERM), name)
    for name in policy.enosys:
        if _resolvable(name):
            f.add_rule(sc.ERRNO(errno.ENOSYS), name)
    for flag in CLONE_NAMESPACE_FLAGS:
        f.add_rule(sc.KILL_PROCESS, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    f.add_rule(sc.ERRNO(errno.EPERM), "socket", sc.Arg(0, sc.NE, AF_UNIX))
    f.add_rule(sc.ERRNO(errno.EPERM), "socketpair", sc.Arg(0, sc.NE, AF_UNIX))
    # ioctl commands are 32-bit: compare only the low half or high bits slip past (CVE-2019-10063).
    for cmd in (TIOCSTI, TIOCLINUX):
        f.add_rule(sc.KILL_PROCESS, "ioctl", sc.Arg(1, sc.MASKED_EQ, LOW32, cmd))
    f.add_rule(sc.ERRNO(errno.EPERM), "fcntl", sc.Arg(1, sc.EQ, F_SETLEASE))
    for option in (PR_SET_DUMPABLE, PR_SET_SECUREBITS, PR_SET_MM, PR_CAP_AMBIENT,
                   PR_SET_SPECULATION_CTRL, PR_SET_PTRACER):
        f.add_rule(sc.ERRNO(errno.EPERM), "prctl", sc.Arg(0, sc.EQ, option))
    f.add_rule(sc.ERRNO(errno.EPERM), "personality", sc.Arg(0, sc.NE, PERSONALITY_QUERY))
    return f


def load(policy: Policy) -> None:
    build_filter(policy).load()
