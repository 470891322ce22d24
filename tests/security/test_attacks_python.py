"""Escape attempts written in Python, run through the real daemon.

Each case asserts the specific answer of the layer that should stop it: the system call the
seccomp filter names in a security_violation, an errno, or a check made on the host. The
program prints "before" first, so a case cannot pass because the program never ran.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import textwrap
from pathlib import Path

import pyseccomp
import pytest
from hostnet import nothing_connected
from sandboxctl import Client

PRELUDE = "import ctypes, errno, json, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n" \
          "libc.syscall.restype = ctypes.c_long\nprint('before', flush=True)\n"


def nr(name: str) -> int:
    """Syscall numbers are resolved here, on the host: libseccomp is not inside the sandbox."""
    number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    assert number >= 0, name
    return number


def run(client: Client, body: str, **kwargs: object):
    return client.execute(PRELUDE + textwrap.dedent(body), language="python", timeout_s=20, **kwargs)


def run_json(client: Client, body: str, **kwargs: object) -> object:
    r = run(client, body, **kwargs)
    assert (r.status, r.exit_code) == ("ok", 0), r
    assert r.stdout.startswith("before\n"), r
    return json.loads(r.stdout.split("\n", 1)[1])


def errno_of(expr: str) -> str:
    """A program printing the errno name `expr` fails with, or "no error"."""
    return textwrap.dedent(f"""
        try:
            {expr}
            print(json.dumps("no error"))
        except OSError as exc:
            print(json.dumps(errno.errorcode[exc.errno]))
        """)


def raw_errno(call: str) -> str:
    """Like errno_of, for a raw libc call answering -1 and errno."""
    return f"rc = {call}\nprint(json.dumps(errno.errorcode.get(ctypes.get_errno()) if rc == -1 else 'no error'))\n"


# ---- calls only an attack makes: killed, and the result names the call ----------------------

KILLED = {
    "ptrace": "libc.ptrace(0, 0, None, None)",  # PTRACE_TRACEME
    "ptrace-attach-init": "libc.ptrace(16, 1, None, None)",  # PTRACE_ATTACH to the worker's pid 1
    "mount": "libc.mount(b'none', b'/work', b'tmpfs', 0, None)",
    "umount2": "libc.umount2(b'/usr', 2)",
    "unshare": "libc.unshare(0x10000000)",  # CLONE_NEWUSER
    "setns": "libc.setns(os.open('/proc/self/ns/net', os.O_RDONLY), 0)",
    "chroot": "os.chroot('/tmp')",
    "pivot_root": "libc.syscall({pivot_root}, b'/tmp', b'/tmp')",
    "keyctl": "libc.syscall({keyctl}, 0, -3, 0)",  # KEYCTL_GET_KEYRING_ID of the session keyring
    "add_key": "libc.syscall({add_key}, b'user', b'k', b'v', 1, -3)",
    "bpf": "libc.syscall({bpf}, 0, ctypes.create_string_buffer(128), 128)",
    "perf_event_open": "libc.syscall({perf_event_open}, ctypes.create_string_buffer(128), 0, -1, -1, 0)",
    "userfaultfd": "libc.syscall({userfaultfd}, 0)",
    "io_uring_setup": "libc.syscall({io_uring_setup}, 8, ctypes.create_string_buffer(120))",
    "kexec_load": "libc.syscall({kexec_load}, 0, 0, None, 0)",
    "init_module": "libc.syscall({init_module}, ctypes.create_string_buffer(64), 64, b'')",
    "finit_module": "libc.syscall({finit_module}, os.open('/usr/bin/python3', os.O_RDONLY), b'', 0)",
    "reboot": "libc.syscall({reboot}, 0xfee1dead, 672274793, 0x4321fedc, None)",
    "setuid": "os.setuid(0)",
    "setgid": "os.setgid(0)",
    "setresuid": "os.setresuid(0, 0, 0)",
    "capset": "libc.capset(ctypes.create_string_buffer(8), ctypes.create_string_buffer(24))",
    "sethostname": "libc.sethostname(b'pwned', 5)",
    "clock_settime": "libc.clock_settime(0, ctypes.create_string_buffer(16))",
    "syslog": "libc.klogctl(3, ctypes.create_string_buffer(64), 64)",
    "swapon": "libc.swapon(b'/work/swap', 0)",
    "process_vm_readv": "libc.syscall({process_vm_readv}, 1, None, 0, None, 0, 0)",
    "pidfd_getfd": "libc.syscall({pidfd_getfd}, os.pidfd_open(1), 6, 0)",  # steal pid 1's listener
    "open_by_handle_at": "libc.syscall({open_by_handle_at}, -100, ctypes.create_string_buffer(64), 0)",
    "clone-newuser": "libc.syscall({clone}, 0x10000000 | 17, None, None, None, None)",
    "clone-newnet": "libc.syscall({clone}, 0x40000000 | 17, None, None, None, None)",
    "ioctl-TIOCSTI": "import fcntl; fcntl.ioctl(0, 0x5412, b'x')",
    # CVE-2019-10063: the kernel reads 32 bits of the command; a 64-bit compare would miss this.
    "ioctl-TIOCSTI-high-bits": "libc.syscall({ioctl}, 0, ctypes.c_ulong(0x100005412), ctypes.c_char_p(b'x'))",
    "ioctl-TIOCLINUX": "libc.syscall({ioctl}, 0, ctypes.c_ulong(0x541C), ctypes.c_char_p(b'\\x06'))",
}
NAMED = {"ptrace-attach-init": "ptrace", "clone-newuser": "clone", "clone-newnet": "clone",
         "ioctl-TIOCSTI": "ioctl", "ioctl-TIOCSTI-high-bits": "ioctl", "ioctl-TIOCLINUX": "ioctl"}


@pytest.mark.parametrize("case", list(KILLED))
def test_attack_only_call_kills_the_run_and_is_named(client: Client, case: str) -> None:
    call = NAMED.get(case, case)
    code = KILLED[case].format(**{name: nr(name) for name in (
        "pivot_root", "keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
        "kexec_load", "init_module", "finit_module", "reboot", "process_vm_readv", "pidfd_getfd",
        "open_by_handle_at", "clone", "ioctl")})
    r = run(client, code + "\nprint('after', flush=True)\n")
    assert r.status == "security_violation", r
    assert r.error == f"forbidden system call {call}: the run was killed", r.error
    assert r.stdout == "before\n"
    assert r.signal == 31


def test_32bit_int80_system_call_kills_the_run(client: Client) -> None:
    # mov eax, 20 (getpid in the i386 table); int 0x80; ret — from an RWX page via ctypes.
    assert os.uname().machine == "x86_64", "this case is written for x86_64 (int 0x80 is its 32-bit entry)"
    r = run(client, """
        import mmap
        page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(bytes([0xb8, 0x14, 0, 0, 0, 0xcd, 0x80, 0xc3]))
        addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
        print(ctypes.CFUNCTYPE(ctypes.c_int)(addr)(), flush=True)
        """)
    assert r.status == "security_violation", r
    assert r.error == "forbidden system call getpid of a foreign ABI (i386): the run was killed", r.error
    assert r.stdout == "before\n"


def test_x32_system_call_kills_the_run(client: Client) -> None:
    assert os.uname().machine == "x86_64", "this case is written for x86_64 (x32 is its ILP32 ABI)"
    # mov eax, 0x40000027 (getpid with the x32 bit); syscall; ret
    r = run(client, """
        import mmap
        page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(bytes([0xb8, 0x27, 0, 0, 0x40, 0x0f, 0x05, 0xc3]))
        addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
        print(ctypes.CFUNCTYPE(ctypes.c_int)(addr)(), flush=True)
        """)
    assert r.status == "security_violation", r
    assert r.error == "forbidden system call getpid of a foreign ABI (x32): the run was killed", r.error
    assert r.stdout == "before\n"


def test_a_violation_in_a_grandchild_kills_the_whole_run(client: Client) -> None:
    r = run(client, """
        import time
        pid = os.fork()
        if pid == 0:
            if os.fork() == 0:
                libc.unshare(0x20000000)
            time.sleep(30)
            os._exit(0)
        time.sleep(30)
        """)
    assert r.status == "security_violation", r
    assert r.error == "forbidden system call unshare: the run was killed"
    assert r.usage.wall_ms < 10_000


# ---- probes: refused with an errno, the program carries on -----------------------------------

PROBES = {
    "socket-inet": ("socket.socket(socket.AF_INET, socket.SOCK_STREAM)", "EPERM"),
    "socket-inet6": ("socket.socket(socket.AF_INET6, socket.SOCK_STREAM)", "EPERM"),
    "socket-udp": ("socket.socket(socket.AF_INET, socket.SOCK_DGRAM)", "EPERM"),
    "socket-raw": ("socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)", "EPERM"),
    "socket-packet": ("socket.socket(socket.AF_PACKET, socket.SOCK_RAW)", "EPERM"),
    "socket-netlink": ("socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)", "EPERM"),
    "socket-vsock": ("socket.socket(40, socket.SOCK_STREAM)", "EPERM"),
    "socketpair-inet": ("socket.socketpair(socket.AF_INET)", "EPERM"),
    # isolate 2.4-2.6: a lock on a file every run shares read-only lets runs talk or stall.
    "flock-shared-file": ("fcntl.flock(os.open('/usr/bin/python3', os.O_RDONLY), fcntl.LOCK_EX)", "EPERM"),
    "lease-shared-file": ("fcntl.fcntl(os.open('/usr/bin/python3', os.O_RDONLY), 1024, fcntl.F_RDLCK)", "EPERM"),
    "memfd": ("os.memfd_create('x')", "EPERM"),
    "chown": ("os.chown('/work', 0, 0)", "EPERM"),
    "mknod": ("os.mknod('/work/null', 0o20666, os.makedev(1, 3))", "EPERM"),
    "setpriority-raise": ("os.setpriority(os.PRIO_PROCESS, 0, -10)", "EPERM"),
    "sched-setaffinity": ("os.sched_setaffinity(0, {0})", "EPERM"),
}


@pytest.mark.parametrize("case", list(PROBES))
def test_probe_is_refused_with_errno(client: Client, case: str) -> None:
    expr, expected = PROBES[case]
    assert run_json(client, "import fcntl, socket\n" + errno_of(expr)) == expected


RAW_PROBES = {
    # clone3 hides its flags from the filter: ENOSYS makes libc fall back to clone.
    "clone3": ("libc.syscall({clone3}, ctypes.create_string_buffer(88), 88)", "ENOSYS"),
    "seccomp-stacking": ("libc.syscall({seccomp}, 1, 0, None)", "EPERM"),
    "personality-change": ("libc.personality(0x0040000)", "EPERM"),  # ADDR_NO_RANDOMIZE
    "personality-32bit": ("libc.personality(0x0008)", "EPERM"),  # PER_LINUX32
    "prctl-ptracer-any": ("libc.prctl(0x59616d61, ctypes.c_ulong(-1), 0, 0, 0)", "EPERM"),
    "prctl-ambient-raise": ("libc.prctl(47, 2, 21, 0, 0)", "EPERM"),  # PR_CAP_AMBIENT_RAISE SYS_ADMIN
    "prctl-set-mm": ("libc.prctl(35, 1, 0, 0, 0)", "EPERM"),
    "prctl-securebits": ("libc.prctl(28, 0, 0, 0, 0)", "EPERM"),
    "unlisted-aio": ("libc.syscall({io_setup}, 8, ctypes.byref(ctypes.c_ulong()))", "ENOSYS"),
}


@pytest.mark.parametrize("case", list(RAW_PROBES))
def test_raw_probe_is_refused_with_errno(client: Client, case: str) -> None:
    call, expected = RAW_PROBES[case]
    code = call.format(clone3=nr("clone3"), seccomp=nr("seccomp"), io_setup=nr("io_setup"))
    assert run_json(client, raw_errno(code)) == expected


# ---- host secrets and the host file system ---------------------------------------------------

def test_host_secrets_are_absent(client: Client, shared_daemon, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text("host secret")
    paths = ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/root/.ssh", shared_daemon.socket,
             str(shared_daemon.config_path), str(shared_daemon.log_path), str(canary)]
    got = run_json(client, "out = {}\n" + "".join(
        f"try:\n    open({p!r}).read()\n    out[{p!r}] = 'read'\nexcept OSError as e:\n"
        f"    out[{p!r}] = errno.errorcode[e.errno]\n" for p in paths) + "print(json.dumps(out))\n")
    assert got == dict.fromkeys(paths, "ENOENT")


def test_daemon_socket_cannot_be_connected(client: Client, shared_daemon) -> None:
    got = run_json(client, "import socket\n" + errno_of(
        f"socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect({shared_daemon.socket!r})"))
    assert got == "ENOENT"


def test_no_process_environment_but_the_fixed_one(client: Client) -> None:
    got = run_json(client, """
        seen, refused = {}, []
        for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
            try:
                data = open(f'/proc/{pid}/environ', 'rb').read()
            except OSError as e:
                refused.append((pid, errno.errorcode[e.errno]))
                continue
            seen[pid] = sorted(k.split(b'=')[0].decode() for k in data.split(b'\\0') if k)
        print(json.dumps({"seen": seen, "refused": refused, "me": str(os.getpid())}))
        """)
    assert got["refused"] == [["1", "EACCES"]]  # pid 1 is non-dumpable: its /proc is root's
    assert set(got["seen"]) == {got["me"]}
    for keys in got["seen"].values():
        assert set(keys) <= {"PATH", "HOME", "LANG", "TMPDIR"}


def test_init_descriptors_and_memory_are_out_of_reach(client: Client) -> None:
    got = run_json(client, """
        out = {}
        for p in ['/proc/1/fd/6', '/proc/1/fd/4', '/proc/1/mem', '/proc/1/root/etc', '/proc/1/cwd/x', '/proc/1/maps']:
            try:
                open(p).read()
                out[p] = 'read'
            except OSError as e:
                out[p] = errno.errorcode[e.errno]
        print(json.dumps(out))
        """)
    assert got == dict.fromkeys(got, "EACCES") and len(got) == 6


def test_writes_outside_the_working_directory_fail(client: Client) -> None:
    token = secrets.token_hex(6)
    targets = [f"/usr/lib/{token}", f"/{token}", "/etc/passwd", f"/proc/{token}", f"/dev/{token}"]
    got = run_json(client, "out = {}\n" + "".join(
        f"try:\n    open({t!r}, 'w').write('x')\n    out[{t!r}] = 'written'\nexcept OSError as e:\n"
        f"    out[{t!r}] = errno.errorcode[e.errno]\n" for t in targets) + "print(json.dumps(out))\n")
    assert set(got.values()) <= {"EROFS", "EACCES", "ENOENT"} and "written" not in got.values(), got
    assert not os.path.exists(f"/usr/lib/{token}") and not os.path.exists(f"/{token}")


def test_symlinks_lead_nowhere_outside(client: Client) -> None:
    got = run_json(client, """
        out = {}
        for name, target in [('s1', '/etc/shadow'), ('s2', '/proc/1/root/etc/hostname'),
                             ('s3', '../../../../../../etc/shadow'), ('s4', '/proc/self/root/etc/shadow')]:
            os.symlink(target, name)
            try:
                open(name).read()
                out[name] = 'read'
            except OSError as e:
                out[name] = errno.errorcode[e.errno]
        print(json.dumps(out))
        """)
    assert got == {"s1": "ENOENT", "s2": "EACCES", "s3": "ENOENT", "s4": "ENOENT"}


def test_hardlinks_to_shared_files_are_refused(client: Client) -> None:
    got = run_json(client, errno_of("os.link('/usr/bin/python3', '/work/py')"))
    assert got == "EXDEV"


def test_dotdot_and_proc_self_root_stay_in_the_private_root(client: Client) -> None:
    got = run_json(client, """
        os.chdir('../../../../..')
        print(json.dumps({"cwd": os.getcwd(), "root": sorted(os.listdir('.')),
                          "via_proc": sorted(os.listdir('/proc/self/root')),
                          "same": os.stat('/proc/self/root').st_ino == os.stat('/').st_ino}))
        """)
    assert got["cwd"] == "/" and got["same"] is True
    assert got["root"] == got["via_proc"]
    assert set(got["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "tmp", "usr",
                                "work"}


def test_only_minimal_dev_and_no_sys(client: Client) -> None:
    got = run_json(client, "print(json.dumps({'dev': sorted(os.listdir('/dev')), 'sys': os.path.exists('/sys')}))")
    assert got == {"dev": ["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "urandom", "zero"],
                   "sys": False}


def test_setuid_binaries_cannot_be_run_and_mounts_are_nosuid(client: Client) -> None:
    got = run_json(client, """
        import stat, subprocess
        suid = sorted(p for p in (os.path.join('/usr/bin', n) for n in os.listdir('/usr/bin'))
                      if os.path.isfile(p) and os.stat(p).st_mode & stat.S_ISUID)
        results = {}
        for p in suid:
            try:
                subprocess.run([p, '--help'], capture_output=True)
                results[p] = 'ran'
            except OSError as e:
                results[p] = errno.errorcode[e.errno]
        mounts = [line.split()[5] for line in open('/proc/self/mountinfo')]
        print(json.dumps({"suid": results, "nosuid": all('nosuid' in m for m in mounts), "mounts": len(mounts)}))
        """)
    assert got["suid"], "expected the host's setuid binaries (su, mount…) to be visible under /usr/bin"
    assert set(got["suid"].values()) == {"EACCES"}, got["suid"]
    assert got["nosuid"] is True and got["mounts"] > 3


def test_privileges_are_gone(client: Client) -> None:
    got = run_json(client, """
        status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines() if ':\\t' in line)
        print(json.dumps({k: status[k].strip() for k in ('Uid', 'Gid', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd',
                                                          'CapAmb', 'NoNewPrivs', 'Seccomp')}
                         | {"securebits": libc.prctl(27, 0, 0, 0, 0)}))
        """)
    assert got["Uid"].split() == ["1000"] * 4 and got["Gid"].split() == ["1000"] * 4
    assert {got[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")} == {"0000000000000000"}
    assert got["NoNewPrivs"] == "1" and got["Seccomp"] == "2"
    # noroot, no_setuid_fixup, keep_caps off — each with its lock bit.
    assert got["securebits"] == 0x2F


# ---- network ---------------------------------------------------------------------------------

def test_host_loopback_listener_is_unreachable(client: Client, host_listener: socket.socket) -> None:
    port = host_listener.getsockname()[1]
    got = run_json(client, "import socket\n" + errno_of(f"socket.create_connection(('127.0.0.1', {port}), 2)"))
    assert got == "EPERM"
    assert nothing_connected(host_listener)


def test_dns_resolution_fails(client: Client) -> None:
    got = run_json(client, """
        import socket
        try:
            socket.getaddrinfo('example.com', 80)
            print(json.dumps('resolved'))
        except socket.gaierror as e:
            print(json.dumps(e.errno in (socket.EAI_NONAME, socket.EAI_AGAIN, socket.EAI_FAIL, socket.EAI_SYSTEM)))
        """)
    assert got is True


def test_landlock_alone_denies_tcp(daemon_factory, host_listener: socket.socket) -> None:
    """With seccomp off the socket exists, and Landlock (ABI >= 4) refuses connect and bind."""
    d = daemon_factory({"sandbox": {"seccomp": False}, "languages": {"javascript": {"pool_size": 0},
                                                                      "python": {"pool_size": 1}}})
    port = host_listener.getsockname()[1]
    with d.client() as c:
        got = run_json(c, f"""
            import socket
            out = {{}}
            for what, fn in [('connect', lambda s: s.connect(('127.0.0.1', {port}))),
                             ('bind', lambda s: s.bind(('0.0.0.0', 8080)))]:
                try:
                    fn(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    out[what] = 'done'
                except OSError as e:
                    out[what] = errno.errorcode[e.errno]
            print(json.dumps(out))
            """)
    assert got == {"connect": "EACCES", "bind": "EACCES"}
    assert nothing_connected(host_listener)


# ---- processes, signals and other runs -------------------------------------------------------

def test_kill_everything_only_reaches_the_run_itself(client: Client, shared_daemon) -> None:
    r = run(client, """
        import signal, time
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        os.kill(-1, signal.SIGKILL)
        print('survived, child', os.waitpid(child, 0)[1] & 0x7f)
        """)
    assert (r.status, r.stdout) == ("ok", "before\nsurvived, child 9\n"), r
    assert shared_daemon.process.poll() is None
    assert client.execute("print(1)").stdout == "1\n"


def test_the_daemon_cannot_be_signalled(client: Client, shared_daemon) -> None:
    got = run_json(client, "import signal\n" + errno_of(f"os.kill({shared_daemon.process.pid}, signal.SIGTERM)"))
    assert got == "ESRCH"
    assert shared_daemon.process.poll() is None


def test_a_concurrent_run_is_neither_visible_nor_killable(shared_daemon) -> None:
    import threading

    token = secrets.token_hex(8)
    victim: dict[str, object] = {}

    def victim_run() -> None:
        with Client(shared_daemon.socket) as c:
            victim["r"] = c.execute(f"""
import os, time
for d in ('/work', '/tmp', '/dev/shm'):
    open(os.path.join(d, 'secret'), 'w').write('{token}')
time.sleep(2.5)
print('victim done')
""", language="python", timeout_s=20)

    t = threading.Thread(target=victim_run)
    t.start()
    import time
    time.sleep(1.0)
    with Client(shared_daemon.socket) as c:
        got = run_json(c, f"""
            import signal
            found = []
            for d in ('/work', '/tmp', '/dev/shm'):
                for root, _, files in os.walk(d):
                    for f in files:
                        try:
                            if '{token[:8]}' + '{token[8:]}' in open(os.path.join(root, f)).read():
                                found.append(os.path.join(root, f))
                        except OSError:
                            pass
            killed = []
            for pid in (int(p) for p in os.listdir('/proc') if p.isdigit()):
                if pid not in (1, os.getpid()):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            print(json.dumps({{"found": found, "killed": killed}}))
            """)
    t.join(30)
    assert got == {"found": [], "killed": []}
    assert victim["r"].status == "ok" and victim["r"].stdout == "victim done\n", victim["r"]


def test_no_state_passes_to_the_next_run(client: Client) -> None:
    token = secrets.token_hex(8)
    first = run(client, f"""
        for d in ('/work', '/tmp', '/dev/shm'):
            open(os.path.join(d, 'state'), 'w').write('{token}')
        print('written')
        """)
    assert first.stdout == "before\nwritten\n"
    for _ in range(3):  # whichever worker serves next
        got = run_json(client, "print(json.dumps([os.path.exists(os.path.join(d, 'state')) "
                               "for d in ('/work', '/tmp', '/dev/shm')]))")
        assert got == [False, False, False]


def test_fork_bomb_is_contained(client: Client, shared_daemon) -> None:
    r = run(client, """
        import time
        children = 0
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
            except BlockingIOError:
                print('refused after', children, flush=True)
                sys.exit(1)
        """, max_processes=32)
    assert r.status == "process_limit", r
    assert "refused after" in r.stdout and int(r.stdout.split()[-1]) <= 32
    assert client.execute("print(1)").stdout == "1\n"


def test_thread_bomb_is_contained(client: Client) -> None:
    r = run(client, """
        import threading, time
        n = 0
        try:
            while True:
                threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
                n += 1
        except RuntimeError:
            print('refused after', n, flush=True)
            os._exit(1)
        """, max_processes=24)
    assert r.status == "process_limit", r
    assert int(r.stdout.split()[-1]) <= 24


def test_a_detached_survivor_is_gone_after_the_run(client: Client) -> None:
    marker = f"survivor-{secrets.token_hex(6)}"
    r = run(client, f"""
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv('/usr/bin/python3', ['python3', '-c', 'import time; time.sleep(60)', '{marker}'])
            os._exit(0)
        os.wait()
        print('parent leaves')
        """)
    assert r.stdout == "before\nparent leaves\n", r
    import time
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, marker)]
        if not alive:
            break
        time.sleep(0.05)
    assert alive == []


def _cmdline_has(pid: str, marker: str) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_a_self_raised_sigsys_is_not_a_violation(client: Client) -> None:
    """Only pid 1's seccomp listener reports violations; any program may raise SIGSYS itself."""
    r = run(client, "import signal\nos.kill(os.getpid(), signal.SIGSYS)\n")
    assert (r.status, r.signal, r.error) == ("killed", 31, None), r


def test_an_exec_mode_python_worker_is_filtered_the_same(daemon_factory) -> None:
    """mode = "exec" starts a fresh interpreter as the runner (pid 1 execs nothing): the filter
    must survive that execve, and pid 1 still hears the violation."""
    d = daemon_factory({"languages": {"python": {"mode": "exec", "pool_size": 1}, "javascript": {"pool_size": 0}}})
    with d.client() as c:
        assert run_json(c, "import socket\n" + errno_of("socket.socket(socket.AF_INET)")) == "EPERM"
        r = run(c, "libc.ptrace(0, 0, None, None)\nprint('after')\n")
        assert r.status == "security_violation", r
        assert (r.error, r.stdout) == ("forbidden system call ptrace: the run was killed", "before\n")


def test_kernel_interfaces_in_proc_are_closed(client: Client) -> None:
    got = run_json(client, """
        out = {}
        for p, mode in [('/proc/sysrq-trigger', 'w'), ('/proc/kcore', 'rb'), ('/proc/kmsg', 'rb'),
                        ('/proc/sys/kernel/hostname', 'w'), ('/proc/sys/kernel/core_pattern', 'w'),
                        ('/proc/sys/vm/drop_caches', 'w'), ('/proc/self/oom_score_adj', 'w'), ('/proc/1/mem', 'rb')]:
            try:
                with open(p, mode) as f:
                    f.write('1') if 'w' in mode else f.read(16)
                out[p] = 'done'
            except OSError as e:
                out[p] = errno.errorcode[e.errno]
        out['kallsyms'] = sorted({line.split()[0] for line in open('/proc/kallsyms') if line.strip()})
        out['keys'] = open('/proc/keys').read() + open('/proc/key-users').read()
        print(json.dumps(out))
        """)
    # sysrq-trigger and kcore are not even there: this /proc belongs to the worker's own
    # namespaces; /proc/sys and every other write is refused; no kernel address or key leaks.
    assert got.pop("kallsyms") == ["0000000000000000"]
    assert got.pop("keys") == ""
    assert got == {"/proc/sysrq-trigger": "ENOENT", "/proc/kcore": "ENOENT", "/proc/kmsg": "EACCES",
                   "/proc/sys/kernel/hostname": "EACCES", "/proc/sys/kernel/core_pattern": "EACCES",
                   "/proc/sys/vm/drop_caches": "EACCES", "/proc/self/oom_score_adj": "EACCES", "/proc/1/mem": "EACCES"}
