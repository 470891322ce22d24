"""Python analysis on the standard library's syntax tree.

Names are resolved to what they denote (``import os as o; o.system`` is ``os.system``,
``getattr(__builtins__, 'ev' + 'al')`` is ``builtins.eval``) by one flow-insensitive pass over
imports and simple assignments, so aliasing does not hide a call. String obfuscation is
undone by folding constant expressions; whenever a name had to be folded rather than read,
that itself is reported, because honest code spells its names out.

The analysis errs towards reporting: the builtins that run or reach code (eval, exec,
compile, __import__, getattr, globals, open…) are never considered shadowed by a user
definition, since a flow-insensitive pass cannot tell whether the shadowing runs first.
"""

from __future__ import annotations

import ast
import builtins
import math
import posixpath
import threading
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from .rules import HUGE_BYTES, Finding, escapes_workdir, finding

DANGEROUS_MODULES = frozenset({
    "ctypes", "_ctypes", "cffi", "subprocess", "_posixsubprocess", "pty", "socket", "_socket", "posix",
    "socketserver",
})
RISKY_MODULES = frozenset({
    "os", "shutil", "signal", "multiprocessing", "resource", "fcntl", "mmap", "gc", "builtins",
    "urllib.request", "http.client", "http.server", "ftplib", "smtplib", "telnetlib", "poplib", "imaplib",
    "xmlrpc", "asyncio.subprocess",
})
# Modules whose attributes, looked up by a computed name, are capabilities.
CAPABILITY_MODULES = DANGEROUS_MODULES | RISKY_MODULES | {"sys", "importlib"}
# What an exercise typically wants from os; an import used for nothing else is not reported.
OS_SAFE_ATTRS = frozenset({
    "path", "sep", "linesep", "pathsep", "curdir", "pardir", "extsep", "altsep", "name", "devnull",
    "getcwd", "getcwdb", "listdir", "scandir", "walk", "environ", "getenv", "cpu_count", "urandom",
    "get_terminal_size", "fspath", "getpid", "strerror", "SEEK_SET", "SEEK_CUR", "SEEK_END",
})
PROCESS_FUNCS = frozenset(
    f"os.{n}" for n in (
        "system", "popen", "fork", "forkpty", "kill", "killpg", "posix_spawn", "posix_spawnp", "chroot",
        "setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid",
        "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
        "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
    )
) | {"asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell"}  # subprocess without importing it
ESCAPE_ATTRS = frozenset({
    "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__loader__", "__self__",
    "f_globals", "f_locals", "f_builtins", "f_back", "gi_frame", "cr_frame", "ag_frame", "tb_frame",
    "_getframe",
})
IMPORT_FUNCS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
EVAL_FUNCS = frozenset({"builtins.eval", "builtins.exec", "builtins.compile"})
# Other doors to code that the source does not spell out: an interactive interpreter fed from
# stdin, and a code object built from raw bytecode.
CODE_FUNCS = frozenset({
    "code.interact", "code.InteractiveConsole", "code.InteractiveInterpreter", "code.compile_command",
    "codeop.compile_command", "types.CodeType",
})
# A literal pickle is a program: its opcodes import and call whatever they name
# (b"cos\nsystem\n(S'id'\ntR." is os.system('id')), so a constant payload is code in disguise.
UNPICKLE_FUNCS = frozenset({"pickle.loads", "_pickle.loads", "marshal.loads"})
GETATTR_FUNCS = frozenset({"builtins.getattr", "builtins.setattr", "builtins.delattr"})
NAMESPACE_FUNCS = frozenset({"builtins.globals", "builtins.locals", "builtins.vars"})
UNSHADOWED = EVAL_FUNCS | GETATTR_FUNCS | NAMESPACE_FUNCS | {"builtins.__import__", "builtins.open"}
OPEN_FUNCS = frozenset({"builtins.open", "io.open", "codecs.open"})
PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.PurePath", "pathlib.PurePosixPath"})
PATH_READ_METHODS = frozenset({"read_text", "read_bytes"})
PATH_WRITE_METHODS = frozenset({
    "write_text", "write_bytes", "touch", "mkdir", "unlink", "rmdir", "rename", "replace", "symlink_to",
    "hardlink_to", "chmod",
})
PATH_METHODS = PATH_READ_METHODS | PATH_WRITE_METHODS | {"open"}
WRITE_FUNCS = frozenset(
    {f"os.{n}" for n in (
        "remove", "unlink", "rmdir", "removedirs", "mkdir", "makedirs", "rename", "renames", "replace",
        "symlink", "link", "chmod", "chown", "lchown", "truncate", "mkfifo", "mknod", "utime",
    )}
    | {f"shutil.{n}" for n in ("copy", "copy2", "copyfile", "copytree", "move", "rmtree", "chown")}
)
O_WRITE_FLAGS = frozenset({"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"})
# Calls that end a loop, or may: input() and next() raise at the end of their input.
LOOP_ENDING_FUNCS = frozenset({
    "sys.exit", "builtins.exit", "builtins.quit", "os._exit", "os.abort", "builtins.input", "builtins.next",
})
LOOP_ENDING_METHODS = frozenset({"pop", "popleft", "popitem"})
SPAWN_FUNCS = PROCESS_FUNCS | {"threading.Thread", "multiprocessing.Process", "subprocess.Popen",
                               "subprocess.run", "subprocess.call"}
INFINITE_ITERATORS = frozenset({"itertools.count", "itertools.cycle"})
GROWING_METHODS = frozenset({
    "append", "extend", "insert", "add", "update", "appendleft", "extendleft", "setdefault", "put",
})
CONTAINER_NODES = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
LOOP_NODES = (ast.For, ast.AsyncFor, ast.While)
LEAVING_NODES = (ast.Return, ast.Raise, ast.Assert, ast.Yield, ast.YieldFrom, ast.Await)
BUILTIN_NAMES = frozenset(dir(builtins))
# Fields that hold names, operators, flags or contexts, never nodes worth visiting.
SCALAR_FIELDS = frozenset({
    "ctx", "op", "ops", "id", "attr", "arg", "name", "names", "module", "asname", "level", "kind",
    "type_comment", "type_ignores", "conversion", "is_async", "simple", "tag", "kwd_attrs", "rest",
})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: ()}
GLOBALS = "<globals>"
MAX_DEPTH = 40
MAX_FOLDED = 4096
MAX_NESTED_CODE = 2
MAX_ROUNDS = 8
_PARSE_LOCK = threading.Lock()


def analyse(source: str, depth: int = 0) -> list[Finding]:
    """Parse and analyse; a source that does not parse yields exactly one syntax finding."""
    try:
        tree = _parse(source)
    except SyntaxError as exc:
        return [finding("syntax-error", max(exc.lineno or 1, 1), max(exc.offset or 1, 1), exc.msg)]
    except ValueError as exc:  # a NUL byte, which ast refuses before tokenising
        before = source[: max(source.find("\0"), 0)]
        return [finding("syntax-error", before.count("\n") + 1, len(before) - before.rfind("\n"), str(exc))]
    except (RecursionError, MemoryError):
        return [finding("syntax-error", 1, 1, "nesting too deep to parse")]
    return _Analyser(source, depth).run(tree)


def _parse(source: str) -> ast.Module:
    """ast.parse without the SyntaxWarnings (``1if x``, ``'\\d'``) that the parser would otherwise print
    on the daemon's stderr for every user program. catch_warnings swaps process-wide state, so
    the lock keeps concurrent lints from restoring each other's filters."""
    with _PARSE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source)


# --- constant folding -----------------------------------------------------------------------


def _is_plain(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def const_str(node: ast.expr, depth: int = 0) -> str | None:
    """The value of a string expression built only from constants: the usual disguises of a name."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = []
        for operand in _operands(node):
            part = const_str(operand, depth + 1)
            if part is None:
                return None
            parts.append(part)
        joined = "".join(parts)
        return joined if len(joined) <= MAX_FOLDED else None
    if isinstance(node, ast.JoinedStr):
        parts = [_formatted_part(v, depth + 1) for v in node.values]
        return None if None in parts else "".join(p for p in parts if p is not None)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        return _folded_slice(node.value, node.slice, depth)
    if isinstance(node, ast.Call) and not node.keywords:
        return _folded_call(node, depth)
    return None


def _operands(node: ast.BinOp) -> list[ast.expr]:
    """The operands of ``a + b + c`` (or ``p / q / r``) without recursion: long chains are a cheap disguise."""
    rights: list[ast.expr] = []
    current: ast.expr = node
    while isinstance(current, ast.BinOp) and type(current.op) is type(node.op):
        rights.append(current.right)
        current = current.left
    return [current, *reversed(rights)]


def _formatted_part(node: ast.expr, depth: int) -> str | None:
    if isinstance(node, ast.FormattedValue):
        plain = node.conversion == -1 and node.format_spec is None
        return const_str(node.value, depth) if plain else None
    return const_str(node, depth)


def _folded_slice(value: ast.expr, sl: ast.Slice, depth: int) -> str | None:
    text = const_str(value, depth + 1)
    if text is None:
        return None
    bounds: list[int | None] = []
    for bound in (sl.lower, sl.upper, sl.step):
        n = None if bound is None else const_num(bound)
        if bound is not None and (n is None or not math.isfinite(n)):
            return None
        bounds.append(None if n is None else int(n))
    return None if bounds[2] == 0 else text[slice(*bounds)]


def _folded_call(node: ast.Call, depth: int) -> str | None:
    func = node.func
    if isinstance(func, ast.Name) and func.id == "chr" and len(node.args) == 1:
        code = const_num(node.args[0])
        return chr(int(code)) if code is not None and 0 <= code < 0x110000 else None
    if (isinstance(func, ast.Attribute) and func.attr == "join" and len(node.args) == 1
            and isinstance(node.args[0], ast.List | ast.Tuple)):
        sep = const_str(func.value, depth + 1)
        parts = [const_str(e, depth + 1) for e in node.args[0].elts]
        if sep is None or None in parts:
            return None
        joined = sep.join(p for p in parts if p is not None)
        return joined if len(joined) <= MAX_FOLDED else None
    return None


def const_num(node: ast.expr, depth: int = 0) -> float | None:
    """An integer expression's magnitude as a float (inf when astronomically large), never computed
    exactly so that the analyser cannot itself be made to evaluate ``10**10**10``."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int):
            return None
        try:
            return float(v)
        except OverflowError:
            return math.inf
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = const_num(node.operand, depth + 1)
        return None if v is None else -v
    if not isinstance(node, ast.BinOp):
        return None
    a, b = const_num(node.left, depth + 1), const_num(node.right, depth + 1)
    if a is None or b is None:
        return None
    return _arith(node.op, a, b)


def _arith(op: ast.operator, a: float, b: float) -> float | None:
    try:
        if isinstance(op, ast.Add):
            return a + b
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            return a * b
        if isinstance(op, ast.Pow):
            return math.pow(a, b) if b >= 0 else None
        if isinstance(op, ast.LShift):
            return a * math.pow(2.0, b) if b >= 0 else None
        if isinstance(op, ast.FloorDiv):
            return math.floor(a / b) if b and math.isfinite(a / b) else None
    except OverflowError:
        return math.inf
    return None


def _pow_bytes(node: ast.BinOp) -> float:
    """Size of ``a ** b`` estimated from logarithms, so the estimate itself stays cheap."""
    base, exp = const_num(node.left), const_num(node.right)
    if base is None or exp is None or exp <= 0 or abs(base) < 2:
        return 0.0
    return exp * math.log2(abs(base)) / 8 if math.isfinite(base) else math.inf


def _sequence_bytes(node: ast.expr) -> int | None:
    """Bytes per repetition of a literal sequence, or None when the node is not one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        return max(len(node.value), 1)
    if isinstance(node, ast.List | ast.Tuple):
        return max(len(node.elts), 1) * 8
    return None


def _grows(node: ast.AugAssign) -> bool:
    """``s += x`` and ``l *= 2`` grow their target; ``n += 1`` is a counter."""
    numeric = isinstance(node.value, ast.Constant) and isinstance(node.value.value, int | float)
    return isinstance(node.op, ast.Add | ast.Mult) and not numeric


def _self_growing(node: ast.Assign) -> bool:
    """``s = s + s`` or ``a = a * 2``: the spelled-out ``s += s``. ``n = n + 1`` is a counter."""
    value = node.value
    if not (isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add | ast.Mult)):
        return False
    if any(isinstance(side, ast.Constant) and isinstance(side.value, int | float)
           for side in (value.left, value.right)):
        return False
    names = {t.id for t in node.targets if isinstance(t, ast.Name)}
    return any(isinstance(side, ast.Name) and side.id in names for side in (value.left, value.right))


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _writes(mode: ast.expr | None) -> bool:
    """Whether an open() mode may write; a mode we cannot read is assumed to."""
    text = "r" if mode is None else const_str(mode)
    return text is None or any(c in text for c in "wax+")


def gather(tree: ast.AST) -> defaultdict[type, list[Any]]:
    """Every node, grouped by type, in one pass: ast.walk's generic field iteration would cost
    more than all the checks together, so fields that never hold nodes are skipped."""
    groups: defaultdict[type, list[Any]] = defaultdict(list)
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, ast.AST):
            continue
        kind = type(node)
        groups[kind].append(node)
        fields = _CHILD_FIELDS.get(kind)
        if fields is None:
            fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f not in SCALAR_FIELDS)
        for field in fields:
            value = getattr(node, field, None)
            if type(value) is list:
                stack.extend(value)
            else:
                stack.append(value)
    return groups


def classify_module(module: str) -> str | None:
    """The import rule a module falls under; os.path is exempt because exercises live on it."""
    if module == "os.path" or module.startswith("os.path."):
        return None
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in DANGEROUS_MODULES:
            return "py-import-dangerous"
        if prefix in RISKY_MODULES:
            return "py-import-risky"
    return None


# --- the analysis ---------------------------------------------------------------------------


@dataclass
class LoopSummary:
    """What a loop does, as seen by the loops around it."""

    leaves: bool = False  # return, raise, yield, await or an exit call: may end it and its enclosers
    breaks: bool = False  # a break of its own
    growth: str | None = None  # what it allocates or spawns, if anything


class _Analyser:
    """One analysis: binds names in a first pass over the tree, then checks the nodes it kept."""

    def __init__(self, source: str, depth: int) -> None:
        self.source = source
        self.depth = depth
        self.lines: list[str] | None = None
        self.findings: list[Finding] = []
        self.bindings: dict[str, str | None] = {}
        self.imported: set[str] = set()
        self.star_modules: list[str] = []
        self.loads: Counter[str] = Counter()
        self.os_safe_uses: Counter[str] = Counter()
        self.handled_funcs: set[int] = set()

    def report(self, rule: str, node: ast.AST, detail: str = "") -> None:
        line = getattr(node, "lineno", 1)
        col = self._char_col(line, getattr(node, "col_offset", 0)) + 1
        self.findings.append(finding(rule, line, col, detail))

    def _char_col(self, line: int, byte_col: int) -> int:
        """ast columns count UTF-8 bytes; editors count characters."""
        if self.source.isascii():
            return byte_col
        if self.lines is None:
            self.lines = self.source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if line > len(self.lines):
            return byte_col
        return len(self.lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def run(self, tree: ast.Module) -> list[Finding]:
        nodes = gather(tree)
        for name in nodes[ast.Name]:
            if type(name.ctx) is ast.Load:
                self.loads[name.id] += 1
            else:
                self.bindings.setdefault(name.id, None)
        for attr in nodes[ast.Attribute]:
            if isinstance(attr.value, ast.Name) and attr.attr in OS_SAFE_ATTRS:
                self.os_safe_uses[attr.value.id] += 1
        for kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            for definition in nodes[kind]:
                self.bindings.setdefault(definition.name, None)
        for arg in nodes[ast.arg]:
            self.bindings.setdefault(arg.arg, None)
        imports = nodes[ast.Import] + nodes[ast.ImportFrom]
        for imp in imports:
            self._bind_import(imp)
        assigns = [(t.id, a.value) for a in nodes[ast.Assign] for t in a.targets if isinstance(t, ast.Name)]
        assigns += [(a.target.id, a.value) for a in nodes[ast.AnnAssign]
                    if isinstance(a.target, ast.Name) and a.value is not None]
        assigns.sort(key=lambda pair: (pair[1].lineno, pair[1].col_offset))
        for _ in range(MAX_ROUNDS):  # in source order one round settles ``s = os; f = s.system``
            before = dict(self.bindings)
            for bound, value in assigns:
                target = self.resolve(value)
                if target is not None and bound not in self.imported:
                    self.bindings[bound] = target
            if self.bindings == before:
                break
        for imp in imports:
            self.check_import(imp)
        for call in nodes[ast.Call]:
            self.check_call(call)
        for attr in nodes[ast.Attribute]:
            self.check_attribute(attr)
        for sub in nodes[ast.Subscript]:
            self.check_subscript(sub)
        for name in nodes[ast.Name]:
            if type(name.ctx) is ast.Load:
                self.check_name(name)
        self.check_loops(nodes[ast.While] + nodes[ast.For] + nodes[ast.AsyncFor])
        for binop in nodes[ast.BinOp]:
            self.check_binop(binop)
        return self.findings

    def _bind_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                self.bindings[bound] = alias.name if alias.asname else bound
                self.imported.add(bound)
            return
        if node.level or not node.module:
            return
        for alias in node.names:
            if alias.name == "*":
                self.star_modules.append(node.module)
            else:
                bound = alias.asname or alias.name
                self.bindings[bound] = f"{node.module}.{alias.name}"
                self.imported.add(bound)

    # --- resolution ---------------------------------------------------------------------------

    def resolve_name(self, name: str) -> str | None:
        if name == "__builtins__":
            return "builtins"
        builtin = f"builtins.{name}"
        if builtin in UNSHADOWED and name not in self.imported:
            return builtin
        if name in self.bindings:
            return self.bindings[name]
        if name in BUILTIN_NAMES:
            return builtin
        for module in self.star_modules:
            if f"{module}.{name}" in PROCESS_FUNCS:
                return f"{module}.{name}"
        return name

    def resolve(self, node: ast.expr, depth: int = 0) -> str | None:
        """The dotted name an expression denotes, or None when it is not a name we can follow."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, ast.Name):
            return self.resolve_name(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value, depth + 1)
            return None if base is None or base == GLOBALS else f"{base}.{node.attr}"
        if isinstance(node, ast.Subscript):
            key = const_str(node.slice)
            return None if key is None else self._resolve_item(self.resolve(node.value, depth + 1), key)
        if isinstance(node, ast.Call):
            return self._resolve_call(node, depth)
        return None

    def _resolve_item(self, base: str | None, key: str) -> str | None:
        if base == GLOBALS:
            return self.resolve_name(key)
        if base == "sys.modules":
            return key
        if base == "builtins":
            return f"builtins.{key}"
        if base is not None and base.endswith(".__dict__"):
            return f"{base.removesuffix('.__dict__')}.{key}"
        return None

    def _resolve_call(self, node: ast.Call, depth: int) -> str | None:
        func = self.resolve(node.func, depth + 1)
        args = node.args
        if func in IMPORT_FUNCS and args:
            module = const_str(args[0])
            if module is None:
                return None
            return module if func == "importlib.import_module" else module.split(".")[0]
        if func == "builtins.getattr" and len(args) >= 2:
            base, attr = self.resolve(args[0], depth + 1), const_str(args[1])
            if base is None or attr is None:
                return None
            return self.resolve_name(attr) if base == GLOBALS else f"{base}.{attr}"
        if func in ("builtins.globals", "builtins.locals") or (func == "builtins.vars" and not args):
            return GLOBALS
        if func == "builtins.vars" and len(args) == 1:
            base = self.resolve(args[0], depth + 1)
            return None if base is None else f"{base}.__dict__"
        return None

    def is_namespace(self, base: str | None) -> bool:
        """Tables whose keys are capabilities: globals, builtins, sys.modules, a module's __dict__."""
        if base is None:
            return False
        if base in (GLOBALS, "builtins", "sys.modules"):
            return True
        root = base.split(".")[0]
        return base.endswith(".__dict__") and (root in self.imported or root == "builtins")

    def is_capability(self, base: str | None) -> bool:
        """Objects whose attributes, reached by a computed name, can be anything dangerous."""
        if base is None:
            return False
        if self.is_namespace(base):
            return True
        root = base.split(".")[0]
        return root in self.imported and (self.bindings.get(root) or "").split(".")[0] in CAPABILITY_MODULES

    # --- checks -------------------------------------------------------------------------------

    def check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "os" or (alias.asname and alias.name != "os"):
                    self.report_module(alias.name, alias)
                    continue
                bound = alias.asname or "os"
                if self.loads[bound] != self.os_safe_uses[bound]:
                    self.report("py-import-risky", alias, "os (used beyond os.path)")
            return
        if node.level or not node.module:
            return
        module = node.module
        if classify_module(module) == "py-import-dangerous":
            self.report("py-import-dangerous", node, module)
            return
        risky: list[str] = []
        for alias in node.names:
            qualified = f"{module}.{alias.name}"
            if qualified in PROCESS_FUNCS:
                self.report("py-os-process", alias, qualified)
            elif classify_module(module) is None:
                if classify_module(qualified):  # a risky submodule: from urllib import request
                    risky.append(alias.name)
            elif not (module == "os" and alias.name in OS_SAFE_ATTRS):
                risky.append(alias.name)
        if risky:
            self.report("py-import-risky", node, f"{module} ({', '.join(risky)})")

    def report_module(self, module: str, node: ast.AST) -> None:
        rule = classify_module(module)
        if rule:
            self.report(rule, node, module)

    def check_call(self, node: ast.Call) -> None:
        func = self.resolve(node.func)
        args = node.args
        for arg in args:
            name = const_str(arg)
            if name in ESCAPE_ATTRS:
                self.report("py-dunder-escape", arg, name)
        if func in IMPORT_FUNCS and args:
            self.handled_funcs.add(id(node.func))
            self.check_dynamic_import(node, func, args[0])
        elif func in EVAL_FUNCS:
            self.handled_funcs.add(id(node.func))
            self.check_eval(node, func.removeprefix("builtins."))
        elif func in GETATTR_FUNCS and len(args) >= 2:
            self.check_getattr(node)
        elif func in CODE_FUNCS and self.imported_root(node.func):
            self.report("py-eval-dynamic", node, f"{func} runs code the source does not contain")
        elif func in UNPICKLE_FUNCS and self.imported_root(node.func) and args \
                and isinstance(args[0], ast.Constant) and isinstance(args[0].value, bytes | str):
            self.report("py-eval-dynamic", node, f"{func} of a literal payload, which may call anything")
        elif func in OPEN_FUNCS:
            self.check_open(node, args[0] if args else _keyword(node, "file"),
                            _writes(args[1] if len(args) > 1 else _keyword(node, "mode")))
        elif func == "os.open":
            flags = args[1] if len(args) > 1 else _keyword(node, "flags")
            write = flags is not None and any(
                (n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", None)) in O_WRITE_FLAGS
                for n in ast.walk(flags))
            self.check_open(node, args[0] if args else _keyword(node, "path"), write)
        elif func in WRITE_FUNCS:
            for arg in args:
                self.check_open(node, arg, True)
        elif func in ("builtins.bytearray", "builtins.bytes") and len(args) == 1:
            self.check_size(node, const_num(args[0]), 1)
        elif func in ("builtins.list", "builtins.tuple", "builtins.set") and len(args) == 1:
            inner = args[0]
            if isinstance(inner, ast.Call) and self.resolve(inner.func) == "builtins.range" and inner.args:
                self.check_size(node, const_num(inner.args[1] if len(inner.args) > 1 else inner.args[0]), 8)
        if isinstance(node.func, ast.Attribute) and node.func.attr in PATH_METHODS:
            self.check_path_method(node, node.func)

    def imported_root(self, func: ast.expr) -> bool:
        """Whether a call's dotted name starts at an import, not at a variable that happens to be
        called ``code`` or ``types``."""
        while isinstance(func, ast.Attribute):
            func = func.value
        return isinstance(func, ast.Name) and func.id in self.imported

    def check_dynamic_import(self, node: ast.Call, func: str, arg: ast.expr) -> None:
        name = const_str(arg)
        if not _is_plain(arg):
            self.report("py-dynamic-import", node, repr(name) if name is not None else "computed name")
        if name is not None:
            self.report_module(name if func == "importlib.import_module" else name.split(".")[0], node)

    def check_eval(self, node: ast.Call, name: str) -> None:
        if not node.args:
            return
        code = node.args[0]
        text = const_str(code)
        if _is_plain(code):
            self.report("py-eval", node, name)
        else:
            self.report("py-eval-dynamic", node, f"{name} of {'a disguised string' if text else 'a computed value'}")
        if text is None or self.depth >= MAX_NESTED_CODE:
            return
        line, col = code.lineno, self._char_col(code.lineno, code.col_offset) + 1
        for inner in analyse(text, self.depth + 1):
            if inner.rule != "syntax-error":
                self.findings.append(Finding(inner.rule, inner.severity, line, col,
                                         f"{inner.message} (in code passed to {name})"))

    def check_getattr(self, node: ast.Call) -> None:
        target, name_node = node.args[0], node.args[1]
        resolved = self.resolve(node)
        if resolved in PROCESS_FUNCS:
            self.report("py-os-process", node, resolved)
        if _is_plain(name_node):
            return
        name = const_str(name_node)
        if name is not None:
            self.report("py-dynamic-access", node, f"disguised name {name!r}")
        elif self.is_capability(self.resolve(target)):
            self.report("py-dynamic-access", node, "computed name on a module, builtins or globals")

    def check_open(self, node: ast.Call, path: ast.expr | None, write: bool) -> None:
        prefix = None if path is None else self.path_prefix(path)
        if prefix is not None:
            self.report_path(node, prefix, write)

    def check_path_method(self, node: ast.Call, func: ast.Attribute) -> None:
        if not self.is_path_object(func.value):
            return
        prefix = self.path_prefix(func.value)
        if prefix is None:
            return
        if func.attr == "open":
            write = _writes(node.args[0] if node.args else _keyword(node, "mode"))
        else:
            write = func.attr in PATH_WRITE_METHODS
        self.report_path(node, prefix, write)

    def is_path_object(self, node: ast.expr) -> bool:
        while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            node = node.left
        return isinstance(node, ast.Call) and self.resolve(node.func) in PATH_TYPES

    def report_path(self, node: ast.AST, prefix: tuple[str, bool], write: bool) -> None:
        text, complete = prefix
        if escapes_workdir(text, complete):
            shown = repr(text) if complete else f"{text!r}..."
            self.report("py-write-outside-cwd" if write else "py-open-outside-cwd", node, shown)

    def path_prefix(self, node: ast.expr, depth: int = 0) -> tuple[str, bool] | None:
        """The known leading part of a path expression and whether it is the whole path."""
        if depth > MAX_DEPTH:
            return None
        whole = const_str(node)
        if whole is not None:
            return whole, True
        if isinstance(node, ast.JoinedStr):
            known = ""
            for v in node.values:
                part = _formatted_part(v, depth + 1)
                if part is None:
                    return (known, False) if known else None
                known += part
            return known, True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            first = self.path_prefix(_operands(node)[0], depth + 1)
            return None if first is None else (first[0], False)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self._joined(_operands(node), depth)
        if isinstance(node, ast.Call) and not node.keywords:
            func = self.resolve(node.func)
            if func in ("os.path.join", "posixpath.join") or func in PATH_TYPES:
                return self._joined(node.args, depth)
        return None

    def _joined(self, parts: list[ast.expr], depth: int) -> tuple[str, bool] | None:
        joined: str | None = None
        for part in parts:
            prefix = self.path_prefix(part, depth + 1)
            if prefix is None:
                return None if joined is None else (joined, False)
            joined = prefix[0] if joined is None else posixpath.join(joined, prefix[0])
            if not prefix[1]:
                return joined, False
        return None if joined is None else (joined, True)

    def check_attribute(self, node: ast.Attribute) -> None:
        if node.attr in ESCAPE_ATTRS:
            self.report("py-dunder-escape", node, node.attr)
        if type(node.ctx) is ast.Load:
            self.check_reference(node, self.resolve(node))

    def check_reference(self, node: ast.expr, target: str | None) -> None:
        """A process function or eval reached by attribute, subscript or name rather than called by name."""
        if target in PROCESS_FUNCS and not (isinstance(node, ast.Name) and node.id in self.bindings):
            self.report("py-os-process", node, target)
        elif target in EVAL_FUNCS and id(node) not in self.handled_funcs:
            self.report("py-eval-dynamic", node, f"{target.removeprefix('builtins.')} used as a value")

    def check_subscript(self, node: ast.Subscript) -> None:
        key = const_str(node.slice)
        if key in ESCAPE_ATTRS:
            self.report("py-dunder-escape", node, key)
        base = self.resolve(node.value)
        if not self.is_namespace(base):
            return
        if not _is_plain(node.slice):
            rule = "py-dynamic-import" if base == "sys.modules" else "py-dynamic-access"
            self.report(rule, node, f"disguised name {key!r}" if key is not None else "computed name")
        if key is None:
            return
        if base == "sys.modules":
            self.report_module(key, node)
        elif type(node.ctx) is ast.Load:
            self.check_reference(node, self.resolve(node))

    def check_name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.report("py-dunder-escape", node, "__builtins__")
        else:
            self.check_reference(node, self.resolve_name(node.id))

    def check_loops(self, loops: list[ast.While | ast.For | ast.AsyncFor]) -> None:
        """Summarise loops innermost first, so an enclosing loop reuses its inner loops' summaries
        instead of walking them again: each node is visited once however deep the nesting."""
        summaries: dict[int, LoopSummary] = {}
        for loop in sorted(loops, key=lambda n: (n.lineno, n.col_offset), reverse=True):
            summary = summaries[id(loop)] = self.summarise(loop, summaries)
            if summary.growth and not summary.leaves and not summary.breaks and self.endless(loop):
                self.report("py-resource-bomb", loop, summary.growth)

    def endless(self, loop: ast.While | ast.For | ast.AsyncFor) -> bool:
        if isinstance(loop, ast.While):
            return isinstance(loop.test, ast.Constant) and bool(loop.test.value)
        it = loop.iter
        return isinstance(it, ast.Call) and self.resolve(it.func) in INFINITE_ITERATORS

    def summarise(self, loop: ast.AST, summaries: dict[int, LoopSummary]) -> LoopSummary:
        summary = LoopSummary()
        stack = list(ast.iter_child_nodes(loop))
        while stack:
            node = stack.pop()
            if isinstance(node, SCOPE_NODES):
                continue
            inner = summaries.get(id(node)) if isinstance(node, LOOP_NODES) else None
            if inner is not None:
                summary.leaves |= inner.leaves
                summary.growth = inner.growth or summary.growth
                continue
            if isinstance(node, ast.Break):
                summary.breaks = True
            elif isinstance(node, LEAVING_NODES):
                summary.leaves = True
            elif isinstance(node, ast.Call):
                self.summarise_call(node, summary)
            elif summary.growth is None and isinstance(node, CONTAINER_NODES):
                summary.growth = "allocates a container"
            elif summary.growth is None and isinstance(node, ast.AugAssign) and _grows(node):
                summary.growth = "grows a value in place"
            elif summary.growth is None and isinstance(node, ast.Assign) and _self_growing(node):
                summary.growth = "grows a value by reassignment"
            stack.extend(ast.iter_child_nodes(node))
        return summary

    def summarise_call(self, node: ast.Call, summary: LoopSummary) -> None:
        func = self.resolve(node.func)
        method = node.func.attr if isinstance(node.func, ast.Attribute) else None
        if func in LOOP_ENDING_FUNCS or method in LOOP_ENDING_METHODS:
            summary.leaves = True
        elif func in SPAWN_FUNCS:
            summary.growth = f"spawns with {func}"
        elif summary.growth is None and method in GROWING_METHODS:
            summary.growth = f"grows a container with .{method}()"

    def check_binop(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Mult):
            for seq, count in ((node.left, node.right), (node.right, node.left)):
                unit = _sequence_bytes(seq)
                if unit is not None:
                    n = const_num(count)
                    self.check_size(node, None if n is None else n * unit, 1)
                    return
        elif isinstance(node.op, ast.Pow):
            self.check_size(node, _pow_bytes(node), 1)

    def check_size(self, node: ast.AST, count: float | None, unit: int) -> None:
        if count is not None and count * unit >= HUGE_BYTES:
            size = "unbounded" if math.isinf(count) else f"~{count * unit / (1 << 30):.3g} GiB"
            self.report("py-huge-allocation", node, size)
