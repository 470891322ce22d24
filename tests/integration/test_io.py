"""What goes into a run (stdin, argv, files, env) and what comes out (UTF-8 and raw bytes)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets

import pytest
from sandboxctl import AsyncClient, Client, RequestRejected

LANGS = ["python", "javascript"]

ECHO_STDIN = {
    "python": "import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n",
    "javascript": "process.stdout.write(require('fs').readFileSync(0));\n",
}
PRINT_ARGV = {
    "python": "import json, sys\nprint(json.dumps(sys.argv[1:]))\n",
    "javascript": "console.log(JSON.stringify(process.argv.slice(2)));\n",
}
PRINT_ENV = {
    "python": "import json, os\nprint(json.dumps(dict(os.environ)))\n",
    "javascript": "console.log(JSON.stringify(process.env));\n",
}
DIGEST_FILES = {
    "python": "import hashlib, json, os\n"
              "names = sorted(os.path.join(d, f)[2:] for d, _, fs in os.walk('.') for f in fs)\n"
              "print(json.dumps({n: hashlib.sha256(open(n, 'rb').read()).hexdigest() for n in names}))\n",
    "javascript": "const fs = require('fs'), path = require('path'), crypto = require('crypto');\n"
                  "const out = {};\n"
                  "const walk = (d) => { for (const e of fs.readdirSync(d, {withFileTypes: true})) {\n"
                  "  const p = d === '.' ? e.name : path.join(d, e.name);\n"
                  "  if (e.isDirectory()) walk(p); else out[p] = crypto.createHash('sha256')"
                  ".update(fs.readFileSync(p)).digest('hex'); } };\n"
                  "walk('.'); console.log(JSON.stringify(out));\n",
}
UNICODE = {
    "python": "print('héllo wörld € 😀 日本')\n",
    "javascript": "console.log('héllo wörld € 😀 日本');\n",
}
WORKER_ENV = {"PATH", "HOME", "LANG", "TMPDIR"}


@pytest.mark.parametrize("lang", LANGS)
def test_stdin_arrives_byte_for_byte(client: Client, lang: str) -> None:
    data = bytes(range(256)) * 400 + "ünïcode\n".encode()
    r = client.execute(ECHO_STDIN[lang], language=lang, stdin=data)
    assert (r.status, r.exit_code) == ("ok", 0), r
    assert r.stdout_bytes == data


@pytest.mark.parametrize("lang", LANGS)
def test_empty_stdin_is_end_of_file(client: Client, lang: str) -> None:
    r = client.execute(ECHO_STDIN[lang], language=lang, timeout_s=5)
    assert (r.status, r.exit_code, r.stdout_bytes) == ("ok", 0, b""), r


@pytest.mark.parametrize("lang", LANGS)
def test_argv_is_passed_verbatim(client: Client, lang: str) -> None:
    args = ["one", "two words", "", "--flag", "ünï €", "a'b\"c", "$HOME"]
    r = client.execute(PRINT_ARGV[lang], language=lang, args=args)
    assert r.status == "ok", r
    assert json.loads(r.stdout) == args


def test_argv0_and_file_are_the_program_file(client: Client) -> None:
    r = client.execute("import sys\nprint(sys.argv[0], __file__, __name__)\n", filename="prog.py")
    assert r.stdout == "prog.py prog.py __main__\n", r


@pytest.mark.parametrize("lang", LANGS)
def test_extra_files_are_in_the_working_directory(client: Client, lang: str) -> None:
    files = {"data.txt": b"hello\n", "nested/dir/blob.bin": bytes(range(256)) * 64, "empty": b""}
    r = client.execute(DIGEST_FILES[lang], language=lang, files=files)
    assert r.status == "ok", r
    got = json.loads(r.stdout)
    program = "main.py" if lang == "python" else "main.js"
    assert set(got) == set(files) | {program}
    for name, data in files.items():
        assert got[name] == hashlib.sha256(data).hexdigest(), name


def test_file_names_that_escape_the_working_directory_are_rejected(client: Client) -> None:
    for name in ("../escape", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(RequestRejected, match="--file"):
            client.execute("print(1)", files={name: b"x"})


@pytest.mark.parametrize("lang", LANGS)
def test_env_is_the_fixed_minimum_plus_what_was_given(client: Client, lang: str) -> None:
    r = client.execute(PRINT_ENV[lang], language=lang, env={"GREETING": "hi there", "EMPTY": ""})
    assert r.status == "ok", r
    env = json.loads(r.stdout)
    assert set(env) == WORKER_ENV | {"GREETING", "EMPTY"}, env
    assert env["GREETING"] == "hi there" and env["EMPTY"] == ""
    assert env["HOME"] == "/work"


def test_given_env_overrides_the_fixed_values(client: Client) -> None:
    r = client.execute(PRINT_ENV["python"], env={"LANG": "C", "HOME": "/tmp"})
    env = json.loads(r.stdout)
    assert (env["LANG"], env["HOME"]) == ("C", "/tmp")


def test_the_daemons_and_the_callers_environment_do_not_leak(shared_daemon, tmp_path) -> None:
    """The CLI's caller and the daemon both have plenty of variables; none reach the run."""
    program = tmp_path / "env.py"
    program.write_text(PRINT_ENV["python"])
    secret = secrets.token_hex(8)
    env = {**os.environ, "SBX_CALLER_SECRET": secret, "AWS_SECRET_ACCESS_KEY": secret}
    p = shared_daemon.ctl("exec", str(program), "--env", "GIVEN=1", env=env)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert set(got) == WORKER_ENV | {"GIVEN"}, got
    assert secret not in p.stdout.decode()
    with open(f"/proc/{shared_daemon.process.pid}/environ", "rb") as f:
        daemon_keys = {item.partition(b"=")[0].decode() for item in f.read().split(b"\0") if item}
    assert daemon_keys - WORKER_ENV, "the check needs a daemon whose environment has more than the run's"


@pytest.mark.parametrize("lang", LANGS)
def test_utf8_output(client: Client, lang: str) -> None:
    r = client.execute(UNICODE[lang], language=lang)
    assert r.stdout == "héllo wörld € 😀 日本\n"
    assert r.usage.stdout_bytes == len(r.stdout.encode())


@pytest.mark.parametrize("lang", LANGS)
def test_invalid_utf8_is_replaced_in_text_and_kept_in_bytes(client: Client, lang: str) -> None:
    code = {
        "python": "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe \\xe2\\x82 end')\n"
                  "sys.stderr.buffer.write(b'\\xc3(')\n",
        "javascript": "process.stdout.write(Buffer.from([0x6f, 0x6b, 0x20, 0xff, 0xfe, 0x20, 0xe2, 0x82,"
                      " 0x20, 0x65, 0x6e, 0x64]));\nprocess.stderr.write(Buffer.from([0xc3, 0x28]));\n",
    }[lang]
    r = client.execute(code, language=lang)
    assert r.stdout_bytes == b"ok \xff\xfe \xe2\x82 end"
    assert r.stderr_bytes == b"\xc3("
    assert r.stdout == "ok \ufffd\ufffd \ufffd end"
    assert r.stderr == "\ufffd("
    json.dumps(r.to_dict())  # the text fields are valid JSON strings


def test_a_character_split_across_writes_decodes_whole(client: Client) -> None:
    """Output arrives in chunks; the text view is decoded once, not chunk by chunk."""
    code = ("import sys, time\nsys.stdout.buffer.write(b'\\xe2\\x82')\nsys.stdout.flush()\ntime.sleep(0.2)\n"
            "sys.stdout.buffer.write(b'\\xac')\n")
    events = list(client.stream(code))
    chunks = [e.data for e in events if e.kind == "stdout"]
    assert b"".join(chunks) == "€".encode()
    assert events[-1].result is not None and events[-1].result.stdout == "€"


@pytest.mark.parametrize("lang", LANGS)
def test_binary_output_on_both_streams(client: Client, lang: str) -> None:
    code = {
        "python": "import sys\nblob = bytes(range(256)) * 512\nsys.stdout.buffer.write(blob)\n"
                  "sys.stderr.buffer.write(blob[::-1])\n",
        "javascript": "const blob = Buffer.alloc(256 * 512); for (let i = 0; i < blob.length; i++) blob[i] = i % 256;\n"
                      "process.stdout.write(blob); process.stderr.write(Buffer.from(blob).reverse());\n",
    }[lang]
    blob = bytes(range(256)) * 512
    r = client.execute(code, language=lang)
    assert r.status == "ok", r
    assert r.stdout_bytes == blob and r.stderr_bytes == blob[::-1]
    assert (r.usage.stdout_bytes, r.usage.stderr_bytes) == (len(blob), len(blob))


def test_each_run_gets_a_fresh_working_directory(client: Client) -> None:
    marker = secrets.token_hex(6)
    write = (f"import os\nfor d in ('.', '/tmp', '/dev/shm'):\n    open(os.path.join(d, '{marker}'), 'w').write('x')\n"
             "print(sorted(os.listdir('.')))\n")
    r = client.execute(write)
    assert (r.status, r.stdout) == ("ok", f"{sorted(['main.py', marker])}\n"), r
    look = (f"import os\nprint([os.path.exists(os.path.join(d, '{marker}')) for d in ('.', '/tmp', '/dev/shm')])\n")
    assert client.execute(look).stdout == "[False, False, False]\n"
    assert not os.path.exists(f"/tmp/{marker}") and not os.path.exists(f"/dev/shm/{marker}")


def test_large_output_under_the_cap_arrives_whole(client: Client) -> None:
    code = "import sys\nfor i in range(20000):\n    print(f'line {i:05d}')\n"
    r = client.execute(code)
    assert r.status == "ok" and not r.stdout_truncated
    lines = r.stdout.splitlines()
    assert lines == [f"line {i:05d}" for i in range(20000)]


@pytest.mark.parametrize("lang", LANGS)
def test_extra_files_can_be_imported(client: Client, lang: str) -> None:
    if lang == "python":
        files = {"helper.py": b"def twice(x):\n    return 2 * x\n"}
        code = "from helper import twice\nprint(twice(21))\n"
    else:
        files = {"helper.js": b"exports.twice = (x) => 2 * x;\n"}
        code = "console.log(require('./helper').twice(21));\n"
    r = client.execute(code, language=lang, files=files)
    assert (r.status, r.stdout) == ("ok", "42\n"), r


def test_undecodable_text_is_refused_by_the_library(client: Client) -> None:
    with pytest.raises(RequestRejected, match="--arg"):
        client.execute("print(1)", args=["\udcff"])


@pytest.mark.parametrize("lang", LANGS)
def test_a_program_can_start_its_own_interpreter(client: Client, lang: str) -> None:
    code = {
        "python": "import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', 'print(6 * 7)'],"
                  " capture_output=True, text=True, check=True).stdout, end='')\n",
        "javascript": "const cp = require('child_process');\n"
                      "process.stdout.write(cp.execFileSync(process.execPath, ['-e', 'console.log(6 * 7)']));\n",
    }[lang]
    r = client.execute(code, language=lang, timeout_s=30)
    assert (r.status, r.exit_code, r.stdout) == ("ok", 0, "42\n"), r


def test_names_the_kernel_would_refuse_are_rejected_up_front(client: Client) -> None:
    for files, filename in (({"x" * 256: b"a"}, ""), ({"d/" + "y" * 300 + "/z": b"a"}, ""),
                            ({}, "p" * 300 + ".py"), ({}, "bad\0name.py")):
        with pytest.raises(RequestRejected, match=r"too long|file name"):
            client.execute("print(1)", files=files, filename=filename)
    for files in ({"a": b"x", "a/b": b"y"}, {"d/e": b"x", "d/e/f/g": b"y"}):
        with pytest.raises(RequestRejected, match="both a file and the directory"):
            client.execute("print(1)", files=files)
    for files in ({"main.py": b"x"}, {"main.py/inner": b"x"}):
        with pytest.raises(RequestRejected, match="overwrite the program"):
            client.execute("print(1)", files=files)
    r = client.execute("print(open('" + "n" * 255 + "').read())", files={"n" * 255: b"fits"})
    assert (r.status, r.stdout) == ("ok", "fits\n"), r


@pytest.mark.parametrize("lang", ["python", "javascript"])
def test_input_larger_than_the_file_size_limit_is_rejected_up_front(client: Client, lang: str) -> None:
    """The worker places its files before every runner has the run's limits in force: a file
    (or program) over --max-file-size is refused by name before anything runs, and one at the
    limit arrives whole."""
    code = {"python": "print(len(open('big', 'rb').read()))\n",
            "javascript": "console.log(require('fs').readFileSync('big').length);\n"}[lang]
    with pytest.raises(RequestRejected, match=r"--file: 'big' is 1048577 bytes, more than --max-file-size \(1 MB\)"):
        client.execute(code, language=lang, files={"big": b"x" * (1 << 20 | 1)}, max_file_size_mb=1)
    with pytest.raises(RequestRejected, match=r"the program is \d+ bytes, more than --max-file-size \(0.5 MB\)"):
        client.execute(code + "#" * (600 << 10), language=lang, max_file_size_mb=0.5)
    r = client.execute(code, language=lang, files={"big": b"x" * (1 << 20)}, max_file_size_mb=1)
    assert (r.status, r.exit_code, r.stdout) == ("ok", 0, f"{1 << 20}\n"), r


def test_output_the_daemons_maximum_allows_reaches_both_clients(daemon_factory) -> None:
    """The admin may allow more output than any fixed client limit would take: 90 MB here."""
    d = daemon_factory({"max_limits": {"max_output_bytes": 200 << 20}, "languages": {"javascript": {"pool_size": 0}}})
    size = 90 << 20
    code = f"import sys\nsys.stdout.write('x' * {size})\n"
    with d.client() as c:
        r = c.execute(code, max_output_bytes=100 << 20)
    assert (r.status, len(r.stdout), r.stdout_truncated) == ("ok", size, False)

    async def through_aio() -> tuple[str, int]:
        async with AsyncClient(d.socket) as c:
            r = await c.execute(code, max_output_bytes=100 << 20)
            return r.status, len(r.stdout_bytes)

    assert asyncio.run(through_aio()) == ("ok", size)
