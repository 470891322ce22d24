"""Linting off the event loop: the child-process path gives the in-process findings, and a
child that cannot finish is an error finding, never a clean result."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sandboxd.lint import lint, offload

CORPUS = Path(__file__).resolve().parent.parent / "lint_corpus"
ATTACK = {"python": "import os as o\nexec('imp' + 'ort pty')\no.system('id')\n",
          "javascript": "const r = require;\nr('child_' + 'process');\nprocess.kill(1);\n"}


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_the_child_reports_exactly_what_the_library_does(language: str) -> None:
    source = ATTACK[language] + "é = 1\n" * (language == "python")
    assert offload.lint_in_child(source, language) == lint(source, language)


def test_large_programs_go_to_a_child_and_small_ones_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(offload, "lint_in_child", lambda s, lang: calls.append("child") or lint(s, lang))
    small = ATTACK["python"]
    large = small + "x = 1\n" * (offload.IN_PROCESS_BYTES // 6)
    assert asyncio.run(offload.lint_off_loop(small, "python")) == lint(small, "python")
    assert calls == []
    assert asyncio.run(offload.lint_off_loop(large, "python")) == lint(large, "python")
    assert calls == ["child"]


def test_a_child_out_of_time_is_an_error_finding() -> None:
    source = (CORPUS / "python" / "bank_account.py").read_text() * 50
    [f] = offload.lint_in_child(source, "python", timeout_s=0.001)
    assert (f.rule, f.severity, f.line) == ("lint-incomplete", "error", 1)
    assert "longer than" in f.message


def test_a_failing_child_is_an_error_finding() -> None:
    [f] = offload.lint_in_child("print(1)\n", "cobol")
    assert (f.rule, f.severity) == ("lint-incomplete", "error")
    assert "usage" in f.message


def test_the_module_lints_stdin_as_json() -> None:
    done = subprocess.run([sys.executable, "-I", "-m", "sandboxd.lint", "python"], input=b"import ctypes\n",
                          capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert b'"rule": "py-import-dangerous"' in done.stdout
