"""Lint speed on ~1 MB of realistic Python and JavaScript, against the 50 ms per 1,000 lines budget.

The source is the normal-program corpus from tests/lint_corpus, repeated (with renamed
top-level definitions so nothing is trivially identical) until it reaches the target size:
exercise-style code is what the daemon lints, so that is what the budget is measured on.
A few risky lines are mixed in so that the reporting paths are timed too.

Run: PYTHONPATH=daemon python benchmarks/lint_speed.py [--size-kb 1024] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sandboxd.lint import lint

BUDGET_MS_PER_KLOC = 50.0
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "lint_corpus"
EXTENSIONS = {"python": "py", "javascript": "js"}
RISKY = {
    "python": "import subprocess\nvalue = eval(input())\nopen('/etc/passwd').read()\n",
    "javascript": "const cp = require('child_process');\nconst value = eval(input);\nprocess.kill(1);\n",
}


def generate(language: str, size: int) -> str:
    """Corpus files, each block uniquely suffixed, until ``size`` bytes; the risky snippet every 20 blocks."""
    files = sorted((CORPUS / language).glob(f"*.{EXTENSIONS[language]}"))
    if not files:
        sys.exit(f"no corpus files under {CORPUS / language}")
    texts = [f.read_text() for f in files]
    chunks: list[str] = []
    total = 0
    block = 0
    while total < size:
        text = texts[block % len(texts)]
        if language == "python":
            text = text.replace("def ", f"def b{block}_").replace("class ", f"class B{block}")
        else:
            text = "{\n" + text.replace("import ", "// import ").replace("export ", "// export ") + "\n}\n"
        if block % 20 == 0:
            text += RISKY[language]
        chunks.append(text)
        total += len(text)
        block += 1
    return "".join(chunks)


def measure(language: str, source: str, repeat: int) -> tuple[float, int, int]:
    lint(source[:2000], language)  # load the parser outside the timing
    timings = []
    findings = 0
    for _ in range(repeat):
        start = time.perf_counter()
        findings = len(lint(source, language))
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), source.count("\n"), findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-kb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    over = False
    for language in EXTENSIONS:
        source = generate(language, args.size_kb * 1024)
        median_ms, lines, findings = measure(language, source, args.repeat)
        per_kloc = median_ms / lines * 1000
        over |= per_kloc > BUDGET_MS_PER_KLOC
        print(f"{language:<10} {len(source.encode()) / 1024:7.0f} KiB {lines:7d} lines  "
              f"total {median_ms:8.1f} ms (median of {args.repeat})  {per_kloc:6.2f} ms/1000 lines  "
              f"{findings} findings  budget {BUDGET_MS_PER_KLOC:.0f} ms/1000 lines "
              f"{'EXCEEDED' if per_kloc > BUDGET_MS_PER_KLOC else 'ok'}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
