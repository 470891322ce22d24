"""The benchmark still runs end to end (`--quick`), so the README's numbers stay reproducible.

Nothing is timed here: only that every section produced its rows and the Markdown table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def test_bench_quick_produces_every_section(tmp_path: Path) -> None:
    md, raw = tmp_path / "bench.md", tmp_path / "bench.json"
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--markdown", str(md), "--json", str(raw)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads(raw.read_text())
    for language in ("python", "javascript"):
        for row in ("client library, warm", "client library, cold", "sandboxctl CLI, warm",
                    "sandboxctl CLI, cold", "bwrap + interpreter", "bwrap + interpreter, namespaces only",
                    "bare interpreter"):
            stats = data["latency"][f"{language} {row}"]
            assert stats["n"] > 0 and 0 < stats["p50"] <= stats["p99"], (language, row, stats)
    assert {r["language"] for r in data["ratios"]} == {"python", "javascript"}
    assert all(r["bwrap_ms"] > 0 and r["bwrap_namespaces_only_ms"] > 0 for r in data["ratios"])
    facts = {f["what"] for f in data["facts"]}
    for what in ("idle python worker memory", "idle javascript worker memory", "CPU-bound python, sandboxed/bare",
                 "trivial Python runs/s, 8 clients", "python pool build rate", "javascript pool build rate"):
        assert what in facts, facts
    text = md.read_text()
    assert "| python client library, warm |" in text and "sandboxd/bwrap" in text, text
