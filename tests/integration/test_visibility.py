"""A run sees no host file, no host process and no network: checked from inside a real run,
against things the test itself holds on the host (a file, its own pid, a listening socket)."""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path

import pytest
from sandboxctl import Client

LANGS = ["python", "javascript"]


def run_json(client: Client, code: str, language: str = "python") -> object:
    r = client.execute(code, language=language, timeout_s=20)
    assert (r.status, r.exit_code) == ("ok", 0), r
    return json.loads(r.stdout)


def test_host_files_are_not_there(client: Client, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(secrets.token_hex(16))
    paths = ["/root", "/home", "/etc/shadow", "/etc/sudoers", "/var", "/sys", "/boot", "/run",
             str(tmp_path), str(secret), "/work/main", os.path.expanduser("~")]
    code = ("import json, os\npaths = " + json.dumps(paths) + "\n"
            "print(json.dumps({p: os.path.exists(p) for p in paths}))\n")
    seen = run_json(client, code)
    assert seen == {p: False for p in paths}, seen


def test_the_root_holds_only_the_interpreters_view(client: Client) -> None:
    listing = run_json(client, "import json, os\nprint(json.dumps(sorted(os.listdir('/'))))\n")
    assert set(listing) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp",
                            "usr", "work"}, listing
    passwd = client.execute("print(open('/etc/passwd').read())").stdout
    host_users = {line.split(":")[0] for line in Path("/etc/passwd").read_text().splitlines() if line}
    seen_users = {line.split(":")[0] for line in passwd.splitlines() if line}
    assert seen_users <= {"root", "sandbox"}, seen_users
    assert host_users - seen_users, "the host has users the run must not see"


def test_read_only_system_and_private_writable_dirs(client: Client) -> None:
    code = ("import json, os\nout = {}\n"
            "for p in ('/usr/probe', '/etc/probe', '/probe', '/work/probe', '/tmp/probe'):\n"
            "    try:\n        open(p, 'w').write('x')\n        out[p] = 'written'\n"
            "    except OSError as e:\n        out[p] = type(e).__name__\n"
            "print(json.dumps(out))\n")
    out = run_json(client, code)
    assert out["/work/probe"] == "written" and out["/tmp/probe"] == "written"
    for p in ("/usr/probe", "/etc/probe", "/probe"):
        assert out[p] != "written", out


@pytest.mark.parametrize("lang", LANGS)
def test_only_its_own_processes_are_visible(client: Client, lang: str) -> None:
    code = {
        "python": "import json, os\nprint(json.dumps(sorted(int(p) for p in os.listdir('/proc') if p.isdigit())))\n",
        "javascript": "console.log(JSON.stringify(require('fs').readdirSync('/proc').filter((p) => /^\\d+$/.test(p))"
                      ".map(Number).sort((a, b) => a - b)));\n",
    }[lang]
    pids = run_json(client, code, lang)
    assert pids == [1, 2], pids  # the worker's init and the program itself


def test_a_child_is_the_only_extra_process(client: Client) -> None:
    code = ("import json, os, time\nif os.fork() == 0:\n    time.sleep(5)\n    os._exit(0)\n"
            "print(json.dumps(sorted(int(p) for p in os.listdir('/proc') if p.isdigit())))\n")
    assert run_json(client, code) == [1, 2, 3]


def test_host_processes_cannot_be_found_or_signalled(client: Client, shared_daemon) -> None:
    targets = [os.getpid(), shared_daemon.process.pid, 1]
    code = ("import json, os\nout = {}\nfor pid in " + json.dumps(targets) + ":\n"
            "    try:\n        os.kill(pid, 0)\n        out[pid] = 'reachable'\n"
            "    except OSError as e:\n        out[pid] = type(e).__name__\n"
            "    out[pid] += ' ' + str(os.path.exists(f'/proc/{pid}/environ') and pid != 1)\n"
            "print(json.dumps(out))\n")
    out = run_json(client, code)
    assert out[str(os.getpid())] == "ProcessLookupError False", out
    assert out[str(shared_daemon.process.pid)] == "ProcessLookupError False", out
    assert shared_daemon.process.poll() is None


def test_runs_as_an_unprivileged_user_with_no_capabilities(client: Client) -> None:
    code = ("import json, os, socket\nstatus = dict(l.split(':\\t', 1) for l in open('/proc/self/status')"
            ".read().splitlines() if ':\\t' in l)\n"
            "print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), status['CapEff'].strip(),"
            " status['CapBnd'].strip(), socket.gethostname()]))\n")
    uid, euid, gid, cap_eff, cap_bnd, host = run_json(client, code)
    assert (uid, euid) != (0, 0) and uid == euid and gid != 0
    assert int(cap_eff, 16) == 0 and int(cap_bnd, 16) == 0
    assert host != socket.gethostname()


def test_no_network_interfaces_but_a_down_loopback(client: Client) -> None:
    code = ("import fcntl, json, socket, struct\n"
            "names = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "flags = struct.unpack('16sH', fcntl.ioctl(s, 0x8913, struct.pack('16sH', b'lo', 0)))[1]\n"
            "print(json.dumps([names, flags & 1]))\n")
    names, up = run_json(client, code)
    assert names == ["lo"], names
    assert up == 0, "loopback is up"


@pytest.mark.parametrize("lang", LANGS)
def test_a_host_loopback_listener_cannot_be_reached(client: Client, host_listener: socket.socket, lang: str) -> None:
    port = host_listener.getsockname()[1]
    code = {
        "python": "import socket\ntry:\n"
                  f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n    print('connected')\n"
                  "except OSError as e:\n    print('failed', type(e).__name__)\n",
        "javascript": f"const s = require('net').connect({port}, '127.0.0.1');\n"
                      "s.on('connect', () => { console.log('connected'); s.destroy(); });\n"
                      "s.on('error', (e) => console.log('failed', e.code));\n",
    }[lang]
    r = client.execute(code, language=lang, timeout_s=20)
    assert r.status == "ok", r
    assert r.stdout.startswith("failed"), r
    with pytest.raises(BlockingIOError):
        host_listener.accept()  # nothing ever connected: the run has ended, nothing is pending


def test_no_udp_or_ipv6_either(client: Client) -> None:
    code = ("import json, socket\nout = []\ntargets = ((socket.AF_INET, socket.SOCK_DGRAM, ('127.0.0.1', 53)),\n"
            "    (socket.AF_INET6, socket.SOCK_STREAM, ('::1', 22)),\n"
            "    (socket.AF_INET, socket.SOCK_DGRAM, ('1.1.1.1', 53)))\n"
            "for fam, typ, addr in targets:\n"
            "    try:\n        s = socket.socket(fam, typ)\n        s.settimeout(2)\n"
            "        s.sendto(b'x', addr) if typ == socket.SOCK_DGRAM else s.connect(addr)\n"
            "        out.append('sent')\n"
            "    except OSError as e:\n        out.append(type(e).__name__)\n"
            "print(json.dumps(out))\n")
    assert "sent" not in run_json(client, code)
