"""`sandboxctl`: run a file in the sandbox, lint it, or ask the daemon how it is doing.

Exit codes (SPEC): the program's own code; 128+N when a signal N killed it; 124 on a
wall-clock timeout; 125 when the sandbox failed or refused (nothing ran, or it broke).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from typing import Any, NoReturn

from .errors import RequestRejected, SandboxError
from .result import Result, rejected

EXTENSIONS = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript"}
SANDBOX_FAILED = 125
# `lint` keeps 1 for "an error-severity finding", as compilers and linters do, so that a
# script can tell a refused program from a daemon it could not ask.
LINT_FAILED = 2


class CliError(Exception):
    """A problem with the command line or a local file: nothing was sent."""


# flag -> (argparse dest, whole numbers only). The CLI checks only that a limit is a number;
# its range is the daemon's to judge (only the daemon knows its configured maxima), so a
# refusal names the flag and the allowed range, on one line, with a rejected --json result.
LIMIT_FLAGS: dict[str, tuple[str, bool]] = {
    "--memory-limit": ("memory_limit", False), "--cpu-limit": ("cpu_limit", False),
    "--timeout": ("timeout", False), "--max-processes": ("max_processes", True),
    "--max-file-size": ("max_file_size", False), "--max-output": ("max_output", True),
}


def _limit(flag: str, text: str | None, whole: bool) -> float | int | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise CliError(f"{flag}: not a number: {text!r}") from None
    if math.isnan(value) or math.isinf(value):
        raise CliError(f"{flag}: not a finite number: {text!r}")
    if not whole:
        return value
    if value != int(value):
        raise CliError(f"{flag}: must be a whole number, got {text!r}")
    if value < 0:  # unsigned on the wire; zero still goes to the daemon, which names the range
        raise CliError(f"{flag}: must be > 0, got {text!r}")
    return int(value)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(SANDBOX_FAILED if "exec" in self.prog or "run" in self.prog else 2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sandboxctl", description="Run untrusted code through sandboxd.")
    p.add_argument("--socket", help="daemon socket (default: $SANDBOXD_SOCKET or the platform default)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in ("exec", "run"):
        e = sub.add_parser(name, help="run FILE in a fresh sandbox" if name == "exec" else "alias of exec")
        e.add_argument("file")
        e.add_argument("--lang", choices=["python", "javascript"])
        e.add_argument("--memory-limit", metavar="MB")
        e.add_argument("--cpu-limit", metavar="SECONDS")
        e.add_argument("--timeout", metavar="SECONDS")
        e.add_argument("--max-processes", metavar="N")
        e.add_argument("--max-file-size", metavar="MB")
        e.add_argument("--max-output", metavar="BYTES")
        e.add_argument("--stdin", metavar="FILE|-")
        e.add_argument("--arg", action="append", default=[], metavar="ARG")
        e.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
        e.add_argument("--file", action="append", default=[], dest="input_files", metavar="NAME=PATH")
        e.add_argument("--lint-policy", choices=["off", "warn", "deny"],
                       help="stricter than the daemon's policy only")
        e.add_argument("--json", action="store_true", help="print one JSON result object at the end")
        e.add_argument("--verbose", action="store_true", help="add a usage summary on stderr")
    lint = sub.add_parser("lint", help="static analysis of FILE")
    lint.add_argument("file", nargs="?")
    lint.add_argument("--lang", choices=["python", "javascript"])
    lint.add_argument("--json", action="store_true")
    lint.add_argument("--rules", action="store_true", help="list the rule set")
    for name, text in (("status", "pools, counters, capabilities"), ("capabilities", "what this host enforces")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--json", action="store_true")
    return p


def _read(path: str, what: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CliError(f"{what}: cannot read {path}: {exc.strerror}") from None


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{flag}: expected KEY=VALUE, got {item!r}")
        out.append((key, value))
    return out


def _language(path: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTENSIONS:
        raise CliError(f"cannot tell the language of {path!r} from its extension; use --lang python|javascript")
    return EXTENSIONS[ext]


def _summary(r: Result) -> str:
    u = r.usage
    return (f"sandboxctl: status={r.status} exit_code={r.exit_code} signal={r.signal} "
            f"wall={u.wall_ms:.1f}ms cpu={u.cpu_user_ms + u.cpu_system_ms:.1f}ms "
            f"(user {u.cpu_user_ms:.1f}, sys {u.cpu_system_ms:.1f}) peak_mem={u.peak_memory_bytes / 2**20:.1f}MiB "
            f"avg_mem={u.avg_memory_bytes / 2**20:.1f}MiB procs={u.max_processes} "
            f"stdout={u.stdout_bytes}B stderr={u.stderr_bytes}B warm={str(r.warm_start).lower()} id={r.id}")


def cmd_exec(args: argparse.Namespace) -> int:
    from .client import Client

    def refuse(message: str) -> int:
        print(f"sandboxctl: {message}", file=sys.stderr)
        if args.json:
            print(json.dumps(rejected(message).to_dict()))
        return SANDBOX_FAILED

    try:
        code = _read(args.file, "program")
        language = _language(args.file, args.lang)
        stdin = _read(args.stdin, "--stdin") if args.stdin else b""
        env = dict(_pairs(args.env, "--env"))
        files = {name: _read(path, "--file") for name, path in _pairs(args.input_files, "--file")}
        limits = {dest: _limit(flag, getattr(args, dest), whole) for flag, (dest, whole) in LIMIT_FLAGS.items()}
    except CliError as exc:
        return refuse(str(exc))
    kwargs: dict[str, Any] = dict(
        stdin=stdin, args=args.arg, env=env, files=files, memory_limit_mb=limits["memory_limit"],
        cpu_limit_s=limits["cpu_limit"], timeout_s=limits["timeout"], max_processes=limits["max_processes"],
        max_file_size_mb=limits["max_file_size"], max_output_bytes=limits["max_output"],
        filename=os.path.basename(args.file), lint_policy=args.lint_policy or "")
    result: Result | None = None
    try:
        with Client(args.socket) as client:
            for event in client.stream(code, language, **kwargs):
                if event.kind in ("stdout", "stderr") and not args.json:
                    stream = sys.stdout.buffer if event.kind == "stdout" else sys.stderr.buffer
                    stream.write(event.data)
                    stream.flush()
                elif event.result is not None:
                    result = event.result
    except RequestRejected as exc:
        return refuse(str(exc))
    except SandboxError as exc:
        print(f"sandboxctl: {exc}", file=sys.stderr)
        if args.json:
            r = rejected(str(exc))
            r.status = "error"
            print(json.dumps(r.to_dict()))
        return SANDBOX_FAILED
    except KeyboardInterrupt:
        print("sandboxctl: interrupted; the run was cancelled", file=sys.stderr)
        return 130
    if result is None:
        print("sandboxctl: the daemon ended the run without a result", file=sys.stderr)
        return SANDBOX_FAILED
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        # The program's stderr is the user's: lint findings join it only when asked for, or
        # when they are why nothing ran.
        if args.verbose or result.status == "rejected":
            for f in result.lint:
                print(f"{args.file}:{f.line}:{f.col}: {f.severity} {f.rule} {f.message}", file=sys.stderr)
        if result.status != "ok":
            detail = f": {result.error}" if result.error else ""
            print(f"sandboxctl: run ended with status {result.status}{detail}", file=sys.stderr)
    if args.verbose:
        print(_summary(result), file=sys.stderr)
    return result.cli_exit_code


def cmd_lint(args: argparse.Namespace) -> int:
    from .client import Client

    with Client(args.socket) as client:
        if args.rules:
            rules = client.rules().rules
            if args.json:
                print(json.dumps([{"id": r.id, "severity": r.severity, "languages": list(r.languages),
                                   "message": r.message, "rationale": r.rationale} for r in rules], indent=2))
            else:
                for r in rules:
                    print(f"{r.id:32} {r.severity:8} {','.join(r.languages):22} {r.message}")
            return 0
        if not args.file:
            raise CliError("lint: give a FILE, or --rules")
        code = _read(args.file, "lint")
        findings = client.lint(code, _language(args.file, args.lang)).findings
    if args.json:
        print(json.dumps([{"rule": f.rule, "severity": f.severity, "line": f.line, "col": f.col,
                           "message": f.message} for f in findings]))
    else:
        for f in findings:
            print(f"{args.file}:{f.line}:{f.col}: {f.severity} {f.rule} {f.message}")
    return 1 if any(f.severity == "error" for f in findings) else 0


def _print_json(message: Any) -> None:
    from google.protobuf.json_format import MessageToDict

    print(json.dumps(MessageToDict(message, always_print_fields_with_no_presence=True), indent=2))


def _caps_lines(caps: Any) -> list[str]:
    return [f"  {'enforced' if c.enforced else 'NOT enforced':13} {c.layer:12} {c.detail}" for c in caps]


def cmd_status(args: argparse.Namespace) -> int:
    from .client import Client

    with Client(args.socket) as client:
        s = client.status()
    if args.json:
        _print_json(s)
        return 0
    print(f"sandboxd {s.version}  up {s.uptime_s:.0f}s  active runs {s.active_runs}  runs {s.runs_total}"
          + ("  (draining)" if s.draining else ""))
    if s.runs_by_status:
        print("  by status: " + ", ".join(f"{k}={v}" for k, v in sorted(s.runs_by_status.items())))
    print(f"  {'language':12} {'target':>6} {'ready':>5} {'build':>5} {'served':>7} {'cold':>5} "
          f"{'build ms':>9} {'handover p50/p90/p99 ms':>24}")
    for p in s.pools:
        print(f"  {p.language:12} {p.target:6} {p.ready:5} {p.building:5} {p.runs_served:7} {p.cold_starts:5} "
              f"{p.mean_build_ms:9.1f} {p.handover_p50_ms:8.2f}/{p.handover_p90_ms:.2f}/{p.handover_p99_ms:.2f}")
        if p.last_build_error:
            print(f"  {'':12} builds failing ({p.build_failures} failed so far), retrying: {p.last_build_error}")
    print("capabilities:")
    print("\n".join(_caps_lines(s.capabilities)))
    return 0


def cmd_capabilities(args: argparse.Namespace) -> int:
    from .client import Client

    with Client(args.socket) as client:
        c = client.capabilities()
    if args.json:
        _print_json(c)
        return 0
    print(f"platform: {c.platform}  backend: {c.backend}  languages: {', '.join(c.languages)}")
    print("\n".join(_caps_lines(c.capabilities)))
    return 0


def _join_program_args(argv: list[str]) -> list[str]:
    """`--arg -v` as `--arg=-v`: a program's own arguments often start with a dash, which
    argparse would otherwise take for one of sandboxctl's options."""
    out: list[str] = []
    items = iter(argv)
    for item in items:
        if item == "--arg":
            value = next(items, None)
            out.append(item if value is None else f"--arg={value}")
        else:
            out.append(item)
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_join_program_args(sys.argv[1:] if argv is None else argv))
    handler = {"exec": cmd_exec, "run": cmd_exec, "lint": cmd_lint, "status": cmd_status,
               "capabilities": cmd_capabilities}[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:  # e.g. while `--stdin -` waits for input: nothing was sent
        print("sandboxctl: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        # Whoever read our output has gone (`| head`); for exec, leaving the stream has
        # cancelled the run. Point stdout at /dev/null so the final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except CliError as exc:
        print(f"sandboxctl: {exc}", file=sys.stderr)
        return SANDBOX_FAILED if args.command in ("exec", "run") else 2
    except SandboxError as exc:
        print(f"sandboxctl: {exc}", file=sys.stderr)
        return LINT_FAILED if args.command == "lint" else 1


if __name__ == "__main__":
    sys.exit(main())
