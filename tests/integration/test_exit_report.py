"""The runner reports its exit code on the exit pipe before its interpreter is torn down
(runners/init.py): what the program does on its way out must still be in the result."""

from __future__ import annotations

import pytest
from sandboxctl import Client

EXIT_HANDLERS = {
    "python": "import atexit, sys\natexit.register(lambda: print('bye'))\nprint('hi')\nsys.exit(5)\n",
    "javascript": "process.on('exit', () => { console.log('bye'); process.exitCode = 5; });\nconsole.log('hi');\n",
}
# More than a pipe holds, written right before the end: all of it arrives.
BIG_LAST = {
    "python": "import sys\nsys.stdout.write('x' * 300000)\nsys.stderr.write('y' * 200000)\n",
    "javascript": "process.stdout.write('x'.repeat(300000));\nprocess.stderr.write('y'.repeat(200000));\n",
}
EXIT_CODES = {
    "python": "import sys\nsys.exit({code})\n",
    "javascript": "process.exit({code});\n",
}


@pytest.mark.parametrize("lang", ["python", "javascript"])
def test_exit_handlers_output_and_exit_code_are_kept(client: Client, lang: str) -> None:
    r = client.execute(EXIT_HANDLERS[lang], language=lang)
    assert (r.status, r.exit_code, r.stdout, r.stderr) == ("ok", 5, "hi\nbye\n", ""), r


@pytest.mark.parametrize("lang", ["python", "javascript"])
def test_output_written_just_before_the_end_arrives_whole(client: Client, lang: str) -> None:
    r = client.execute(BIG_LAST[lang], language=lang)
    assert (r.status, r.exit_code) == ("ok", 0), r
    assert (r.stdout, r.stderr) == ("x" * 300000, "y" * 200000)


@pytest.mark.parametrize("lang", ["python", "javascript"])
@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_every_exit_code_comes_through(client: Client, lang: str, code: int) -> None:
    r = client.execute(EXIT_CODES[lang].format(code=code), language=lang)
    assert (r.status, r.exit_code, r.signal) == ("ok", code, None), r


@pytest.mark.parametrize("lang", ["python", "javascript"])
def test_a_program_that_takes_over_fd_5_still_gets_its_exit_code(client: Client, lang: str) -> None:
    """3 and 4 are free once the runner has its request, so the third file opened lands on 5."""
    code = {
        "python": "import os, sys\nos.close(5)\n"
                  "fds = [os.open(n, os.O_WRONLY | os.O_CREAT, 0o600) for n in 'abc']\n"
                  "assert fds[-1] == 5, fds\nsys.exit(4)\n",
        "javascript": "const fs = require('fs');\nfs.closeSync(5);\n"
                      "const fds = ['a', 'b', 'c'].map((n) => fs.openSync(n, 'w'));\n"
                      "if (fds[2] !== 5) throw new Error(String(fds));\nprocess.exit(4);\n",
    }[lang]
    r = client.execute(code, language=lang)
    assert (r.status, r.exit_code, r.stderr) == ("ok", 4, ""), r
