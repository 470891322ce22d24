"""Static analysis of untrusted Python and JavaScript before it runs.

The linter is advisory defence in depth, not the sandbox: it names risky code early (with
positions an editor understands) and, under the ``deny`` policy, lets the daemon refuse a run
that could only be an attack or would be killed anyway. The analysis is pure — no I/O, no
state, safe to call from any thread; only offload.py, which keeps large programs off the
daemon's event loop, starts a process.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import python_ast
from .rules import RULES, SEVERITIES, Finding, Rule

__all__ = ["LANGUAGES", "POLICIES", "RULES", "SEVERITIES", "Finding", "Rule", "blocks", "lint", "stricter_policy"]

LANGUAGES = ("python", "javascript")
POLICIES = ("off", "warn", "deny")


def lint(source: str, language: str) -> list[Finding]:
    """Findings for one source, ordered by position; never raises on bad input, only on a bad language."""
    if language == "python":
        findings = python_ast.analyse(source)
    elif language == "javascript":
        from . import javascript_ts

        findings = javascript_ts.analyse(source)
    else:
        raise ValueError(f"lint: unknown language {language!r} (expected one of {', '.join(LANGUAGES)})")
    return sorted(set(findings), key=lambda f: (f.line, f.col, f.rule, f.message))


def blocks(findings: Iterable[Finding], policy: str) -> bool:
    """Whether a run must be refused: only ``deny`` refuses, and only for error-severity findings."""
    _check_policy(policy)
    return policy == "deny" and any(f.severity == "error" for f in findings)


def stricter_policy(server: str, client: str | None) -> str:
    """The policy in force: the server's is a floor that a client may raise but never lower."""
    _check_policy(server)
    if not client:
        return server
    _check_policy(client)
    return max(server, client, key=POLICIES.index)


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise ValueError(f"lint policy must be one of {', '.join(POLICIES)}, got {policy!r}")
