"""``python -m sandboxd.lint LANGUAGE``: lint standard input, print the findings as JSON.

The daemon runs large programs through this in a child process (see offload.py): parsing
holds the GIL from start to end, so in the daemon's own process it would stall every other
client for as long as it takes.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from . import LANGUAGES, lint


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in LANGUAGES:
        print(f"usage: python -m sandboxd.lint {{{','.join(LANGUAGES)}}} < SOURCE", file=sys.stderr)
        return 2
    source = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    json.dump([dataclasses.asdict(f) for f in lint(source, argv[0])], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
