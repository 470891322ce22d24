"""Policy (off/warn/deny, the server's floor), the rule table and the text format of findings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sandboxd.lint import POLICIES, RULES, SEVERITIES, Finding, blocks, lint, stricter_policy
from sandboxd.lint.format import format_finding

ERROR = Finding("py-eval-dynamic", "error", 3, 1, "eval of a computed value")
WARNING = Finding("py-import-risky", "warning", 1, 8, "os")
INFO = Finding("x-note", "info", 1, 1, "note")


@pytest.mark.parametrize(("policy", "findings", "expected"), [
    ("deny", [WARNING, ERROR], True),
    ("deny", [WARNING, INFO], False),
    ("deny", [], False),
    ("warn", [ERROR], False),
    ("off", [ERROR], False),
])
def test_only_deny_blocks_and_only_on_errors(policy: str, findings: list[Finding], expected: bool) -> None:
    assert blocks(findings, policy) is expected


def test_blocks_accepts_any_iterable() -> None:
    assert blocks(iter([ERROR]), "deny") is True


@pytest.mark.parametrize(("server", "client", "expected"), [
    ("off", None, "off"),
    ("warn", None, "warn"),
    ("deny", "", "deny"),
    ("off", "warn", "warn"),
    ("off", "deny", "deny"),
    ("warn", "off", "warn"),
    ("warn", "deny", "deny"),
    ("deny", "off", "deny"),
    ("deny", "warn", "deny"),
    ("warn", "warn", "warn"),
])
def test_the_server_policy_is_a_floor(server: str, client: str | None, expected: str) -> None:
    assert stricter_policy(server, client) == expected


@pytest.mark.parametrize(("server", "client"), [("strict", None), ("warn", "DENY"), ("", "warn")])
def test_unknown_policies_are_refused(server: str, client: str | None) -> None:
    with pytest.raises(ValueError, match="policy"):
        stricter_policy(server, client)


def test_blocks_refuses_an_unknown_policy() -> None:
    with pytest.raises(ValueError, match="policy"):
        blocks([ERROR], "block")


def test_policies_are_ordered_from_lenient_to_strict() -> None:
    assert POLICIES == ("off", "warn", "deny")


def test_deny_refuses_an_attack_and_admits_an_exercise() -> None:
    attack = lint("import ctypes\nctypes.CDLL(None)\n", "python")
    exercise = lint("import os\nprint(os.path.join('a', 'b'))\n", "python")
    noisy = lint("import shutil\nshutil.copy('a', 'b')\n", "python")
    assert blocks(attack, "deny") and not blocks(attack, "warn")
    assert not blocks(exercise, "deny")
    assert noisy and not blocks(noisy, "deny")


def test_unknown_language_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ruby"):
        lint("puts 1", "ruby")


def test_findings_are_sorted_by_position_and_unique() -> None:
    findings = lint("import subprocess\neval(x)\nimport ctypes\neval(x)\n", "python")
    positions = [(f.line, f.col) for f in findings]
    assert positions == sorted(positions) == [(1, 8), (2, 1), (3, 8), (4, 1)]


def test_rule_ids_are_unique_and_well_formed() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.severity in SEVERITIES
        assert rule.languages and set(rule.languages) <= {"python", "javascript"}
        assert rule.message and rule.rationale
        prefix = {("python",): "py-", ("javascript",): "js-"}.get(rule.languages, "")
        assert rule.id.startswith(prefix)


def test_each_language_has_rules_of_each_blocking_level() -> None:
    for language in ("python", "javascript"):
        severities = {r.severity for r in RULES if language in r.languages}
        assert {"warning", "error"} <= severities


def test_findings_take_their_severity_from_the_rule_table() -> None:
    table = {r.id: r.severity for r in RULES}
    sources = {
        "python": "import os, subprocess\nos.system(x)\neval('1')\nopen('/etc/passwd')\n",
        "javascript": "require('http');\nrequire('vm');\neval('1');\nprocess.kill(1);\n",
    }
    for language, source in sources.items():
        findings = lint(source, language)
        assert {f.severity for f in findings} == {"warning", "error"}
        assert all(f.severity == table[f.rule] for f in findings)


def test_findings_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ERROR.line = 4  # type: ignore[misc]


def test_format_is_the_compiler_convention() -> None:
    assert format_finding("prog.py", ERROR) == "prog.py:3:1: error py-eval-dynamic eval of a computed value"


def test_format_of_a_real_finding() -> None:
    [f] = lint("x = 1\nimport  socket\n", "python")
    assert format_finding("a/b.py", f).startswith("a/b.py:2:9: error py-import-dangerous ")


def test_the_documented_rule_table_matches_the_rules() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "lint.md"
    section = docs.read_text().split("\n## Rules\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {row.split("|")[1].strip().strip("`"): row.split("|")[2].strip() for row in rows}
    assert documented == {r.id: r.severity for r in RULES}
