"""Output is streamed while the program runs: through the library, asyncio, and the CLI."""

from __future__ import annotations

import asyncio
import os
import selectors
import subprocess
import time

import pytest
from conftest import SANDBOXCTL
from sandboxctl import AsyncClient, Client

LANGS = ["python", "javascript"]

# Prints, sleeps long enough that "the event came before the end" needs no fine timing.
PRINT_SLEEP_PRINT = {
    "python": "import sys, time\nprint('one', flush=True)\nprint('err one', file=sys.stderr, flush=True)\n"
              "time.sleep(2)\nprint('two')\n",
    "javascript": "console.log('one'); console.error('err one');\n"
                  "setTimeout(() => console.log('two'), 2000);\n",
}
SLEEP_S = 2.0


@pytest.mark.parametrize("lang", LANGS)
def test_an_output_event_arrives_while_the_program_sleeps(client: Client, lang: str) -> None:
    arrived: dict[str, float] = {}
    events = []
    for event in client.stream(PRINT_SLEEP_PRINT[lang], language=lang):
        events.append(event)
        if event.kind in ("stdout", "stderr") and event.data.startswith((b"one", b"err one")):
            arrived.setdefault(event.kind, time.monotonic())
    finished = time.monotonic()
    assert events[0].kind == "started"
    assert events[-1].kind == "finished" and events[-1].result is not None
    assert [e.kind for e in events].count("finished") == 1
    result = events[-1].result
    assert (result.status, result.stdout, result.stderr) == ("ok", "one\ntwo\n", "err one\n"), result
    # Both first lines reached us well before the program's final line was even written.
    assert finished - arrived["stdout"] >= SLEEP_S / 2, (arrived, finished)
    assert finished - arrived["stderr"] >= SLEEP_S / 2, (arrived, finished)


def test_streamed_chunks_add_up_to_the_result(client: Client) -> None:
    code = ("import sys, time\nfor i in range(5):\n    print(f'out {i}', flush=True)\n"
            "    print(f'err {i}', file=sys.stderr, flush=True)\n    time.sleep(0.05)\n")
    events = list(client.stream(code))
    result = events[-1].result
    assert result is not None
    assert b"".join(e.data for e in events if e.kind == "stdout") == result.stdout_bytes
    assert b"".join(e.data for e in events if e.kind == "stderr") == result.stderr_bytes
    assert result.stdout == "".join(f"out {i}\n" for i in range(5))
    # Each stream keeps its own order, and the streams interleave as the program wrote them.
    seen = [e.data.decode() for e in events if e.kind in ("stdout", "stderr")]
    joined = "".join(seen)
    assert joined.index("out 0") < joined.index("err 0") < joined.index("out 1") < joined.index("err 4")


def test_started_event_names_the_run(client: Client) -> None:
    first = next(iter(client.stream("print(1)")))
    assert first.kind == "started" and first.run_id


def test_async_client_execute_and_stream(shared_daemon) -> None:
    async def main() -> tuple[list[str], str, str]:
        async with AsyncClient(shared_daemon.socket) as c:
            r = await c.execute("console.log(6 * 7)", language="javascript")
            kinds = []
            stamps: dict[str, float] = {}
            async for event in c.stream(PRINT_SLEEP_PRINT["python"], language="python"):
                kinds.append(event.kind)
                stamps.setdefault(event.kind, time.monotonic())
            assert stamps["finished"] - stamps["stdout"] >= SLEEP_S / 2
            return kinds, r.stdout, r.status

    kinds, stdout, status = asyncio.run(main())
    assert (status, stdout) == ("ok", "42\n")
    assert kinds[0] == "started" and kinds[-1] == "finished" and "stdout" in kinds


def test_many_concurrent_async_runs_on_one_channel(shared_daemon) -> None:
    async def main() -> list[str]:
        async with AsyncClient(shared_daemon.socket) as c:
            results = await asyncio.gather(*(c.execute(f"print({i})") for i in range(10)))
            return [r.stdout for r in results]

    assert asyncio.run(main()) == [f"{i}\n" for i in range(10)]


def _read_until(proc: subprocess.Popen[bytes], stream: str, needle: bytes, timeout: float = 30) -> bytes:
    """Reads what the CLI has written to one pipe so far, until `needle` shows up."""
    pipe = getattr(proc, stream)
    sel = selectors.DefaultSelector()
    sel.register(pipe, selectors.EVENT_READ)
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got and time.monotonic() < deadline:
        if sel.select(0.1):
            chunk = os.read(pipe.fileno(), 65536)
            if not chunk:
                break
            got += chunk
    sel.close()
    return got


@pytest.mark.parametrize("lang", LANGS)
def test_cli_streams_live_to_stdout_and_stderr(shared_daemon, tmp_path, lang: str) -> None:
    program = tmp_path / ("live.py" if lang == "python" else "live.js")
    program.write_text(PRINT_SLEEP_PRINT[lang])
    proc = subprocess.Popen([SANDBOXCTL, "--socket", shared_daemon.socket, "exec", str(program)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _read_until(proc, "stdout", b"one\n") == b"one\n"
        assert _read_until(proc, "stderr", b"err one\n") == b"err one\n"
        assert proc.poll() is None, "the CLI printed the first line only after the program ended"
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert out == b"two\n"
    assert err == b""
