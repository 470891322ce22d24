"""The Python rules: each one fires on its attack (also disguised) and stays quiet on honest code."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest
from sandboxd.lint import RULES, lint

CORPUS = Path(__file__).resolve().parent.parent / "lint_corpus" / "python"


def found(source: str) -> set[tuple[str, int]]:
    return {(f.rule, f.line) for f in lint(textwrap.dedent(source), "python")}


def rules(source: str) -> set[str]:
    return {f.rule for f in lint(textwrap.dedent(source), "python")}


# (rule, expected line, source): the rule must report on that line.
POSITIVE = [
    ("py-import-dangerous", 1, "import subprocess"),
    ("py-import-dangerous", 2, "import json\nimport ctypes as c"),
    ("py-import-dangerous", 1, "from socket import socket, AF_INET"),
    ("py-import-dangerous", 1, "import pty, json"),
    ("py-import-risky", 1, "import shutil"),
    ("py-import-risky", 1, "import os\nos.remove('x')"),
    ("py-import-risky", 1, "import os as o\nprint(o.getuid())"),
    ("py-import-risky", 1, "from signal import SIGKILL"),
    ("py-import-risky", 1, "import multiprocessing"),
    ("py-import-risky", 1, "import urllib.request"),
    ("py-import-risky", 1, "from urllib import request"),
    ("py-dynamic-import", 1, "m = __import__(name)"),
    ("py-dynamic-import", 2, "import importlib\nimportlib.import_module('sub' + 'process')"),
    ("py-dynamic-import", 2, "import sys\nsys.modules[n].system('id')"),
    ("py-os-process", 2, "import os as o\no.system('id')"),
    ("py-os-process", 1, "from os import fork"),
    ("py-os-process", 2, "from os import *\nsystem('id')"),
    ("py-os-process", 2, "import os\nrun = getattr(os, 'popen')"),
    ("py-os-process", 2, "import sys\nsys.modules['os'].execv('/bin/sh', [])"),
    ("py-os-process", 2, "import os\nos.kill(1, 9)"),
    ("py-os-process", 2, "import asyncio\nawait asyncio.create_subprocess_shell('id')"),
    ("py-os-process", 1, "from asyncio import create_subprocess_exec as spawn"),
    ("py-eval", 1, "print(eval('1 + 2'))"),
    ("py-eval", 1, "exec('x = 1')"),
    ("py-eval-dynamic", 1, "eval(input())"),
    ("py-eval-dynamic", 2, "code = open('a.py').read()\nexec(code)"),
    ("py-eval-dynamic", 1, "c = compile(src, 'f', 'exec')"),
    ("py-eval-dynamic", 1, "nums = list(map(eval, input().split()))"),
    ("py-eval-dynamic", 2, "import builtins\nbuiltins.exec(payload)"),
    ("py-eval-dynamic", 3, "def eval(x):\n    return x\neval(input())"),
    ("py-eval-dynamic", 2, "import code\ncode.interact()"),
    ("py-eval-dynamic", 2, "from types import CodeType\nc = CodeType(0, 0, 0, 0, 0, 0, b'', (), (), ())"),
    ("py-eval-dynamic", 2, "import pickle as p\np.loads(b\"cos\\nsystem\\n(S'id'\\ntR.\")"),
    ("py-dunder-escape", 1, "().__class__.__base__.__subclasses__()"),
    ("py-dunder-escape", 3, "def f():\n    pass\ng = f.__globals__"),
    ("py-dunder-escape", 1, "b = __builtins__"),
    ("py-dunder-escape", 1, "b = globals()['__builtins__']"),
    ("py-dunder-escape", 1, "f.__code__ = g.__code__"),
    ("py-dunder-escape", 2, "import sys\nframe = sys._getframe().f_back"),
    ("py-dunder-escape", 1, "g = getattr(f, '__glo' + 'bals__')"),
    ("py-dunder-escape", 1, "m = print.__self__"),
    ("py-dynamic-access", 1, "e = getattr(__builtins__, 'ev' + 'al')"),
    ("py-dynamic-access", 2, "import os\nf = getattr(os, name)"),
    ("py-dynamic-access", 1, "f = globals()[name]"),
    ("py-dynamic-access", 2, "import builtins\nf = vars(builtins)[key]"),
    ("py-dynamic-access", 1, "f = getattr(obj, ''.join(['sys', 'tem']))"),
    ("py-open-outside-cwd", 1, "open('/etc/passwd').read()"),
    ("py-open-outside-cwd", 1, "open(f'/proc/{pid}/status')"),
    ("py-open-outside-cwd", 2, "from pathlib import Path\nPath('/etc/hosts').read_text()"),
    ("py-open-outside-cwd", 2, "import os\nopen(os.path.join('/etc', 'shadow'))"),
    ("py-write-outside-cwd", 1, "open('/tmp/x', 'w').write('hi')"),
    ("py-write-outside-cwd", 1, "open('../escape.txt', mode='a')"),
    ("py-write-outside-cwd", 2, "import os\nos.remove('/etc/hosts')"),
    ("py-write-outside-cwd", 2, "from pathlib import Path\n(Path('/etc') / 'cron.d').write_text('x')"),
    ("py-write-outside-cwd", 2, "import shutil\nshutil.rmtree('/home')"),
    ("py-write-outside-cwd", 1, "open('/root/' + name, 'wb')"),
    ("py-resource-bomb", 2, "a = []\nwhile True:\n    a.append('x' * 1000)"),
    ("py-resource-bomb", 2, "import os\nwhile 1:\n    os.fork()"),
    ("py-resource-bomb", 2, "import itertools\nfor _ in itertools.count():\n    data += [1]"),
    ("py-resource-bomb", 1, "while True:\n    s += s"),
    ("py-resource-bomb", 1, "while True:\n    s = s + s"),
    ("py-resource-bomb", 1, "while True:\n    for x in y:\n        break\n    a.append(x)"),
    ("py-huge-allocation", 1, "s = 'a' * 10**10"),
    ("py-huge-allocation", 1, "l = [0] * 10**9"),
    ("py-huge-allocation", 1, "x = 2 ** 10 ** 10"),
    ("py-huge-allocation", 1, "b = bytearray(1 << 40)"),
    ("py-huge-allocation", 1, "l = list(range(10**10))"),
    ("syntax-error", 1, "def f(:\n    pass"),
    ("syntax-error", 3, "x = 1\nif x:\nprint(x)"),
]

# (rule, source): the rule must not report.
NEGATIVE = [
    ("py-import-dangerous", "import json, math\nfrom collections import deque"),
    ("py-import-risky", "import os\nprint(os.path.join('a', 'b'), os.getcwd(), os.sep)"),
    ("py-import-risky", "from os.path import join, exists"),
    ("py-import-risky", "from os import path, getcwd"),
    ("py-import-risky", "import os.path as osp\nosp.join('a')"),
    ("py-import-risky", "import sys, re, random, statistics, urllib.parse"),
    ("py-dynamic-import", "m = __import__('math')\nimport importlib\nj = importlib.import_module('json')"),
    ("py-os-process", "import os\nprint(os.getcwd())"),
    ("py-os-process", "def system():\n    return 1\nsystem()"),
    ("py-os-process", "proc.kill()\nself.fork()"),
    ("py-eval", "import ast\nast.literal_eval('[1, 2]')"),
    ("py-eval-dynamic", "import ast, re\nast.literal_eval(s)\nre.compile(p)\nmodel.eval()\nself.exec(x)"),
    ("py-eval-dynamic", "import pickle\nwith open('state.pkl', 'rb') as f:\n    state = pickle.load(f)\n"
                        "copy = pickle.loads(pickle.dumps(state))"),
    ("py-eval-dynamic", "code = input()\ncode.interact()\ntypes = {}\ntypes.CodeType = 1"),
    ("py-dunder-escape", "print(self.__class__.__name__, Foo.__mro__, obj.__dict__, Foo.__bases__)"),
    ("py-dunder-escape", "class A:\n    def __init__(self):\n        super().__init__()"),
    ("py-dynamic-access", "getattr(self, 'do_' + cmd)()\ngetattr(obj, name, None)"),
    ("py-dynamic-access", "import operator\nf = getattr(operator, name)\nx = globals()['CONFIG']"),
    ("py-open-outside-cwd", "open('data.txt')\nopen('/dev/stdin')\nopen(0)\nopen('sub/../data.txt')"),
    ("py-open-outside-cwd", "with open(f'{name}.txt') as fh:\n    pass"),
    ("py-write-outside-cwd", "open('out.txt', 'w')\nopen('/dev/stdout', 'w')\nopen('/etc/hosts')"),
    ("py-write-outside-cwd", "import os\nos.makedirs('results', exist_ok=True)\nos.remove('tmp.txt')"),
    ("py-write-outside-cwd", "from pathlib import Path\n(Path('out') / 'x.txt').write_text('x')"),
    ("py-resource-bomb", "while True:\n    line = input()\n    if not line:\n        break\n    a.append(line)"),
    ("py-resource-bomb", "def gen():\n    a = []\n    while True:\n        a.append(1)\n        yield a"),
    ("py-resource-bomb", "while True:\n    try:\n        a.append(input())\n    except EOFError:\n        break"),
    ("py-resource-bomb", "while True:\n    n += 1"),
    ("py-resource-bomb", "while True:\n    n = n + 1\n    total = total * 2 + n"),
    ("py-resource-bomb", "while n > 0:\n    a.append(n)\n    n -= 1"),
    ("py-resource-bomb", "while True:\n    a.append(1)\n    if len(a) > 9:\n        raise SystemExit"),
    ("py-huge-allocation", "a = [0] * (10**6 + 1)\nb = '-' * 80\nc = 10 ** 100\nd = [0] * n"),
    ("py-huge-allocation", "grid = [[0] * 1000 for _ in range(1000)]\nbuf = bytearray(4096)"),
    ("syntax-error", "def f(x):\n    return x\n"),
]


@pytest.mark.parametrize(("rule", "line", "source"), POSITIVE, ids=[f"{r}:{s[:30]}" for r, _, s in POSITIVE])
def test_rule_reports_on_its_line(rule: str, line: int, source: str) -> None:
    assert (rule, line) in found(source)


@pytest.mark.parametrize(("rule", "source"), NEGATIVE, ids=[f"{r}:{s[:30]}" for r, s in NEGATIVE])
def test_rule_stays_quiet_on_honest_code(rule: str, source: str) -> None:
    assert rule not in rules(source)


def test_every_python_rule_has_a_positive_and_a_negative_example() -> None:
    python_rules = {r.id for r in RULES if "python" in r.languages} - {"lint-incomplete"}  # test_lint_offload
    assert python_rules == {r for r, _, _ in POSITIVE}
    assert python_rules == {r for r, _ in NEGATIVE}


@pytest.mark.parametrize(("source", "expected"), [
    ("import os as o\no.system('id')", {("py-import-risky", 1), ("py-os-process", 2)}),
    ("from os import system as run\nrun('id')", {("py-os-process", 1)}),
    ("getattr(__builtins__, 'ev' + 'al')('print(1)')",
     {("py-dynamic-access", 1), ("py-dunder-escape", 1), ("py-eval", 1)}),
    ("e = getattr(__builtins__, 'ev' + 'al')\ne(input())",
     {("py-dynamic-access", 1), ("py-dunder-escape", 1), ("py-eval-dynamic", 2)}),
    ("globals()['__builtins__'].eval(s)", {("py-dunder-escape", 1), ("py-eval-dynamic", 1)}),
    ("__builtins__.__dict__['ex' + 'ec'](s)",
     {("py-dunder-escape", 1), ("py-dynamic-access", 1), ("py-eval-dynamic", 1)}),
    ("__import__('o' + 's').system('id')",
     {("py-dynamic-import", 1), ("py-import-risky", 1), ("py-os-process", 1)}),
    ("__import__('sepytc'[::-1])", {("py-dynamic-import", 1), ("py-import-dangerous", 1)}),
    ("m = __import__(chr(111) + chr(115))\nm.fork()",
     {("py-dynamic-import", 1), ("py-import-risky", 1), ("py-os-process", 2)}),
    ("import importlib as il\nsp = il.import_module('subprocess')\nsp.run(['id'])",
     {("py-import-dangerous", 2)}),
    ("s = __import__('os')\nf = s.system\nf('id')", {("py-import-risky", 1), ("py-os-process", 2)}),
    ("exec('import ctypes')", {("py-eval", 1), ("py-import-dangerous", 1)}),
    ("exec('imp' + 'ort pty')", {("py-eval-dynamic", 1), ("py-import-dangerous", 1)}),
    ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0]('id')",
     {("py-dunder-escape", 1)}),
])
def test_disguised_attacks_are_still_reported(source: str, expected: set[tuple[str, int]]) -> None:
    assert found(source) == expected


def test_literal_code_is_linted_at_the_position_of_the_string() -> None:
    findings = lint("x = 1\nexec(\n  'import subprocess')\n", "python")
    inner = [f for f in findings if f.rule == "py-import-dangerous"]
    assert [(f.line, f.col) for f in inner] == [(3, 3)]
    assert "in code passed to exec" in inner[0].message


def test_findings_carry_rule_severity_position_and_message() -> None:
    [f] = lint("import json\n\nimport   subprocess\n", "python")
    assert (f.rule, f.severity, f.line, f.col) == ("py-import-dangerous", "error", 3, 10)
    assert "subprocess" in f.message


def test_columns_count_characters_not_bytes() -> None:
    [f] = lint("é = 'ü'; eval(é)\n", "python")
    assert (f.rule, f.line, f.col) == ("py-eval-dynamic", 1, 10)


def test_risky_import_of_os_is_a_warning_not_an_error() -> None:
    [f] = lint("import os\nos.chdir('x')\n", "python")
    assert (f.rule, f.severity) == ("py-import-risky", "warning")


@pytest.mark.parametrize(("source", "line", "col"), [
    ("def f(:\n    pass\n", 1, 7),
    ("x = (1,\n", 1, 5),
    ("x = 1\n  y = 2\n", 2, 2),
    ("print('a')\nprint('b'\n", 2, 6),
    ("s = 'é' é\n", 1, 9),
    ("x = 1\ny = 2\0\n", 2, 6),
])
def test_syntax_errors_are_findings_with_a_position(source: str, line: int, col: int) -> None:
    [f] = lint(source, "python")
    assert (f.rule, f.severity, f.line, f.col) == ("syntax-error", "error", line, col)


def test_pathological_nesting_is_a_finding_not_a_crash() -> None:
    for source in ("x = " + "-" * 200_000 + "1\n", "x = " + "+".join(["'a'"] * 5000) + "\n"):
        assert [f.rule for f in lint(source, "python")] == ["syntax-error"]
    deep_but_parseable = "eval(" + "+".join(["'a'"] * 300) + ")\n"
    assert [f.rule for f in lint(deep_but_parseable, "python")] == ["py-eval-dynamic"]


def test_parser_warnings_about_user_code_are_not_printed() -> None:
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert lint("x = 1if y else 2\ns = '\\d'\n", "python") == []
    assert caught == []
    assert warnings.filters == filters


def test_truncated_programs_never_raise() -> None:
    source = (CORPUS / "bank_account.py").read_text()
    for end in range(0, len(source), 7):
        for f in lint(source[:end], "python"):
            assert f.line >= 1 and f.col >= 1


def test_the_corpus_is_large_enough() -> None:
    assert len(list(CORPUS.glob("*.py"))) >= 30


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.py")), ids=lambda p: p.name)
def test_normal_programs_raise_no_error(path: Path) -> None:
    errors = [f for f in lint(path.read_text(), "python") if f.severity == "error"]
    assert errors == []
