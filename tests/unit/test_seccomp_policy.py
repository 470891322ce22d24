"""The seccomp policy as data, and the filter it builds loaded into a real (throwaway) process.

The filter is loaded in a fresh interpreter started with subprocess (the test process may hold
gRPC threads, so it never forks); calls that would notify are not made here — with no
supervisor they would block — they are covered through the daemon in tests/security.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap

import pytest
from sandboxd.linux import seccomp_load
from sandboxd.linux import seccomp_policy as sp


def test_complement_masks_match_everything_but_the_excluded_low_bits() -> None:
    excluded = (sp.TIOCSTI, sp.TIOCLINUX)
    masks = sp.complement_masks(excluded)

    def allowed(x: int) -> bool:
        return any((x & m) == v for m, v in masks)

    rng = random.Random(7)
    samples = [0, 1, 0x5411, 0x5413, 0x541B, 0x541D, 0xFFFFFFFF, 0xC0502100]
    samples += [rng.getrandbits(64) for _ in range(20000)]
    for x in samples:
        assert allowed(x) is ((x & 0xFFFFFFFF) not in excluded), hex(x)
    for value in excluded:
        for high in (0, 1 << 32, 0xFFFFFFFF << 32):
            assert not allowed(high | value)


def test_lists_do_not_overlap_and_checked_calls_are_not_plain_allowed() -> None:
    for profile, allow in sp.ALLOW.items():
        assert not set(allow) & set(sp.EPERM), profile
        assert not set(allow) & set(sp.KILL), profile
        assert "clone3" not in allow  # must fall to the default ENOSYS
    assert not set(sp.EPERM) & set(sp.KILL)
    assert not set(sp.FCNTL_ALLOWED) & set(sp.FCNTL_EPERM)
    assert not set(sp.PRCTL_ALLOWED) & set(sp.PRCTL_EPERM)
    assert sp.PR_SET_DUMPABLE not in sp.PRCTL_ALLOWED


def test_every_attack_only_call_of_the_design_is_on_the_kill_list() -> None:
    for name in ("ptrace", "mount", "unshare", "setns", "keyctl", "bpf", "perf_event_open", "userfaultfd",
                 "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
                 "init_module", "finit_module", "reboot"):
        assert name in sp.KILL
        assert sp.number(name) is not None, name


def test_violation_names_come_from_libseccomp() -> None:
    import pyseccomp

    ptrace = sp.number("ptrace")
    assert ptrace is not None
    assert sp.describe_violation(ptrace, pyseccomp.system_arch()) == \
        "forbidden system call ptrace: the run was killed"
    if pyseccomp.system_arch() == pyseccomp.Arch.X86_64:
        assert sp.describe_violation(20, pyseccomp.Arch.X86) == \
            "forbidden system call getpid of a foreign ABI (i386): the run was killed"
        assert sp.describe_violation(0x40000027, pyseccomp.Arch.X86_64) == \
            "forbidden system call getpid of a foreign ABI (x32): the run was killed"


PROBE = """
import ctypes, errno, json, os, socket, sys
import prctl
from sandboxd.linux import pid1, seccomp_policy as sp
prctl.set_no_new_privs(True)
listener = pid1.install_seccomp(sp.program(sys.argv[1]))
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def raw(name, *args):
    rc = libc.syscall(ctypes.c_long(sp.number(name)), *args)
    return "ok" if rc != -1 else errno.errorcode[ctypes.get_errno()]
def call(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
def fork_and_wait():
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    return "ok" if os.waitpid(pid, 0)[1] >> 8 == 7 else "fail"
out = {
    "listener": os.readlink(f"/proc/self/fd/{listener}"),
    "unix": call(lambda: socket.socket(socket.AF_UNIX)),
    "inet": call(lambda: socket.socket(socket.AF_INET)),
    "netlink": call(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),
    "clone3": raw("clone3", ctypes.create_string_buffer(88), ctypes.c_size_t(88)),
    "unlisted": raw("io_setup", 8, ctypes.byref(ctypes.c_ulong())),
    "flock": call(lambda: __import__("fcntl").flock(os.open(sys.executable, os.O_RDONLY), 2)),
    "getpid": raw("getpid"),
    "fork": fork_and_wait(),
    "personality": "ok" if libc.personality(ctypes.c_ulong(0xFFFFFFFF)) != -1 else "fail",
    "personality-minus-1": "ok" if libc.personality(-1) != -1 else "fail",
    "personality-set": "ok" if libc.personality(0x0040000) != -1 else errno.errorcode[ctypes.get_errno()],
    "dumpable-0": "ok" if libc.prctl(4, 0, 0, 0, 0) == 0 else errno.errorcode[ctypes.get_errno()],
    "dumpable-1": "ok" if libc.prctl(4, 1, 0, 0, 0) == 0 else errno.errorcode[ctypes.get_errno()],
    "set-name": "ok" if libc.prctl(15, b"x", 0, 0, 0) == 0 else errno.errorcode[ctypes.get_errno()],
}
print(json.dumps(out))
"""


@pytest.mark.parametrize("profile", [sp.PYTHON, sp.NODE])
def test_loaded_filter_answers_as_designed(profile: str) -> None:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBE), profile], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == {"listener": "anon_inode:seccomp notify", "unix": "ok", "inet": "EPERM", "netlink": "EPERM",
                   "clone3": "ENOSYS", "unlisted": "ENOSYS", "flock": "EPERM", "getpid": "ok", "fork": "ok",
                   "personality": "ok", "personality-minus-1": "ok", "personality-set": "EPERM",
                   "dumpable-0": "ok", "dumpable-1": "EPERM",
                   "set-name": "ok"}


def test_each_profile_compiles_once_to_a_program_the_kernel_takes() -> None:
    """What the fork server receives and installs (the probe above installs the same)."""
    for profile in sp.ALLOW:
        program = sp.program(profile)
        assert program is sp.program(profile)
        assert seccomp_load.check(program) == program
        assert len(program) // seccomp_load.BPF_INSTRUCTION <= seccomp_load.BPF_MAXINSNS
        assert program == sp.compile_program(sp.build_filter(sp.policy_for(profile)))


@pytest.mark.parametrize("size", [0, 7, 12, (seccomp_load.BPF_MAXINSNS + 1) * seccomp_load.BPF_INSTRUCTION])
def test_a_program_the_kernel_would_refuse_is_refused_by_name(size: int) -> None:
    with pytest.raises(OSError, match="not a BPF program"):
        seccomp_load.check(b"\0" * size)
