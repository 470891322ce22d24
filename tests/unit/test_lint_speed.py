"""Inputs built to make an analyser go quadratic must still finish.

The daemon lints every program before it runs it, so time spent here is time an attacker
can make the daemon spend: a shape that costs minutes is a denial of service, not a slow
corner. This is a hang guard, not a speed measurement (benchmarks/lint_speed.py measures
the ms-per-1,000-lines budget): the bound is far above the seconds of even a loaded host's
linear cost and far below a quadratic blow-up.
"""

from __future__ import annotations

import time

import pytest
from sandboxd.lint import lint

HANG_GUARD_S = 30.0


def seconds(source: str, language: str) -> float:
    """CPU seconds the linter spent (it runs in this process): what a quadratic shape blows
    up, and unlike the wall clock not stretched by whatever else shares the cores."""
    start = time.process_time()
    lint(source, language)
    return time.process_time() - start


# Each is ~100-400 kB; linear analysis takes well under a second, a quadratic one minutes.
PATHOLOGICAL = [
    ("javascript", "x" + ".a" * 100_000 + ";\n"),
    ("javascript", "f(eval, " * 3000 + "1" + ")" * 3000 + ";\n"),
    ("javascript", "require(" + "+".join(["'a'"] * 50_000) + ");\n"),
    ("javascript", "while (true) {" * 2000 + "a.push(1);" + "}" * 2000 + "\n"),
    ("javascript", "if (a) {}" + " else if (a) {}" * 20_000 + "\n"),
    ("javascript", "x = " + "a ? b : " * 20_000 + "c;\n"),
    ("javascript", "require(`" + "${'a'}" * 20_000 + "`);\n"),
    ("python", "x" + ".a" * 100_000 + "\n"),
    ("python", "getattr(os, 'a' + 'b')\n" * 20_000),
    ("python", "".join("    " * i + "while True:\n" for i in range(90)) + "    " * 90 + "a.append(1)\n"),
    ("python", "__import__(''.join([" + ",".join(["'a'"] * 100_000) + "]))\n"),
    ("python", "exec('exec(\"exec(\\'import os\\')\")')\n" * 2000),
]


@pytest.mark.parametrize(("language", "source"), PATHOLOGICAL, ids=[f"{lang}:{s[:24]}" for lang, s in PATHOLOGICAL])
def test_adversarial_shapes_do_not_hang_the_linter(language: str, source: str) -> None:
    assert seconds(source, language) < HANG_GUARD_S
