"""Starts a program under what systemd's hardening directives would do to it, by hand.

systemd is not PID 1 on the test hosts, so the unit's directives cannot be exercised by
systemd itself. This applies their documented effects with the same kernel mechanisms
systemd uses (a private mount namespace with read-only, inaccessible or fresh mounts;
seccomp filters; no_new_privs; the capability bounding set) and then execs the program:

    python harden.py --writable DIR --directive ProtectSystem=strict ... -- sandboxd ...

Only the directives the tests try are known here; each maps to its effect as systemd.exec(5)
describes it. Must run as root.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pyseccomp as sc

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
                   0x00000080)  # mnt, cgroup, uts, ipc, user, pid, net, time
PROT_WRITE, PROT_EXEC = 0x2, 0x4
MAP_ANONYMOUS = 0x20
S_ISUID, S_ISGID = 0o4000, 0o2000
SCHED_FIFO, SCHED_RR, SCHED_DEADLINE = 1, 2, 6
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_MAX = 1, 2, 10, 16, 46
# The directives (by key) this emulates; the unit's hardening may use only these.
KNOWN = ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelModules",
         "ProtectKernelLogs", "ProtectClock", "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID",
         "SystemCallArchitectures", "RestrictAddressFamilies", "CapabilityBoundingSet", "SystemCallFilter",
         "SystemCallErrorNumber", "ProtectKernelTunables", "ProtectControlGroups", "ProtectProc",
         "MemoryDenyWriteExecute", "ProtectHostname", "RestrictNamespaces")


# What PrivateTmp= and ProtectHome= put out of sight.
HIDES = {"PrivateTmp=yes": ("/tmp", "/var/tmp"), "ProtectHome=yes": ("/home", "/root", "/run/user")}


def install_candidates() -> set[str]:
    """The daemon's own install: the venv (sys.prefix), the checkout it is installed from in
    editable mode, and the real interpreter's prefix."""
    return {os.path.realpath(p) for p in (
        sys.prefix, str(Path(__file__).resolve().parents[2]), sys.base_prefix,
        os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))}


def install_paths(covered: list[str]) -> list[str]:
    """The install where a mount over `covered` would hide it (outermost paths only).

    Under systemd the daemon is installed outside what PrivateTmp= and ProtectHome= hide
    (/usr/local/bin/sandboxd, per the unit), and ProtectSystem=strict leaves it visible,
    read-only. A test checkout may sit in /tmp or /root, so after the private mounts these
    are bound back read-only at the same path: the daemon sees its code the way a packaged
    install would, and still none of the rest of /tmp, /home or /root."""
    wanted = sorted((p for p in install_candidates() if any(under(p, root) for root in covered)), key=len)
    out: list[str] = []
    for p in wanted:
        if not any(under(p, q) for q in out) and p not in covered:
            out.append(p)
    return out


def unreachable_ancestors() -> list[str]:
    """The outermost directories above the install that other users cannot search (/root is
    0700): a packaged install (/usr/local) is world-readable, a checkout in /root is not."""
    out: set[str] = set()
    for path in install_candidates():
        parts = Path(path).parts
        for i in range(2, len(parts)):
            ancestor = str(Path(*parts[:i]))
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                out.add(ancestor)
                break
    return sorted(out)


def run(*argv: str) -> None:
    subprocess.run(argv, check=True)


def mountpoints() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    return sorted(set(points), key=len)


def read_only_except_api(keep_writable: list[str]) -> None:
    """ProtectSystem=strict: everything read-only but /dev, /proc, /sys (and what the unit
    makes writable: its RuntimeDirectory= and ReadWritePaths=)."""
    for point in mountpoints():
        if point in ("/dev", "/proc", "/sys") or point.startswith(("/dev/", "/proc/", "/sys/")):
            continue
        subprocess.run(["mount", "-o", "remount,bind,ro", point], check=False, stderr=subprocess.DEVNULL)
    for path in keep_writable:
        run("mount", "--bind", path, path)
        run("mount", "-o", "remount,bind,rw", path)


def under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def fresh_tmpfs(path: str, options: str, keep: Sequence[str]) -> None:
    """A tmpfs over `path`, holding the (empty) mount points for the `keep` paths below it;
    read-only afterwards if `options` asks, as systemd's own mounts are."""
    run("mount", "-t", "tmpfs", "-o", options.replace("ro,", "").replace(",ro", ""), "tmpfs", path)
    for k in keep:
        if under(k, path):
            os.makedirs(k, mode=0o755, exist_ok=True)
    if "ro" in options.split(","):
        run("mount", "-o", "remount,ro", path)


def inaccessible(*paths: str, keep: Sequence[str] = ()) -> None:
    for path in paths:
        if os.path.isdir(path):
            fresh_tmpfs(path, "ro,mode=000", keep)


def bind(source: str, target: str) -> None:
    """mount(2) itself: mount(8) does not follow a /proc/self/fd link to the held node."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode(), target.encode(), None, MS_BIND, None) != 0:
        raise OSError(ctypes.get_errno(), f"bind {source} on {target}")


def private_devices() -> None:
    """PrivateDevices=yes: a fresh /dev holding only the pseudo devices."""
    names = ("null", "zero", "full", "random", "urandom", "tty")
    # Hold the host's nodes (systemd mknods its own) before the new /dev covers them.
    held = {name: os.open(f"/dev/{name}", os.O_PATH) for name in names}
    run("mount", "-t", "tmpfs", "-o", "mode=755,nosuid", "tmpfs", "/dev")
    for name, fd in held.items():
        open(f"/dev/{name}", "w").close()
        bind(f"/proc/self/fd/{fd}", f"/dev/{name}")
        os.close(fd)
    os.makedirs("/dev/shm")
    os.makedirs("/dev/pts")
    run("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm")


def syscall_group(name: str) -> list[str]:
    """The calls of a systemd syscall group, as this host's systemd defines it."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True, check=True)
    return [line.strip() for line in out.stdout.splitlines()[1:]
            if line.strip() and not line.strip().startswith(("#", "@"))]


def seccomp_rules(directives: set[str]) -> sc.SyscallFilter | None:
    f = sc.SyscallFilter(sc.ALLOW)
    used = False

    def eperm(name: str, *args: sc.Arg, err: int = errno.EPERM) -> None:
        nonlocal used
        used = True
        if sc.resolve_syscall(sc.Arch.NATIVE, name) >= 0:
            f.add_rule(sc.ERRNO(err), name, *args)

    if "SystemCallArchitectures=native" in directives:
        used = True
        f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    if "LockPersonality=yes" in directives:
        # Any other execution domain than PER_LINUX (the low byte; the query 0xffffffff passes).
        for domain in range(1, 0xFF):
            eperm("personality", sc.Arg(0, sc.MASKED_EQ, 0xFF, domain))
    if "RestrictRealtime=yes" in directives:
        for policy in (SCHED_FIFO, SCHED_RR, SCHED_DEADLINE):
            eperm("sched_setscheduler", sc.Arg(1, sc.EQ, policy))
    if "RestrictSUIDSGID=yes" in directives:
        for bit in (S_ISUID, S_ISGID):
            eperm("chmod", sc.Arg(1, sc.MASKED_EQ, bit, bit))
            eperm("fchmod", sc.Arg(1, sc.MASKED_EQ, bit, bit))
            eperm("fchmodat", sc.Arg(2, sc.MASKED_EQ, bit, bit))
    if "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK" in directives:
        for family in range(AF_MAX):
            if family not in (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK):
                eperm("socket", sc.Arg(0, sc.EQ, family), err=errno.EAFNOSUPPORT)
    if "PrivateDevices=yes" in directives:
        for name in ("ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write"):
            eperm(name)
    if "ProtectKernelModules=yes" in directives:
        for name in ("init_module", "finit_module", "delete_module"):
            eperm(name)
    if "ProtectKernelLogs=yes" in directives:
        eperm("syslog")
    if "ProtectClock=yes" in directives:
        for name in ("adjtimex", "clock_adjtime", "clock_settime", "settimeofday"):
            eperm(name)
    if "MemoryDenyWriteExecute=yes" in directives:
        eperm("mmap", sc.Arg(2, sc.MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC))
        eperm("mprotect", sc.Arg(2, sc.MASKED_EQ, PROT_EXEC, PROT_EXEC))
        eperm("pkey_mprotect", sc.Arg(2, sc.MASKED_EQ, PROT_EXEC, PROT_EXEC))
    if "ProtectHostname=yes" in directives:
        eperm("sethostname")
        eperm("setdomainname")
    for d in directives:
        if d.startswith("SystemCallFilter=~"):
            # Without SystemCallErrorNumber= systemd kills the process (SIGSYS).
            action = sc.ERRNO(errno.EPERM) if "SystemCallErrorNumber=EPERM" in directives else sc.KILL_PROCESS
            for group in d.removeprefix("SystemCallFilter=~").split():
                for name in syscall_group(group) if group.startswith("@") else [group]:
                    if sc.resolve_syscall(sc.Arch.NATIVE, name) >= 0:
                        used = True
                        f.add_rule(action, name)
    if "RestrictNamespaces=yes" in directives:
        for flag in NAMESPACE_FLAGS:
            eperm("unshare", sc.Arg(0, sc.MASKED_EQ, flag, flag))
            eperm("clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        eperm("setns")
    return f if used else None


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--directive", action="append", default=[])
    p.add_argument("--writable", action="append", default=[])
    p.add_argument("--reachable-install", action="store_true",
                   help="no directives: let other users reach the install, as if it were packaged")
    p.add_argument("command", nargs="+")
    args = p.parse_args()
    directives = set(args.directive)
    hidden = [root for d, roots in HIDES.items() if d in directives for root in roots]
    opened = unreachable_ancestors() if args.reachable_install else []
    keep = install_paths([*hidden, *opened])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    run("mount", "--make-rprivate", "/")
    # Handles on the install, taken in the new namespace (a bind's source must be in the
    # caller's) before anything is mounted over it.
    held = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in keep}
    for path in opened:
        fresh_tmpfs(path, "mode=0755", keep)
    if "PrivateDevices=yes" in directives:
        private_devices()
    if "PrivateTmp=yes" in directives:
        for path in ("/tmp", "/var/tmp"):
            fresh_tmpfs(path, "mode=1777", keep)
    if "ProtectSystem=strict" in directives:
        read_only_except_api([*args.writable, "/tmp", "/var/tmp"] if "PrivateTmp=yes" in directives
                             else args.writable)
    if "ProtectHome=yes" in directives:
        inaccessible("/home", "/root", "/run/user", keep=keep)
    # Last, so that no later mount (ProtectSystem='s re-bind of /tmp is not recursive) covers them.
    for path, fd in held.items():
        bind(f"/proc/self/fd/{fd}", path)
        run("mount", "-o", "remount,bind,ro", path)
        os.close(fd)
    if "ProtectKernelModules=yes" in directives:
        inaccessible("/usr/lib/modules")
    if "ProtectKernelTunables=yes" in directives:
        # /sys too, but not /sys/fs/cgroup below it (ProtectControlGroups= is separate).
        for path in ("/proc/sys", "/proc/sysrq-trigger"):
            if not os.path.exists(path):
                continue
            run("mount", "--bind", path, path)
            run("mount", "-o", "remount,bind,ro", path)
    if "ProtectControlGroups=yes" in directives:
        run("mount", "--rbind", "/sys/fs/cgroup", "/sys/fs/cgroup")
        for point in mountpoints():
            if point == "/sys/fs/cgroup" or point.startswith("/sys/fs/cgroup/"):
                run("mount", "-o", "remount,bind,ro", point)
    if "ProtectProc=invisible" in directives:
        run("mount", "-t", "proc", "-o", "hidepid=invisible", "proc", "/proc")
    setpriv = ["setpriv"]
    if "NoNewPrivileges=yes" in directives:
        setpriv.append("--no-new-privs")
    for d in directives:
        if d.startswith("CapabilityBoundingSet="):
            caps = d.removeprefix("CapabilityBoundingSet=").split()
            setpriv.append("--bounding-set=-all," + ",".join("+" + c.lower().removeprefix("cap_") for c in caps))
    flt = seccomp_rules(directives)
    if flt is not None:
        flt.load()
    os.execvp(setpriv[0], [*setpriv, "--", *args.command])


if __name__ == "__main__":
    sys.exit(main())
