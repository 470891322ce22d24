"""The JavaScript rules: each one fires on its attack (also disguised) and stays quiet on honest code."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from sandboxd.lint import RULES, javascript_ts, lint

CORPUS = Path(__file__).resolve().parent.parent / "lint_corpus" / "javascript"


def found(source: str) -> set[tuple[str, int]]:
    return {(f.rule, f.line) for f in lint(textwrap.dedent(source), "javascript")}


def rules(source: str) -> set[str]:
    return {f.rule for f in lint(textwrap.dedent(source), "javascript")}


# (rule, expected line, source): the rule must report on that line.
POSITIVE = [
    ("js-require-dangerous", 1, "const cp = require('child_process');"),
    ("js-require-dangerous", 2, "const fs = require('fs');\nimport net from 'node:net';"),
    ("js-require-dangerous", 1, "const { Worker } = require('worker_threads');"),
    ("js-require-dangerous", 1, "const vm = await import('vm');"),
    ("js-require-dangerous", 1, "export * from 'cluster';"),
    ("js-require-dangerous", 1, "import 'dgram';"),
    ("js-require-dangerous", 1, "require.main.require('child_process');"),
    ("js-require-dangerous", 1, "import { exec as run } from 'node:child_process';"),
    ("js-require-risky", 1, "const https = require('https');"),
    ("js-require-risky", 1, "import dns from 'dns/promises';"),
    ("js-dynamic-require", 1, "const m = require('child_' + 'process');"),
    ("js-dynamic-require", 1, "const m = require(name);"),
    ("js-dynamic-require", 1, "import(`./plugins/${name}.js`).then(run);"),
    ("js-dynamic-require", 1, "require('child\\x5fprocess');"),
    ("js-dynamic-require", 2, "const r = require;\nr(mod);"),
    ("js-dynamic-require", 1, "module.require(['child', 'process'].join('_'));"),
    ("js-fs-write-outside-cwd", 2, "const fs = require('fs');\nfs.writeFileSync('/etc/passwd', x);"),
    ("js-fs-write-outside-cwd", 1, "require('fs').appendFile(`/tmp/${f}`, d, cb);"),
    ("js-fs-write-outside-cwd", 2, "const { createWriteStream: cws } = require('node:fs');\ncws('../../out');"),
    ("js-fs-write-outside-cwd", 2, "import { writeFile } from 'fs/promises';\nawait writeFile('/root/.ssh/k', k);"),
    ("js-fs-write-outside-cwd", 2, "import * as fs from 'fs';\nfs.openSync('/etc/cron.d/x', 'w');"),
    ("js-fs-write-outside-cwd", 3, ("const fs = require('fs');\nconst path = require('path');\n"
                                    "fs.writeFileSync(path.join('/etc', 'x'), d);")),
    ("js-fs-write-outside-cwd", 2, "const fs = require('fs');\nfs.promises.rm('/home', { recursive: true });"),
    ("js-eval", 1, "eval('1 + 1');"),
    ("js-eval", 1, "const add = new Function('a', 'b', 'return a + b');"),
    ("js-eval", 1, "setTimeout('tick()', 100);"),
    ("js-eval-dynamic", 1, "eval(code);"),
    ("js-eval-dynamic", 1, "const f = new Function(body);"),
    ("js-eval-dynamic", 1, "Function(src)();"),
    ("js-eval-dynamic", 1, "(0, eval)(s);"),
    ("js-eval-dynamic", 1, "globalThis.eval(s);"),
    ("js-eval-dynamic", 1, "const results = sources.map(eval);"),
    ("js-eval-dynamic", 2, "const e = eval;\ne(s);"),
    ("js-escape-access", 1, "this.constructor.constructor('return process')();"),
    ("js-escape-access", 1, "process.mainModule.require('fs');"),
    ("js-escape-access", 1, "Error.prepareStackTrace = (e, frames) => frames;"),
    ("js-escape-access", 1, "const F = x['constructor']['constructor'];"),
    ("js-escape-access", 1, "(function () {}).constructor('return process')();"),
    ("js-escape-access", 1, "[].map.constructor('return this')();"),
    ("js-escape-access", 1, "new (Object.getPrototypeOf(async () => {}).constructor)('await x');"),
    ("js-dynamic-access", 1, "globalThis[name]();"),
    ("js-dynamic-access", 1, "const p = global['pro' + 'cess'];"),
    ("js-dynamic-access", 1, "process[k]('x');"),
    ("js-dynamic-access", 1, "Reflect.get(globalThis, name)();"),
    ("js-process-binding", 1, "process.binding('spawn_wrap');"),
    ("js-process-binding", 2, "const { binding } = process;\nbinding('fs');"),
    ("js-process-binding", 1, "process['binding']('fs');"),
    ("js-process-binding", 1, "process.dlopen(module, '/tmp/evil.node');"),
    ("js-process-kill", 1, "process.kill(1, 'SIGKILL');"),
    ("js-process-kill", 2, "const p = process;\np.kill(pid);"),
    ("js-resource-bomb", 2, "const a = [];\nwhile (true) { a.push(new Array(1000)); }"),
    ("js-resource-bomb", 1, "for (;;) { leak.push({}); }"),
    ("js-resource-bomb", 1, "do { s += 'x'; } while (1);"),
    ("js-resource-bomb", 1, "for (;;) { s = s + s; }"),
    ("js-resource-bomb", 1, "while (!0) { a = a.concat(a); }"),
    ("js-resource-bomb", 1, "for (let i = 0; ; i++) { for (const x of y) { break; } a.push(i); }"),
    ("js-resource-bomb", 2, "const cp = require('child_process');\nwhile (true) cp.fork('x.js');"),
    ("js-huge-allocation", 1, "const s = 'a'.repeat(1e10);"),
    ("js-huge-allocation", 1, "const b = Buffer.alloc(2 ** 40);"),
    ("js-huge-allocation", 1, "const a = new Array(1e9).fill(0);"),
    ("js-huge-allocation", 1, "const f = new Float64Array(1 << 30);"),
    ("js-nesting-too-deep", 1, "x" + ".a" * 100_000 + ";"),
    ("js-nesting-too-deep", 2, "const ok = 1;\nconst grid = " + "[" * 3000 + "]" * 3000 + ";"),
    ("syntax-error", 2, "const a = 1;\nlet x = ;\nconst b = 2;"),
    ("syntax-error", 1, "function f( {"),
]

# (rule, source): the rule must not report.
NEGATIVE = [
    ("js-require-dangerous", "const fs = require('fs');\nconst path = require('node:path');\nimport os from 'os';"),
    ("js-require-risky", "const EventEmitter = require('events');\nimport { URL } from 'url';"),
    ("js-dynamic-require", "require('./lib/util');\nrequire(`fs`);\nimport x from './x.js';"),
    ("js-fs-write-outside-cwd", ("const fs = require('fs');\nfs.writeFileSync('out.txt', s);\n"
                                 "fs.writeFileSync('/dev/stdout', s);\nfs.writeSync(1, s);")),
    ("js-fs-write-outside-cwd", ("const fs = require('fs');\nfs.readFileSync('/etc/hosts');\n"
                                 "fs.openSync('/etc/hosts', 'r');\nfs.mkdirSync('results/a/../b');")),
    ("js-fs-write-outside-cwd", "other.writeFileSync('/etc/passwd', x);"),
    ("js-eval", "JSON.parse(s);\nsetTimeout(() => tick(), 100);\nsetInterval(tick, 5);"),
    ("js-eval-dynamic", "obj.eval(x);\nmath.evaluate(expr);\nconst evaluate = (s) => s;\nnew Fn(body);"),
    ("js-escape-access", "console.log(this.constructor.name, Object.getPrototypeOf(x).constructor);"),
    ("js-escape-access", "const copy = new this.constructor(x);\nconst n = value.constructor(1);"),
    ("js-dynamic-access", "Reflect.get(obj, key);\nReflect.get(globalThis, 'Math');"),
    ("js-dynamic-access", "obj[key];\narr[i];\nprocess.env[name];\nprocess.argv[2];\nthis[k] = v;\nself[k] = v;"),
    ("js-process-binding", "const binding = {};\nbinding.x = 1;\nlib.binding('x');"),
    ("js-process-kill", "child.kill();\nprocess.exit(1);\nworker.kill('SIGTERM');"),
    ("js-resource-bomb", "while (true) { if (a.length > 9) break; a.push(1); }"),
    ("js-resource-bomb", "function* g() { const a = []; while (true) { a.push(1); yield a; } }"),
    ("js-resource-bomb", "function f(a) { while (true) { a.push(1); if (a.length > 3) return a; } }"),
    ("js-resource-bomb", "while (i < n) { a.push(i++); }\nwhile (true) { n += 1; }"),
    ("js-resource-bomb", "while (true) { n = n + 1; t = t * 2 + n; }"),
    ("js-resource-bomb", "async function f() { while (true) { buf.push(await next()); } }"),
    ("js-resource-bomb", "outer: while (true) { for (;;) { a.push(1); break outer; } }"),
    ("js-huge-allocation", "new Array(100).fill(0);\n'-'.repeat(80);\nBuffer.alloc(1024);\nnew Uint8Array(1e6);"),
    ("js-nesting-too-deep", "const a = " + "[" * 500 + "]" * 500 + ";\nconst s = x" + ".a" * 900 + ";"),
    ("syntax-error", "const ok = [1, 2, 3].map((x) => x * 2);\nclass A { #p = 1; static s() {} }"),
]


@pytest.mark.parametrize(("rule", "line", "source"), POSITIVE, ids=[f"{r}:{s[:30]}" for r, _, s in POSITIVE])
def test_rule_reports_on_its_line(rule: str, line: int, source: str) -> None:
    assert (rule, line) in found(source)


@pytest.mark.parametrize(("rule", "source"), NEGATIVE, ids=[f"{r}:{s[:30]}" for r, s in NEGATIVE])
def test_rule_stays_quiet_on_honest_code(rule: str, source: str) -> None:
    assert rule not in rules(source)


def test_every_javascript_rule_has_a_positive_and_a_negative_example() -> None:
    js_rules = {r.id for r in RULES if "javascript" in r.languages} - {"js-analyser-unavailable", "lint-incomplete"}
    assert js_rules == {r for r, _, _ in POSITIVE}
    assert js_rules == {r for r, _ in NEGATIVE}


@pytest.mark.parametrize(("source", "expected"), [
    ("const x = require('child_' + 'process');", {("js-dynamic-require", 1), ("js-require-dangerous", 1)}),
    ("require(`child_${'process'}`).execSync('id');", {("js-dynamic-require", 1), ("js-require-dangerous", 1)}),
    ("require(String.fromCharCode(118, 109));", {("js-dynamic-require", 1), ("js-require-dangerous", 1)}),
    ("const r = require;\nconst cp = r('child_process');", {("js-require-dangerous", 2)}),
    ("global['ev' + 'al']('x');", {("js-dynamic-access", 1), ("js-eval", 1)}),
    ("globalThis.global.process.binding('fs');", {("js-process-binding", 1)}),
    ("const { kill: k } = process;\nk(1);", {("js-process-kill", 2)}),
    ("eval(\"require('child_process')\");", {("js-eval", 1), ("js-require-dangerous", 1)}),
    ("new Function(\"return process.binding('fs')\")();", {("js-eval", 1), ("js-process-binding", 1)}),
    ("''.constructor.constructor('return this')().process.kill(1);", {("js-escape-access", 1)}),
    ("Reflect.get(globalThis, 'ev' + 'al')(s);", {("js-dynamic-access", 1), ("js-eval-dynamic", 1)}),
    ("const { require: r } = require.main;\nr('vm');", {("js-require-dangerous", 2)}),
])
def test_disguised_attacks_are_still_reported(source: str, expected: set[tuple[str, int]]) -> None:
    assert found(source) == expected


def test_literal_code_is_linted_at_the_position_of_the_string() -> None:
    findings = lint("const x = 1;\neval(\n  'process.kill(1)');\n", "javascript")
    inner = [f for f in findings if f.rule == "js-process-kill"]
    assert [(f.line, f.col) for f in inner] == [(3, 3)]
    assert "in code passed to eval" in inner[0].message


def test_findings_carry_rule_severity_position_and_message() -> None:
    [f] = lint("const a = 1;\n  const cp = require('child_process');\n", "javascript")
    assert (f.rule, f.severity, f.line, f.col) == ("js-require-dangerous", "error", 2, 14)
    assert "child_process" in f.message


def test_columns_count_characters_not_bytes() -> None:
    [f] = lint("const é = 'ü'; eval(é);\n", "javascript")
    assert (f.rule, f.line, f.col) == ("js-eval-dynamic", 1, 16)


def test_network_clients_are_warnings_not_errors() -> None:
    [f] = lint("const http = require('http');\n", "javascript")
    assert (f.rule, f.severity) == ("js-require-risky", "warning")


def test_a_syntax_error_does_not_hide_the_rest_of_the_file() -> None:
    assert found("let x = ;\nrequire('vm');\n") == {("syntax-error", 1), ("js-require-dangerous", 2)}


def test_code_beyond_the_depth_limit_is_refused_but_the_rest_still_checked() -> None:
    source = "x" + ".a" * 70_000 + ";\nrequire('child_process');\n"
    assert found(source) == {("js-nesting-too-deep", 1), ("js-require-dangerous", 2)}


def test_truncated_programs_never_raise() -> None:
    source = (CORPUS / "bank_account.js").read_text()
    for end in range(0, len(source), 7):
        for f in lint(source[:end], "javascript"):
            assert f.line >= 1 and f.col >= 1


def test_missing_parser_is_one_finding_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tree_sitter_javascript", None)
    javascript_ts._parser.cache_clear()
    try:
        [f] = lint("require('child_process');\n", "javascript")
    finally:
        javascript_ts._parser.cache_clear()
    assert (f.rule, f.severity, f.line, f.col) == ("js-analyser-unavailable", "error", 1, 1)
    assert lint("x = 1\n", "python") == []


def test_the_corpus_is_large_enough() -> None:
    assert len(list(CORPUS.glob("*.js"))) >= 30


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.js")), ids=lambda p: p.name)
def test_normal_programs_raise_no_error(path: Path) -> None:
    errors = [f for f in lint(path.read_text(), "javascript") if f.severity == "error"]
    assert errors == []
