"""Linting from the daemon's event loop without stalling it.

``ast.parse`` and tree-sitter's parse are single C calls that hold the GIL throughout
(measured: a 1 MB Python program held it for ~0.7 s, and another client's run waited behind
it even with the lint in a worker thread). Small programs — nearly all of them — are linted
in a thread, where the stall is a few milliseconds and a process would cost more; larger
ones in a fresh ``python -I -m sandboxd.lint`` child (plain subprocess: vfork + exec, like
every process the daemon starts), which also bounds the time and memory a hostile file can
make the analysis take. A child that times out or fails yields one error finding, so a
``deny`` policy fails closed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from . import lint
from .rules import Finding, finding

# ~40 ms of Python analysis: above this a child process (~50 ms to start) is the better deal.
IN_PROCESS_BYTES = 32 << 10
TIMEOUT_S = 30.0


async def lint_off_loop(source: str, language: str) -> list[Finding]:
    if len(source) <= IN_PROCESS_BYTES:
        return await asyncio.to_thread(lint, source, language)
    return await asyncio.to_thread(lint_in_child, source, language)


def lint_in_child(source: str, language: str, timeout_s: float = TIMEOUT_S) -> list[Finding]:
    """Blocking: lints in a child interpreter and returns its findings."""
    try:
        done = subprocess.run([sys.executable, "-I", "-m", "sandboxd.lint", language],
                              input=source.encode("utf-8", errors="surrogatepass"), capture_output=True,
                              timeout=timeout_s, env={"PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired:
        return [finding("lint-incomplete", 1, 1, f"analysis took longer than {timeout_s:g} s")]
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return [finding("lint-incomplete", 1, 1, f"analyser failed: {detail[0][:200]}")]
    return [Finding(**f) for f in json.loads(done.stdout)]
