"""Lint time: the 1 MB budget of issue 5, and inputs built to make an analyser go quadratic.

The daemon lints every program before it runs it, so time spent here is time an attacker
can make the daemon spend: a shape that costs seconds per kilobyte is a denial of service,
not a slow corner. The 1 MB check uses the benchmark's own generator and budget (best of
two, so that a neighbour's load on this host does not fail it); the pathological cases get
an absolute bound far above their linear cost and far below a quadratic one.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

import pytest
from sandboxd.lint import lint

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "lint_speed.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lint_speed", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seconds(source: str, language: str) -> float:
    start = time.perf_counter()
    lint(source, language)
    return time.perf_counter() - start


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_one_megabyte_lints_within_the_benchmark_budget(language: str) -> None:
    bench = load_benchmark()
    source = bench.generate(language, 1 << 20)
    lint(source[:2000], language)  # parser loading is a one-off, not per file
    best = min(seconds(source, language) for _ in range(2))
    per_kloc_ms = best * 1000 / source.count("\n") * 1000
    assert per_kloc_ms <= bench.BUDGET_MS_PER_KLOC, f"{language}: {per_kloc_ms:.1f} ms per 1,000 lines"


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
def test_adversarial_shapes_lint_in_linear_time(language: str, source: str) -> None:
    assert seconds(source, language) < 3.0
