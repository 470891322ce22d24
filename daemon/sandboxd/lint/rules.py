"""The rule table, kept as data so the daemon, the client's ``--rules`` listing and the docs
all read one source, plus the few facts the rules are defined in terms of.

Severities follow one principle: ``error`` is for code that is a plain attack or that the
sandbox would kill anyway (so refusing it early costs a legitimate user nothing), ``warning``
for capabilities that ordinary programs use but that deserve a second look, ``info`` for
notes that never block anything.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "warning", "error")

# An allocation estimated at this many bytes or more is a bomb, not a program: it is far
# above any memory limit the daemon hands out by default.
HUGE_BYTES = 1 << 28

# Paths a program may name absolutely without leaving its working directory in any sense
# that matters: they are its own standard streams.
STANDARD_STREAMS = frozenset({"/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/null"})


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    languages: tuple[str, ...]
    message: str
    rationale: str


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    line: int
    col: int
    message: str


PY = ("python",)
JS = ("javascript",)
BOTH = ("python", "javascript")

RULES: tuple[Rule, ...] = (
    Rule("syntax-error", "error", BOTH, "syntax error",
         "Code that does not parse cannot run; reporting it here gives the position without spending a worker."),
    Rule("lint-incomplete", "error", BOTH, "the analysis did not finish",
         "A program the analyser cannot get through in its time budget (or that crashes it) is "
         "unchecked, not clean; reporting it as an error keeps the 'deny' policy failing closed."),
    Rule("py-import-dangerous", "error", PY, "import of a module that escapes or is blocked by the sandbox",
         "ctypes/cffi reach raw memory, subprocess/pty start programs, socket opens the network: "
         "exercise code never needs them and the sandbox refuses them anyway."),
    Rule("py-import-risky", "warning", PY, "import of a module with process, signal or file-system reach",
         "os, shutil, signal, multiprocessing and friends are used by honest programs too; "
         "worth a look, not a refusal. Imports of os used only for os.path are not reported."),
    Rule("py-dynamic-import", "error", PY, "module imported by a computed name",
         "__import__/importlib with a name built at run time exists to hide which module is loaded."),
    Rule("py-os-process", "error", PY,
         "process control through os (system, popen, exec*, spawn*, fork, kill) or asyncio.create_subprocess_*",
         "These are subprocess by another name; fork in particular is how fork bombs start."),
    Rule("py-eval", "warning", PY, "eval/exec/compile of a literal string",
         "Literal code is linted as if written inline, but the indirection is rarely needed."),
    Rule("py-eval-dynamic", "error", PY, "eval/exec/compile of a computed value, or code run another way",
         "Code assembled at run time cannot be checked before it runs; it is the standard way to smuggle "
         "an escape past a linter. code.interact, types.CodeType and a literal pickle payload are the same "
         "door by other names."),
    Rule("py-dunder-escape", "error", PY, "access to interpreter internals used in sandbox escapes",
         "__subclasses__, __globals__, __builtins__, __code__ and frame attributes are the rungs of every "
         "known Python jail break; normal programs do not touch them."),
    Rule("py-dynamic-access", "error", PY, "attribute or global looked up by a computed name",
         "getattr/globals() with an assembled name on modules or builtins hides what is being reached, "
         "e.g. getattr(__builtins__, 'ev' + 'al')."),
    Rule("py-open-outside-cwd", "warning", PY, "file opened by an absolute path outside the working directory",
         "A run sees only its own working directory; reading elsewhere is probing the host."),
    Rule("py-write-outside-cwd", "error", PY, "file written by a path outside the working directory",
         "Writing outside the run's directory is an attempt to change the host; the sandbox refuses it."),
    Rule("py-resource-bomb", "error", PY, "endless loop that allocates or forks",
         "A loop with no way out that allocates memory or processes only ends when the sandbox kills it."),
    Rule("py-huge-allocation", "error", PY, "allocation of a size no memory limit allows",
         "'a' * 10**10 or [0] * 10**9 is a memory bomb written as a literal."),
    Rule("js-require-dangerous", "error", JS, "require/import of a module that escapes or is blocked by the sandbox",
         "child_process, cluster, worker_threads, vm, net, dgram and friends start programs, open sockets or "
         "create new execution contexts; the sandbox refuses them anyway."),
    Rule("js-require-risky", "warning", JS, "require/import of a network client module",
         "http, https and dns are common in Node programs but cannot work in a sandbox without network."),
    Rule("js-dynamic-require", "error", JS, "require/import() of a computed module name",
         "require('child_' + 'process') exists to hide which module is loaded."),
    Rule("js-fs-write-outside-cwd", "error", JS, "file written by a path outside the working directory",
         "Writing outside the run's directory is an attempt to change the host; the sandbox refuses it."),
    Rule("js-eval", "warning", JS, "eval/Function/string timer of literal code",
         "Literal code is linted as if written inline, but the indirection is rarely needed."),
    Rule("js-eval-dynamic", "error", JS, "eval/Function of a computed value",
         "Code assembled at run time cannot be checked before it runs; it is the standard way to smuggle "
         "an escape past a linter."),
    Rule("js-escape-access", "error", JS, "access to objects used in Node sandbox escapes",
         "x.constructor.constructor, process.mainModule and Error.prepareStackTrace are how code reaches "
         "Function or require without naming them."),
    Rule("js-dynamic-access", "error", JS, "global object indexed by a computed name",
         "globalThis['ev' + 'al'] or process[name] hides what is being reached."),
    Rule("js-process-binding", "error", JS, "process.binding/dlopen reaches Node internals",
         "Internal bindings and native add-ons bypass every JavaScript-level restriction."),
    Rule("js-process-kill", "error", JS, "process.kill sends signals to other processes",
         "A run has no business signalling processes; inside the sandbox it can only hurt itself."),
    Rule("js-resource-bomb", "error", JS, "endless loop that allocates",
         "A loop with no way out that allocates memory only ends when the sandbox kills it."),
    Rule("js-huge-allocation", "error", JS, "allocation of a size no memory limit allows",
         "'a'.repeat(1e10) or Buffer.alloc(2**40) is a memory bomb written as a literal."),
    Rule("js-nesting-too-deep", "error", JS, "syntax nested too deep to analyse",
         "Beyond a few thousand levels tree-sitter's query engine slows to seconds per kilobyte and stops "
         "reporting matches (measured: a 70,000-link member chain); honest code never nests like this, so "
         "the file is refused rather than half-checked. Shallower parts are still analysed."),
    Rule("js-analyser-unavailable", "error", JS,
         "JavaScript analyser unavailable (tree-sitter missing or incompatible)",
         "Without a parser nothing can be checked; failing closed keeps the 'deny' policy honest."),
)

RULE_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


def finding(rule_id: str, line: int, col: int, detail: str = "") -> Finding:
    """Build a finding from the table so severities cannot drift from what ``--rules`` lists."""
    rule = RULE_BY_ID[rule_id]
    message = f"{rule.message}: {detail}" if detail else rule.message
    return Finding(rule.id, rule.severity, line, col, message)


def escapes_workdir(path: str, complete: bool = True) -> bool:
    """Whether a path names something outside the run's working directory.

    ``complete`` is false when only a constant prefix of the path is known (an f-string or a
    concatenation with a variable); its last component may then be cut short, so it is not
    judged on its own.
    """
    if path.startswith("/"):
        return not (complete and path in STANDARD_STREAMS)
    parts = path.split("/")
    if not complete:
        parts = parts[:-1]
    depth = 0
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if depth == 0:
                return True
            depth -= 1
        else:
            depth += 1
    return False
