"""JavaScript analysis on tree-sitter's JavaScript grammar.

tree-sitter is a maintained, error-tolerant parser with prebuilt wheels on PyPI and no Node
runtime to install: a syntax error costs one finding, not the analysis of the rest of the
file. The node types worth looking at are gathered by one query executed in C, so Python never
walks the whole tree. The library is imported lazily: without it the analyser returns a single
finding saying so, and everything else in the daemon keeps working.

As for Python, names are resolved through ``require``/``import`` bindings and simple
assignments (``const cp = require('child_process')``, ``const {binding} = process``), and
string disguises (concatenation, templates, escapes, ``join``, ``String.fromCharCode``) are
folded; a module or property name that had to be folded is itself reported.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .rules import HUGE_BYTES, Finding, escapes_workdir, finding

if TYPE_CHECKING:
    from tree_sitter import Node, Parser, Query, QueryCursor

DANGEROUS_MODULES = frozenset({
    "child_process", "cluster", "worker_threads", "vm", "net", "dgram", "tls", "inspector", "module", "v8",
    "repl", "wasi",
})
RISKY_MODULES = frozenset({"http", "https", "http2", "dns"})
REQUIRE_FUNCS = frozenset({"require", "module.require", "require.main.require", "process.mainModule.require"})
# Property reads spelled as calls: Reflect.get(globalThis, 'eval') is globalThis.eval.
REFLECT_GET = frozenset({"Reflect.get", "Reflect.getOwnPropertyDescriptor", "Object.getOwnPropertyDescriptor"})
PROTOTYPE_OF = frozenset({"Object.getPrototypeOf", "Reflect.getPrototypeOf"})
FUNCTION_TYPES = frozenset({"function_expression", "function", "arrow_function", "generator_function"})
BINDING_FUNCS = frozenset({"process.binding", "process._linkedBinding", "process.dlopen"})
ESCAPE_PATHS = frozenset({"process.mainModule", "Error.prepareStackTrace", "module.constructor"})
# Node's names for the global object; ``self`` and ``window`` are left out because in Node they
# are ordinary variables (``const self = this``) far more often than anything global.
GLOBAL_PREFIXES = ("globalThis.", "global.")
GLOBAL_OBJECTS = frozenset({"globalThis", "global", "process", "module", "require"})
TIMER_FUNCS = frozenset({"setTimeout", "setInterval", "setImmediate"})
FS_WRITE_FUNCS = frozenset({
    "writeFile", "writeFileSync", "appendFile", "appendFileSync", "createWriteStream", "mkdir", "mkdirSync",
    "mkdtemp", "mkdtempSync", "rm", "rmSync", "rmdir", "rmdirSync", "unlink", "unlinkSync", "rename",
    "renameSync", "copyFile", "copyFileSync", "cp", "cpSync", "symlink", "symlinkSync", "link", "linkSync",
    "chmod", "chmodSync", "chown", "chownSync", "truncate", "truncateSync", "utimes", "utimesSync",
})
FS_OPEN_FUNCS = frozenset({"open", "openSync"})
BUFFER_ALLOC = frozenset({"Buffer.alloc", "Buffer.allocUnsafe", "Buffer.allocUnsafeSlow"})
ARRAY_BYTES = {
    "Array": 8, "ArrayBuffer": 1, "SharedArrayBuffer": 1, "Int8Array": 1, "Uint8Array": 1,
    "Uint8ClampedArray": 1, "Int16Array": 2, "Uint16Array": 2, "Int32Array": 4, "Uint32Array": 4,
    "Float32Array": 4, "Float64Array": 8, "BigInt64Array": 8, "BigUint64Array": 8,
}
GROWING_METHODS = frozenset({"push", "unshift", "concat", "repeat", "fill", "set", "add", "splice", "padStart",
                             "padEnd"})
SPAWN_ROOTS = frozenset({"child_process", "cluster", "worker_threads"})
SCOPE_TYPES = frozenset({
    "function_declaration", "function_expression", "arrow_function", "generator_function",
    "generator_function_declaration", "method_definition", "class_declaration", "class",
})
LOOP_TYPES = frozenset({"for_statement", "for_in_statement", "while_statement", "do_statement"})
LEAVING_TYPES = frozenset({"return_statement", "throw_statement", "yield_expression", "await_expression"})
GROWING_TYPES = frozenset({"new_expression", "array", "object"})
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
MEMBER_TYPES = frozenset({"member_expression", "subscript_expression"})
MAX_DEPTH = 40
MAX_NAME = 256
MAX_ROUNDS = 8
MAX_FOLDED = 4096
MAX_NESTED_CODE = 2
# Deeper than this the query engine degrades (see the js-nesting-too-deep rule); a hand-written
# program stays far below it (the whole corpus: 21).
MAX_TREE_DEPTH = 2000

QUERY = """
(call_expression) @call
(new_expression) @new
(import_statement) @import
(export_statement source: (_)) @import
(variable_declarator) @bind
(assignment_expression) @bind
(subscript_expression) @subscript
(member_expression) @member
((identifier) @ident (#any-of? @ident "eval" "Function"))
[(while_statement) (for_statement) (for_in_statement) (do_statement)] @loop
"""
# Patterns are single nodes on purpose, and nothing asks a node for its parent: a pattern with
# a child and a predicate, such as (member_expression property: (_) @p (#any-of? @p …)), keeps
# one pending match per enclosing node, and Node.parent walks down from the root, so either
# turns ``x.a.a.a…`` or ``f(eval, f(eval, …))`` into quadratic time.
WATCHED_PROPERTIES = frozenset({
    "binding", "_linkedBinding", "dlopen", "kill", "mainModule", "constructor", "prepareStackTrace", "eval",
    "Function",
})


@functools.cache
def _parser() -> tuple[Parser, Query, type[QueryCursor]]:
    """Built once: loading the grammar and compiling the query cost more than linting a file."""
    import tree_sitter
    import tree_sitter_javascript
    from tree_sitter import QueryCursor  # tree-sitter >= 0.25

    language = tree_sitter.Language(tree_sitter_javascript.language())
    return tree_sitter.Parser(language), tree_sitter.Query(language, QUERY), QueryCursor


def analyse(source: str, depth: int = 0) -> list[Finding]:
    try:
        parser, query, cursor = _parser()
    except (ImportError, ValueError) as exc:  # missing, too old, or a grammar of another ABI
        return [finding("js-analyser-unavailable", 1, 1, str(exc))]
    data = source.encode("utf-8", errors="surrogatepass")
    tree = parser.parse(data)
    deep = _first_too_deep(tree.root_node)
    run = cursor(query)
    run.set_max_start_depth(MAX_TREE_DEPTH)
    analyser = _Analyser(data, depth)
    if deep is not None:
        analyser.report("js-nesting-too-deep", deep, f"more than {MAX_TREE_DEPTH} levels")
    return analyser.run(tree.root_node, run.captures(tree.root_node))


def _first_too_deep(root: Node) -> Node | None:
    """The first node nested deeper than MAX_TREE_DEPTH, found by a cursor walk in C-backed
    steps (~0.1 µs a node, under a tenth of the analysis) that stops at the first one."""
    cursor = root.walk()
    depth = 0
    while True:
        if cursor.goto_first_child():
            depth += 1
            if depth > MAX_TREE_DEPTH:
                return cursor.node
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return None
            depth -= 1


# --- constant folding -----------------------------------------------------------------------


def _decode_escape(seq: str) -> str:
    body = seq[1:]
    if body in ESCAPES:
        return ESCAPES[body]
    if body[:1] in "xu" and len(body) > 1:
        digits = body[1:].strip("{}")
        try:
            return chr(int(digits, 16))
        except (ValueError, OverflowError):
            return body
    return "" if body[:1] in "\r\n\u2028\u2029" else body


def const_str(node: Node, depth: int = 0) -> str | None:
    """The value of a string expression built only from constants: the usual disguises of a name."""
    if depth > MAX_DEPTH:
        return None
    kind = node.type
    if kind in ("string", "template_string"):
        parts: list[str] = []
        for child in node.named_children:
            if child.type == "string_fragment":
                parts.append(_text(child))
            elif child.type == "escape_sequence":
                parts.append(_decode_escape(_text(child)))
            elif child.type == "template_substitution":
                inner = child.named_children
                value = const_str(inner[0], depth + 1) if len(inner) == 1 else None
                if value is None:
                    return None
                parts.append(value)
        return "".join(parts)
    if kind == "binary_expression" and _operator(node) == "+":
        parts = []
        for operand in _sum_operands(node):
            part = None if operand is None else const_str(operand, depth + 1)
            if part is None:
                return None
            parts.append(part)
        joined = "".join(parts)
        return joined if len(joined) <= MAX_FOLDED else None
    if kind == "parenthesized_expression" and node.named_child_count == 1:
        return const_str(node.named_children[0], depth + 1)
    if kind == "call_expression":
        return _folded_call(node, depth)
    return None


def _folded_call(node: Node, depth: int) -> str | None:
    func, args = node.child_by_field_name("function"), _args(node)
    if func is None or func.type != "member_expression" or args is None:
        return None
    obj, prop = func.child_by_field_name("object"), func.child_by_field_name("property")
    method = "" if prop is None else _text(prop)
    if obj is None:
        return None
    if method == "fromCharCode" and _text(obj) == "String":
        codes = [const_num(a) for a in args]
        if any(c is None or not 0 <= c < 0x110000 for c in codes):
            return None
        return "".join(chr(int(c)) for c in codes if c is not None)
    if method == "join" and obj.type == "array" and len(args) <= 1:
        sep = const_str(args[0], depth + 1) if args else ","
        parts = [const_str(e, depth + 1) for e in obj.named_children]
        if sep is None or None in parts:
            return None
        joined = sep.join(p for p in parts if p is not None)
        return joined if len(joined) <= MAX_FOLDED else None
    if method == "concat":
        parts = [const_str(n, depth + 1) for n in (obj, *args)]
        return None if None in parts else "".join(p for p in parts if p is not None)[:MAX_FOLDED]
    return None


def const_num(node: Node, depth: int = 0) -> float | None:
    """A numeric expression's value as a float (inf when it overflows)."""
    if depth > MAX_DEPTH:
        return None
    kind = node.type
    if kind == "number":
        text = _text(node).replace("_", "").removesuffix("n")
        try:
            return float(int(text, 0)) if text[:2].lower() in ("0x", "0o", "0b") else float(text)
        except ValueError:
            return None
    if kind == "parenthesized_expression" and node.named_child_count == 1:
        return const_num(node.named_children[0], depth + 1)
    if kind == "unary_expression" and _operator(node) == "-":
        arg = node.child_by_field_name("argument")
        v = None if arg is None else const_num(arg, depth + 1)
        return None if v is None else -v
    if kind != "binary_expression":
        return None
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    a = None if left is None else const_num(left, depth + 1)
    b = None if right is None or a is None else const_num(right, depth + 1)
    if a is None or b is None:
        return None
    try:
        op = _operator(node)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "**":
            return math.pow(a, b)
        if op == "<<":
            return a * math.pow(2.0, b) if b >= 0 else None
    except OverflowError:
        return math.inf
    return None


def _sum_operands(node: Node) -> list[Node | None]:
    """The operands of ``a + b + c`` without recursion: long chains are a cheap disguise."""
    rights: list[Node | None] = []
    current: Node | None = node
    while current is not None and current.type == "binary_expression" and _operator(current) == "+":
        rights.append(current.child_by_field_name("right"))
        current = current.child_by_field_name("left")
    return [current, *reversed(rights)]


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _operator(node: Node) -> str:
    op = node.child_by_field_name("operator")
    return "" if op is None else _text(op)


def _args(node: Node) -> list[Node] | None:
    args = node.child_by_field_name("arguments")
    if args is None or args.type != "arguments":
        return None
    return args.named_children


def _is_plain(node: Node) -> bool:
    if node.type == "string":
        return True
    return node.type == "template_string" and not any(c.type == "template_substitution" for c in node.children)


def _unwrap(node: Node) -> Node:
    """``(0, eval)`` and ``(eval)`` are eval: look through parentheses and comma sequences."""
    while node.type in ("parenthesized_expression", "sequence_expression") and node.named_child_count:
        node = node.named_children[-1]
    return node


def _module_name(name: str) -> str:
    return name.removeprefix("node:").replace("/", ".")


def classify_module(name: str) -> str | None:
    root = _module_name(name).split(".")[0]
    if root in DANGEROUS_MODULES:
        return "js-require-dangerous"
    if root in RISKY_MODULES:
        return "js-require-risky"
    return None


def _normalise(path: str) -> str:
    """``globalThis.eval`` and ``window.process.binding`` are ``eval`` and ``process.binding``."""
    changed = True
    while changed:
        changed = False
        for prefix in GLOBAL_PREFIXES:
            if path.startswith(prefix):
                path, changed = path[len(prefix):], True
    return path


# --- the analysis ---------------------------------------------------------------------------


@dataclass
class LoopSummary:
    """What a loop does, as seen by the loops around it."""

    leaves: bool = False  # return, throw, yield, await, process.exit or a labelled break: may end it
    breaks: bool = False  # a break of its own
    growth: str | None = None  # what it allocates or spawns, if anything


class _Analyser:
    """One analysis: binds names from the captured declarations, then checks the captured nodes."""

    def __init__(self, data: bytes, depth: int) -> None:
        self.data = data
        self.ascii = data.isascii()
        self.depth = depth
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}
        self.resolved: dict[int, str | None] = {}
        self.handled: set[int] = set()

    def position(self, node: Node) -> tuple[int, int]:
        """1-based line and column; tree-sitter columns count bytes, editors count characters."""
        row, col = node.start_point
        if not self.ascii:
            start = node.start_byte
            line_start = self.data.rfind(b"\n", 0, start) + 1
            col = len(self.data[line_start:start].decode("utf-8", errors="ignore"))
        return row + 1, col + 1

    def report(self, rule: str, node: Node, detail: str = "") -> None:
        self.findings.append(finding(rule, *self.position(node), detail))

    def run(self, root: Node, captures: dict[str, list[Node]]) -> list[Finding]:
        if root.has_error:
            self.report_syntax_error(root)
        for node in captures.get("import", []):
            self.bind_import(node)
        binds = sorted(captures.get("bind", []), key=lambda n: n.start_byte)
        for _ in range(MAX_ROUNDS):  # in source order one round settles ``const c = require; c('vm')``
            before = dict(self.aliases)
            for node in binds:
                self.bind(node)
            self.resolved.clear()  # names resolved before the aliases settled may be stale
            if self.aliases == before:
                break
        for node in captures.get("import", []):
            source = node.child_by_field_name("source")
            if source is not None:
                self.check_module(node, source)
        for node in captures.get("call", []):
            self.check_call(node)
        for node in captures.get("new", []):
            self.check_new(node)
        members = [m for m in captures.get("member", []) if self.member_key(m) in WATCHED_PROPERTIES]
        for node in members + captures.get("subscript", []):
            self.check_reference(node)
        for node in captures.get("ident", []):
            self.check_identifier(node)
        self.check_loops(captures.get("loop", []))
        return self.findings

    def report_syntax_error(self, root: Node) -> None:
        node = root
        while True:
            bad = next((c for c in node.children if c.is_error or c.is_missing or c.has_error), None)
            if bad is None:
                self.report("syntax-error", node, "unexpected input")
                return
            if bad.is_missing:
                self.report("syntax-error", bad, f"missing {bad.type!r}")
                return
            if bad.is_error:
                self.report("syntax-error", bad, f"unexpected {_text(bad)[:30]!r}")
                return
            node = bad

    # --- resolution ---------------------------------------------------------------------------

    def bind_import(self, node: Node) -> None:
        source = node.child_by_field_name("source")
        module = None if source is None else const_str(source)
        if module is None:
            return
        module = _module_name(module)
        for clause in (c for c in node.named_children if c.type == "import_clause"):
            for part in clause.named_children:
                if part.type == "identifier":
                    self.aliases[_text(part)] = module
                elif part.type == "namespace_import" and part.named_child_count:
                    self.aliases[_text(part.named_children[-1])] = module
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        name, alias = spec.child_by_field_name("name"), spec.child_by_field_name("alias")
                        if name is not None:
                            self.aliases[_text(alias or name)] = f"{module}.{_text(name)}"

    def bind(self, node: Node) -> None:
        if node.type == "variable_declarator":
            target, value = node.child_by_field_name("name"), node.child_by_field_name("value")
        else:
            target, value = node.child_by_field_name("left"), node.child_by_field_name("right")
        if target is None or value is None:
            return
        resolved = self.resolve(value)
        if resolved is None:
            return
        if target.type == "identifier":
            self.aliases[_text(target)] = resolved
        elif target.type == "object_pattern":
            for prop in target.named_children:
                if prop.type == "shorthand_property_identifier_pattern":
                    self.aliases[_text(prop)] = f"{resolved}.{_text(prop)}"
                elif prop.type == "pair_pattern":
                    key, alias = prop.child_by_field_name("key"), prop.child_by_field_name("value")
                    if key is not None and alias is not None and alias.type == "identifier":
                        name = const_str(key) if key.type != "property_identifier" else _text(key)
                        if name is not None:
                            self.aliases[_text(alias)] = f"{resolved}.{name}"

    def resolve(self, node: Node, depth: int = 0) -> str | None:
        """The dotted name an expression denotes, or None when it is not a name we can follow.

        Member chains are followed iteratively and every link is remembered, so resolving each
        node of ``a.b.c…`` costs constant time however long the chain.
        """
        node = _unwrap(node)
        chain: list[Node] = []
        base: str | None
        while True:
            if node.id in self.resolved:
                base = self.resolved[node.id]
                break
            if node.type not in MEMBER_TYPES:
                base = self.resolve_leaf(node, depth)
                break
            chain.append(node)
            obj = node.child_by_field_name("object")
            if obj is None:
                base = None
                break
            node = _unwrap(obj)
        for link in reversed(chain):
            key = self.member_key(link)
            if base is not None and key is not None and len(base) + len(key) < MAX_NAME:
                base = _normalise(f"{base}.{key}")
            else:
                base = None
            self.resolved[link.id] = base
        return base

    def resolve_leaf(self, node: Node, depth: int) -> str | None:
        if depth > MAX_DEPTH:
            return None
        kind = node.type
        if kind == "identifier":
            name = _text(node)
            return self.aliases.get(name, name)
        if kind == "call_expression":
            func, args = node.child_by_field_name("function"), _args(node)
            if func is None or not args or _unwrap(func).type == "call_expression":
                return None
            called = None if func.type == "import" else self.resolve(func, depth + 1)
            if func.type == "import" or called in REQUIRE_FUNCS:
                name = const_str(args[0])
                return None if name is None else _module_name(name)
            if called == "Reflect.get" and len(args) >= 2:
                base, key = self.resolve(args[0], depth + 1), const_str(args[1])
                return None if base is None or key is None else _normalise(f"{base}.{key}")
            return None
        if kind == "await_expression" and node.named_child_count:
            return self.resolve(node.named_children[0], depth + 1)
        return None

    @staticmethod
    def member_key(node: Node) -> str | None:
        if node.type == "member_expression":
            prop = node.child_by_field_name("property")
            return None if prop is None else _text(prop)
        index = node.child_by_field_name("index")
        return None if index is None else const_str(index)

    # --- checks -------------------------------------------------------------------------------

    def check_module(self, node: Node, name_node: Node) -> None:
        name = const_str(name_node)
        escaped = any(c.type == "escape_sequence" for c in name_node.children)
        if escaped or not _is_plain(name_node):
            detail = f"disguised name {name!r}" if name is not None else "computed name"
            self.report("js-dynamic-require", node, detail)
        if name is not None:
            rule = classify_module(name)
            if rule:
                self.report(rule, node, name)

    def check_call(self, node: Node) -> None:
        func, args = node.child_by_field_name("function"), _args(node)
        if func is None or args is None:
            return
        target = self.resolve(func)
        if func.type == "import" or target in REQUIRE_FUNCS:
            self.handled.add(_unwrap(func).id)
            if args:
                self.check_module(node, args[0])
        elif target == "eval":
            self.handled.add(_unwrap(func).id)
            if args:
                self.check_code(node, "eval", args[0])
        elif target == "Function":
            self.handled.add(_unwrap(func).id)
            self.check_function(node, args)
        elif target in TIMER_FUNCS and args and args[0].type in ("string", "template_string", "binary_expression"):
            self.check_code(node, target, args[0])
        elif target in REFLECT_GET and len(args) >= 2:
            if not _is_plain(args[1]) and self.resolve(args[0]) in GLOBAL_OBJECTS:
                key = const_str(args[1])
                self.report("js-dynamic-access", node, f"disguised name {key!r}" if key is not None
                            else "computed name")
        elif target in BUFFER_ALLOC and args:
            self.check_size(node, const_num(args[0]), 1)
        elif target == "Array" and len(args) == 1:
            self.check_size(node, const_num(args[0]), ARRAY_BYTES["Array"])
        elif target is not None and target.split(".")[0] == "fs":
            self.check_fs(node, target.rsplit(".", 1)[-1], args)
        if _unwrap(func).type == "identifier" and target is not None:
            self.check_target(node, target)
        self.check_function_constructor(node, func)
        if _method(func) == "repeat" and len(args) == 1:
            obj = _unwrap(func).child_by_field_name("object")
            text = None if obj is None else const_str(obj)
            n = const_num(args[0])
            if text is not None and n is not None:
                self.check_size(node, n * max(len(text), 1), 1)

    def check_new(self, node: Node) -> None:
        ctor, args = node.child_by_field_name("constructor"), _args(node) or []
        if ctor is None:
            return
        target = self.resolve(ctor)
        if target == "Function":
            self.handled.add(_unwrap(ctor).id)
            self.check_function(node, args)
        elif target in ARRAY_BYTES and len(args) == 1:
            self.check_size(node, const_num(args[0]), ARRAY_BYTES[target])
        self.check_function_constructor(node, ctor)

    def check_function_constructor(self, node: Node, callee: Node) -> None:
        """``(function(){}).constructor('code')``, ``[].map.constructor(…)`` and the AsyncFunction
        reached through ``Object.getPrototypeOf(async function(){})``: Function without its name."""
        callee = _unwrap(callee)
        if callee.type != "member_expression" or _method(callee) != "constructor":
            return
        obj = callee.child_by_field_name("object")
        if obj is None:
            return
        obj = _unwrap(obj)
        if obj.type == "call_expression":
            func, args = obj.child_by_field_name("function"), _args(obj)
            if func is None or not args or self.resolve(func) not in PROTOTYPE_OF:
                return
            obj = _unwrap(args[0])
        if obj.type in FUNCTION_TYPES or obj.type in MEMBER_TYPES:
            self.report("js-escape-access", node, "a function's constructor is Function")

    def check_code(self, node: Node, name: str, code: Node) -> None:
        text = const_str(code)
        if _is_plain(code):
            self.report("js-eval", node, name)
        else:
            self.report("js-eval-dynamic", node, f"{name} of {'a disguised string' if text else 'a computed value'}")
        if text is not None:
            self.lint_nested(code, name, text)

    def check_function(self, node: Node, args: list[Node]) -> None:
        texts = [const_str(a) for a in args]
        if all(_is_plain(a) for a in args):
            self.report("js-eval", node, "Function")
        else:
            self.report("js-eval-dynamic", node, "Function of a computed value")
        if args and texts[-1] is not None:
            self.lint_nested(args[-1], "Function", texts[-1])

    def lint_nested(self, where: Node, name: str, text: str) -> None:
        """Literal code is linted as if it had been written inline, at the position of the string."""
        if self.depth >= MAX_NESTED_CODE:
            return
        line, col = self.position(where)
        for inner in analyse(text, self.depth + 1):
            if inner.rule != "syntax-error":
                self.findings.append(Finding(inner.rule, inner.severity, line, col,
                                             f"{inner.message} (in code passed to {name})"))

    def check_fs(self, node: Node, method: str, args: list[Node]) -> None:
        if method in FS_OPEN_FUNCS:
            flags = const_str(args[1]) if len(args) > 1 else "r"
            if flags is not None and not any(c in flags for c in "wa+"):
                return
        elif method not in FS_WRITE_FUNCS:
            return
        for arg in args[:2] if method in ("rename", "renameSync", "copyFile", "copyFileSync", "cp", "cpSync",
                                          "symlink", "symlinkSync", "link", "linkSync") else args[:1]:
            prefix = self.path_prefix(arg)
            if prefix is not None and escapes_workdir(*prefix):
                shown = repr(prefix[0]) if prefix[1] else f"{prefix[0]!r}..."
                self.report("js-fs-write-outside-cwd", node, f"{method} {shown}")

    def path_prefix(self, node: Node, depth: int = 0) -> tuple[str, bool] | None:
        """The known leading part of a path expression and whether it is the whole path."""
        if depth > MAX_DEPTH:
            return None
        node = _unwrap(node)
        whole = const_str(node)
        if whole is not None:
            return whole, True
        if node.type == "template_string":
            known = ""
            for child in node.named_children:
                if child.type == "template_substitution":
                    return (known, False) if known else None
                known += _text(child) if child.type == "string_fragment" else _decode_escape(_text(child))
            return known, True
        if node.type == "binary_expression" and _operator(node) == "+":
            first = _sum_operands(node)[0]
            prefix = None if first is None else self.path_prefix(first, depth + 1)
            return None if prefix is None else (prefix[0], False)
        if node.type == "call_expression":
            func, args = node.child_by_field_name("function"), _args(node)
            if func is not None and args and self.resolve(func) in ("path.join", "path.resolve", "path.posix.join"):
                return self.joined(args, depth)
        return None

    def joined(self, args: list[Node], depth: int) -> tuple[str, bool] | None:
        known: str | None = None
        for arg in args:
            prefix = self.path_prefix(arg, depth + 1)
            if prefix is None:
                return None if known is None else (known, False)
            part, complete = prefix
            known = part if known is None or part.startswith("/") else f"{known.rstrip('/')}/{part}"
            if not complete:
                return known, False
        return None if known is None else (known, True)

    def check_target(self, node: Node, target: str) -> None:
        """Findings that depend only on what a member expression or alias denotes."""
        if target in BINDING_FUNCS:
            self.report("js-process-binding", node, target)
        elif target == "process.kill":
            self.report("js-process-kill", node, target)
        elif target in ESCAPE_PATHS:
            self.report("js-escape-access", node, target)

    def check_reference(self, node: Node) -> None:
        obj = node.child_by_field_name("object")
        if obj is None:
            return
        key = self.member_key(node)
        inner = _unwrap(obj)
        if key == "constructor" and inner.type in MEMBER_TYPES and self.member_key(inner) == "constructor":
            self.report("js-escape-access", node, "constructor.constructor reaches Function")
        if node.type == "subscript_expression":
            self.check_subscript(node, obj, key)
        target = self.resolve(node)
        if target is None:
            return
        self.check_target(node, target)
        if target in ("eval", "Function") and node.id not in self.handled:
            self.report("js-eval-dynamic", node, f"{target} used as a value")

    def check_subscript(self, node: Node, obj: Node, key: str | None) -> None:
        index = node.child_by_field_name("index")
        if index is None or _is_plain(index) or index.type == "number":
            return
        if self.resolve(obj) in GLOBAL_OBJECTS:
            detail = f"disguised name {key!r}" if key is not None else "computed name"
            self.report("js-dynamic-access", node, detail)

    def check_identifier(self, node: Node) -> None:
        """eval or Function handed around as a value (``[s].map(eval)``) rather than called. Declaring
        either name is not exempt: strict mode forbids it, and only disguise would bother."""
        if node.id not in self.handled:
            self.report("js-eval-dynamic", node, f"{_text(node)} used as a value")

    def check_loops(self, loops: list[Node]) -> None:
        """Summarise loops innermost first, so an enclosing loop reuses its inner loops' summaries
        instead of walking them again: each node is visited once however deep the nesting."""
        summaries: dict[int, LoopSummary] = {}
        for loop in sorted(loops, key=lambda n: n.start_byte, reverse=True):
            summary = summaries[loop.id] = self.summarise(loop, summaries)
            if summary.growth and not summary.leaves and not summary.breaks and _endless(loop):
                self.report("js-resource-bomb", loop, summary.growth)

    def summarise(self, loop: Node, summaries: dict[int, LoopSummary]) -> LoopSummary:
        summary = LoopSummary()
        stack: list[tuple[Node, bool]] = [(child, False) for child in loop.named_children]
        while stack:
            node, in_switch = stack.pop()
            kind = node.type
            if kind in SCOPE_TYPES:
                continue
            inner = summaries.get(node.id) if kind in LOOP_TYPES else None
            if inner is not None:
                summary.leaves |= inner.leaves
                summary.growth = inner.growth or summary.growth
                continue
            if kind == "break_statement":
                if node.child_by_field_name("label") is not None:
                    summary.leaves = True  # may leave an enclosing loop too
                elif not in_switch:
                    summary.breaks = True
            elif kind in LEAVING_TYPES:
                summary.leaves = True
            elif kind == "call_expression":
                self.summarise_call(node, summary)
            elif summary.growth is None and kind in GROWING_TYPES:
                summary.growth = "allocates a new " + ("array" if kind == "array" else "object")
            elif summary.growth is None and kind == "augmented_assignment_expression" and _operator(node) == "+=":
                right = node.child_by_field_name("right")
                if right is not None and right.type != "number":
                    summary.growth = "grows a value in place"
            elif summary.growth is None and kind == "assignment_expression" and _self_growing(node):
                summary.growth = "grows a value by reassignment"
            in_switch_below = in_switch or kind == "switch_statement"
            stack.extend((child, in_switch_below) for child in node.named_children)
        return summary

    def summarise_call(self, node: Node, summary: LoopSummary) -> None:
        func = node.child_by_field_name("function")
        if func is None:
            return
        target = self.resolve(func)
        method = _method(func)
        if target == "process.exit":
            summary.leaves = True
        elif target is not None and target.split(".")[0] in SPAWN_ROOTS:
            summary.growth = f"spawns with {target}"
        elif summary.growth is None and method in GROWING_METHODS:
            summary.growth = f"grows a value with .{method}()"

    def check_size(self, node: Node, count: float | None, unit: int) -> None:
        if count is not None and count * unit >= HUGE_BYTES:
            size = "unbounded" if math.isinf(count) else f"~{count * unit / (1 << 30):.3g} GiB"
            self.report("js-huge-allocation", node, size)


def _method(func: Node) -> str | None:
    func = _unwrap(func)
    prop = func.child_by_field_name("property") if func.type == "member_expression" else None
    return None if prop is None else _text(prop)


def _self_growing(node: Node) -> bool:
    """``s = s + s`` or ``a = a * 2``: the spelled-out ``s += s``. ``n = n + 1`` is a counter."""
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if left is None or right is None or left.type != "identifier":
        return False
    right = _unwrap(right)
    if right.type != "binary_expression" or _operator(right) not in ("+", "*"):
        return False
    sides = [right.child_by_field_name("left"), right.child_by_field_name("right")]
    if any(side is None or side.type == "number" for side in sides):
        return False
    name = _text(left)
    return any(side is not None and side.type == "identifier" and _text(side) == name for side in sides)


def _endless(loop: Node) -> bool:
    if loop.type == "for_in_statement":
        return False
    conditions = [c for c in loop.children_by_field_name("condition") if c.is_named]
    if loop.type == "for_statement":
        return not conditions or conditions[0].type == "empty_statement" or _truthy(conditions[0])
    return bool(conditions) and _truthy(conditions[0])


def _truthy(node: Node) -> bool:
    node = _unwrap(node)
    if node.type == "expression_statement" and node.named_child_count:
        node = _unwrap(node.named_children[0])
    if node.type == "true":
        return True
    if node.type == "number":
        return const_num(node) not in (0.0, None)
    if node.type == "unary_expression" and _operator(node) == "!":
        arg = node.child_by_field_name("argument")
        return arg is not None and (arg.type == "false" or (arg.type == "number" and const_num(arg) == 0.0))
    return False
