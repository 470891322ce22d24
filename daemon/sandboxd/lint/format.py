"""Findings as text in the ``file:line:col: severity rule-id message`` form that compilers use,
so that editors and CI log viewers turn them into links without a plugin."""

from __future__ import annotations

from .rules import Finding


def format_finding(path: str, f: Finding) -> str:
    return f"{path}:{f.line}:{f.col}: {f.severity} {f.rule} {f.message}"
