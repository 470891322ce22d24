"""The linter as users meet it: `sandboxctl lint` and `exec` through a real daemon.

Every test goes through the installed CLI (or the client library) and the daemon's gRPC
surface, so what is checked is the contract of issue 5 — the text format editors parse, the
exit codes scripts rely on, the `lint` member of `exec --json`, and a deny policy that a
client cannot talk its way out of.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sandboxctl import Client
from sandboxd.lint import RULES

# file:line:col: severity rule-id message
FINDING_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<severity>info|warning|error) "
                          r"(?P<rule>[a-z][a-z-]*) (?P<message>.+)$")

ATTACK_PY = "import json\nimport ctypes\nprint('never printed')\n"
WARNING_PY = "import shutil\nprint('ran', shutil.get_terminal_size().columns > 0)\n"
CLEAN_PY = "def square(n):\n    return n * n\n\nprint(square(7))\n"
ATTACK_JS = "const x = 1;\nconst cp = require('child_process');\nconsole.log('never printed');\n"


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text)
    return str(path)


def parse_lines(text: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    matches = [FINDING_LINE.match(line) for line in lines]
    assert all(matches), f"not in file:line:col: severity rule-id message form: {lines}"
    return [m.groupdict() for m in matches if m]


def test_lint_prints_compiler_style_findings_and_exits_1_on_an_error(shared_daemon, tmp_path):
    path = write(tmp_path, "attack.py", ATTACK_PY)
    out = shared_daemon.ctl("lint", path)
    assert out.returncode == 1, out.stderr
    [finding] = parse_lines(out.stdout.decode())
    assert finding == {"file": path, "line": "2", "col": "8", "severity": "error",
                       "rule": "py-import-dangerous", "message": finding["message"]}
    assert "ctypes" in finding["message"]


def test_lint_of_javascript_reports_the_same_way(shared_daemon, tmp_path):
    path = write(tmp_path, "attack.js", ATTACK_JS)
    out = shared_daemon.ctl("lint", path)
    assert out.returncode == 1, out.stderr
    [finding] = parse_lines(out.stdout.decode())
    assert (finding["line"], finding["col"], finding["rule"]) == ("2", "12", "js-require-dangerous")


def test_warnings_alone_exit_0_and_a_clean_file_prints_nothing(shared_daemon, tmp_path):
    noisy = shared_daemon.ctl("lint", write(tmp_path, "noisy.py", WARNING_PY))
    assert noisy.returncode == 0, noisy.stderr
    assert [f["severity"] for f in parse_lines(noisy.stdout.decode())] == ["warning"]
    clean = shared_daemon.ctl("lint", write(tmp_path, "clean.py", CLEAN_PY))
    assert (clean.returncode, clean.stdout) == (0, b"")


def test_lint_json_is_a_list_of_findings(shared_daemon, tmp_path):
    out = shared_daemon.ctl("lint", "--json", write(tmp_path, "attack.py", ATTACK_PY))
    assert out.returncode == 1
    [finding] = json.loads(out.stdout)
    assert finding["rule"] == "py-import-dangerous"
    assert (finding["severity"], finding["line"], finding["col"]) == ("error", 2, 8)


def test_lint_reads_stdin_with_an_explicit_language(shared_daemon):
    out = shared_daemon.ctl("lint", "--lang", "javascript", "-", stdin=b"eval(process.argv[2]);\n")
    assert out.returncode == 1
    assert [f["rule"] for f in parse_lines(out.stdout.decode())] == ["js-eval-dynamic"]


def test_rules_lists_every_rule_with_severity_and_rationale(shared_daemon):
    text = shared_daemon.ctl("lint", "--rules")
    assert text.returncode == 0
    listed = {line.split()[0]: line.split()[1] for line in text.stdout.decode().splitlines()}
    assert listed == {r.id: r.severity for r in RULES}
    as_json = json.loads(shared_daemon.ctl("lint", "--rules", "--json").stdout)
    assert [r["id"] for r in as_json] == [r.id for r in RULES]
    assert all(r["rationale"] and r["message"] for r in as_json)


def test_lint_failures_are_exit_2_not_1(tmp_short, tmp_path, shared_daemon):
    path = write(tmp_path, "attack.py", ATTACK_PY)
    gone = shared_daemon.ctl("--socket", str(tmp_short / "nobody.sock"), "lint", path)
    assert gone.returncode == 2 and b"sandboxctl:" in gone.stderr
    unknown = shared_daemon.ctl("lint", write(tmp_path, "prog.rb", "puts 1\n"))
    assert unknown.returncode == 2 and b"--lang" in unknown.stderr


def test_exec_json_carries_findings_under_the_warn_policy(shared_daemon, tmp_path):
    out = shared_daemon.ctl("exec", "--json", write(tmp_path, "noisy.py", WARNING_PY))
    result = json.loads(out.stdout)
    assert (result["status"], out.returncode) == ("ok", 0), result
    assert result["stdout"] == "ran True\n"
    [finding] = result["lint"]
    assert {"rule", "severity", "line", "message"} <= set(finding)
    assert (finding["rule"], finding["severity"], finding["line"]) == ("py-import-risky", "warning", 1)


def test_warn_runs_even_an_error_finding_and_reports_it(shared_daemon, tmp_path):
    source = "import subprocess\nprint('ran anyway')\n"
    result = json.loads(shared_daemon.ctl("exec", "--json", write(tmp_path, "p.py", source)).stdout)
    assert result["status"] == "ok" and result["stdout"] == "ran anyway\n"
    assert [(f["rule"], f["severity"]) for f in result["lint"]] == [("py-import-dangerous", "error")]


@pytest.mark.parametrize("lower", [None, "off", "warn"])
def test_a_deny_daemon_refuses_whatever_the_client_asks(daemon_factory, tmp_path, lower):
    d = daemon_factory({"lint_policy": "deny"})
    for name, source in (("attack.py", ATTACK_PY), ("attack.js", ATTACK_JS)):
        flags = ["--lint-policy", lower] if lower else []
        out = d.ctl("exec", "--json", *flags, write(tmp_path, name, source))
        result = json.loads(out.stdout)
        assert (result["status"], out.returncode) == ("rejected", 125), result
        assert result["stdout"] == "" and "never printed" not in out.stdout.decode()
        assert [f["severity"] for f in result["lint"]] == ["error"]
        assert result["lint"][0]["line"] == 2
        assert "lint policy" in result["error"]


def test_deny_without_json_names_the_finding_and_exits_125(daemon_factory, tmp_path):
    d = daemon_factory({"lint_policy": "deny"})
    path = write(tmp_path, "attack.py", ATTACK_PY)
    out = d.ctl("exec", path)
    assert out.returncode == 125
    assert out.stdout == b""
    stderr = out.stderr.decode()
    assert f"{path}:2:8: error py-import-dangerous" in stderr
    assert "rejected" in stderr


def test_deny_still_runs_code_with_only_warnings(daemon_factory, tmp_path):
    d = daemon_factory({"lint_policy": "deny"})
    out = d.ctl("exec", "--json", write(tmp_path, "noisy.py", WARNING_PY))
    result = json.loads(out.stdout)
    assert (result["status"], result["stdout"]) == ("ok", "ran True\n")
    assert [f["severity"] for f in result["lint"]] == ["warning"]


def test_a_client_may_raise_the_policy(shared_daemon, tmp_path):
    out = shared_daemon.ctl("exec", "--json", "--lint-policy", "deny", write(tmp_path, "attack.py", ATTACK_PY))
    assert (json.loads(out.stdout)["status"], out.returncode) == ("rejected", 125)


def test_an_off_daemon_lints_nothing_unless_the_client_raises_it(daemon_factory):
    d = daemon_factory({"lint_policy": "off", "languages": {"javascript": {"pool_size": 0}}})
    with Client(d.socket) as c:
        quiet = c.execute(ATTACK_PY.replace("ctypes", "subprocess"), language="python")
        assert (quiet.status, quiet.lint) == ("ok", [])
        assert quiet.stdout == "never printed\n"
        raised = c.execute(ATTACK_PY, language="python", lint_policy="deny")
        assert raised.status == "rejected" and raised.lint[0].rule == "py-import-dangerous"


def test_the_lint_rpc_refuses_an_oversized_program(shared_daemon):
    with Client(shared_daemon.socket) as c, pytest.raises(Exception, match="limit"):
        c.lint("x = 1\n" * 400_000, "python")


def test_a_large_lint_does_not_stall_other_clients(shared_daemon):
    """Linting 1 MB takes about a second of CPU; on the event loop it would hold every other
    client's run until it finished, in a worker thread it does not."""
    import threading
    import time

    big = ("def f(n):\n    return [i * i for i in range(n) if i % 3]\n\n" * 20_000)[: 1 << 20]
    finished: dict[str, float] = {}

    def lint_big() -> None:
        with Client(shared_daemon.socket) as c:
            c.lint(big, "python")
        finished["lint"] = time.monotonic()

    with Client(shared_daemon.socket) as c:
        assert c.execute("print(1)").status == "ok"  # a warm connection and pool
        worker = threading.Thread(target=lint_big)
        worker.start()
        time.sleep(0.1)  # the lint is under way
        result = c.execute("print(2)", lint_policy="off")
        finished["run"] = time.monotonic()
        worker.join(60)
    assert result.stdout == "2\n"
    assert finished["run"] < finished["lint"]
