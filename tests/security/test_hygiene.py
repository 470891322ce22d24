"""What a run starts with: its own pipes only, a fixed environment, umask 077, a private /tmp
and /dev/shm, nothing of the daemon — checked from inside Python runs."""

from __future__ import annotations

import json
import signal
import textwrap
from pathlib import Path

from sandboxctl import Client


def run_json(client: Client, code: str, **kwargs: object) -> object:
    r = client.execute(textwrap.dedent(code), language="python", timeout_s=20, **kwargs)
    assert (r.status, r.exit_code) == ("ok", 0), r
    return json.loads(r.stdout)


def test_only_the_runs_own_descriptors(client: Client) -> None:
    """0-2, and 5: the write end of the exit pipe, on which the runner reports the exit code
    (runners/init.py). Each is a pipe of its own."""
    got = run_json(client, """
        import json, os
        names = {}
        for n in os.listdir('/proc/self/fd'):
            try:
                names[n] = os.readlink(f'/proc/self/fd/{n}')
            except FileNotFoundError:
                names[n] = 'closed'  # the descriptor listdir itself used
        with open('/proc/self/fdinfo/5') as f:
            flags = next(int(line.split()[1], 8) for line in f if line.startswith('flags:'))
        print(json.dumps({"fds": names, "exit_pipe_access": flags & os.O_ACCMODE}))
        """)
    names = got["fds"]
    own = {n: t for n, t in names.items() if t != "closed"}
    assert sorted(own) == ["0", "1", "2", "5"], got
    assert all(t.startswith("pipe:") for t in own.values()) and len(set(own.values())) == 4
    assert len(names) == 5
    assert got["exit_pipe_access"] == 1  # O_WRONLY


def test_a_fixed_minimal_environment(client: Client) -> None:
    got = run_json(client, "import json, os\nprint(json.dumps(dict(os.environ)))\n", env={"MINE": "1"})
    assert got == {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/work", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
                   "MINE": "1"}


def test_umask_and_file_modes(client: Client) -> None:
    got = run_json(client, """
        import json, os, stat
        open('f', 'w').close()
        os.mkdir('d')
        print(json.dumps({"umask": os.umask(0o077), "file": stat.S_IMODE(os.stat('f').st_mode),
                          "dir": stat.S_IMODE(os.stat('d').st_mode), "cwd": os.getcwd()}))
        """)
    assert got == {"umask": 0o077, "file": 0o600, "dir": 0o700, "cwd": "/work"}


def test_identity_inside(client: Client) -> None:
    got = run_json(client, """
        import json, os, socket
        print(json.dumps({"ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()], "groups": os.getgroups(),
                          "host": socket.gethostname(), "domain": os.uname().nodename}))
        """)
    assert got == {"ids": [1000, 1000, 1000, 1000], "groups": [], "host": "sandbox", "domain": "sandbox"}


def test_private_tmp_and_shm_are_empty_and_private(client: Client) -> None:
    got = run_json(client, """
        import json, os, stat
        out = {}
        for d in ('/tmp', '/dev/shm', '/work'):
            st = os.stat(d)
            out[d] = {"entries": [n for n in os.listdir(d) if n != 'main.py'], "uid": st.st_uid,
                      "mounted": os.path.ismount(d)}
        print(json.dumps(out))
        """)
    for d in ("/tmp", "/dev/shm", "/work"):
        assert got[d] == {"entries": [], "uid": 1000, "mounted": True}, (d, got[d])


def test_nothing_of_the_daemon_in_the_interpreter(client: Client) -> None:
    got = run_json(client, """
        import json, sys
        print(json.dumps({"modules": sorted(m for m in sys.modules if m.split('.')[0] in
                                            ('sandboxd', 'sandboxctl', 'grpc', 'prctl', 'pyseccomp')),
                          "path": [p for p in sys.path if 'venv' in p or 'sandboxd' in p]}))
        """)
    assert got == {"modules": [], "path": []}


def test_no_exit_work_left_by_the_daemon(client: Client) -> None:
    """A fork-mode run inherits the fork server's interpreter: an exit hook or finalizer it
    registered (pyseccomp's filters had one) would run on every run's exit path, touching
    pages the run never used. The run starts with none of anybody else's."""
    got = run_json(client, """
        import atexit, json, weakref
        print(json.dumps({"finalizers": [repr(info.func) for info in weakref.finalize._registry.values()],
                          "finalize_hook": weakref.finalize._registered_with_atexit,
                          "atexit": atexit._ncallbacks()}))
        """)
    assert got == {"finalizers": [], "finalize_hook": False, "atexit": 0}


def test_no_seccomp_library_is_mapped_into_a_run(client: Client) -> None:
    """The daemon compiles the filters; the fork server (and so every fork-mode run) never
    loads libseccomp or its binding: they would be heap and mappings every worker copies."""
    got = run_json(client, """
        import json
        with open('/proc/self/maps') as f:
            print(json.dumps(sorted({line.split()[-1] for line in f if '/' in line})))
        """)
    assert any("python3" in path for path in got), got
    assert not [path for path in got if "seccomp" in path], got


def test_the_runners_exit_path_imports_nothing(client: Client) -> None:
    """After the program, the runner joins threads, runs atexit and reports the exit code; an
    import there (atexit's was one) is ~145 us of import machinery on every run's response
    path. A finder the program installs sees any import that happens after it."""
    code = """
        import os, sys

        class Recorder:
            def find_spec(self, name, path=None, target=None):
                os.write(2, f"imported {name}\\n".encode())
                return None

        sys.meta_path.insert(0, Recorder())
        """
    r = client.execute(textwrap.dedent(code), language="python")
    assert (r.status, r.exit_code, r.stderr) == ("ok", 0, ""), r


def test_no_process_of_the_run_shows_the_daemons_command_line(client: Client) -> None:
    """Fork-mode workers are forked from the zygote, whose argv names the daemon's install
    and module directories; every process the run can see must show none of it."""
    import sandboxd

    install = str(Path(sandboxd.__file__).resolve().parents[1])
    got = run_json(client, """
        import json, os
        lines = {}
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    lines[pid] = f.read().replace(b'\\0', b' ').decode().strip()
        print(json.dumps(lines))
        """)
    assert set(got) >= {"1", "2"}, got
    leaked = {pid: line for pid, line in got.items() if install in line or "zygote" in line or "venv" in line}
    assert not leaked, leaked


def test_signal_dispositions_are_a_fresh_processs(client: Client) -> None:
    got = run_json(client, """
        import json, signal
        ignored = int(open('/proc/self/status').read().split('SigIgn:')[1].split()[0], 16)
        print(json.dumps({"ignored": [s for s in range(1, 65) if ignored >> (s - 1) & 1],
                          "sigint": signal.getsignal(signal.SIGINT) is signal.default_int_handler}))
        """)
    assert got == {"ignored": [13], "sigint": True}  # SIGPIPE, as Python itself sets it up
    # Uncaught, the KeyboardInterrupt ends the program by SIGINT, as under `python3 main.py`.
    r = client.execute("import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n", language="python")
    assert (r.status, r.exit_code, r.signal) == ("killed", None, signal.SIGINT), r
    assert r.stderr.rstrip().endswith("KeyboardInterrupt"), r


def test_the_workers_init_ignores_the_signals_a_run_can_send(client: Client) -> None:
    code = """
        import os, signal, time
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGCHLD):
            os.kill(1, sig)
        time.sleep(0.3)
        print('init still there')
        """
    r = client.execute(textwrap.dedent(code), language="python")
    assert (r.status, r.exit_code, r.stdout) == ("ok", 0, "init still there\n"), r
