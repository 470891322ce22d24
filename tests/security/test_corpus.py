"""Normal programs pass under the seccomp allowlists, and make no call the filter refuses.

The corpus is the measurement the allowlists in sandboxd/linux/seccomp_policy.py were built
from; these tests keep the two in step: a runtime upgrade that needs a new system call, or a
trimmed allowlist, fails here with the call's name.
"""

from __future__ import annotations

import pytest
from sandboxd.linux import seccomp_policy
from syscall_trace import CORPUS_STDIN, LANGUAGES, corpus, expected_exit, measure

CASES = [(lang, path) for lang in LANGUAGES for path in corpus(lang)]
# What the corpus is expected to probe and be refused: clone3 (libc falls back to clone) and,
# for Node, the netlink socket behind os.networkInterfaces().
EXPECTED_DENIALS = {"python": {"clone3": {"ENOSYS"}},
                    "javascript": {"clone3": {"ENOSYS"}, "socket": {"EPERM"}}}
PROFILE = {"python": seccomp_policy.PYTHON, "javascript": seccomp_policy.NODE}


@pytest.mark.parametrize(("lang", "path"), CASES, ids=[f"{lang}-{p.name}" for lang, p in CASES])
def test_corpus_program_runs_under_the_filter(client, lang, path):
    r = client.execute(path.read_bytes(), language=lang, stdin=CORPUS_STDIN, timeout_s=60, cpu_limit_s=30,
                       memory_limit_mb=512)
    assert r.status == "ok", (r.status, r.error, r.stderr[-2000:])
    assert r.exit_code == expected_exit(path), r.stderr[-2000:]
    assert "CORPUS-OK" in r.stdout


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_corpus_makes_no_call_the_filter_refuses(lang):
    trace, results = measure(lang)
    assert all(r.status == "ok" for _, r in results), [(p.name, r.status, r.stderr[-500:]) for p, r in results]
    assert dict(trace.denied) == EXPECTED_DENIALS[lang]
    allowed = set(seccomp_policy.ALLOW[PROFILE[lang]])
    assert set(trace.calls) - allowed - set(EXPECTED_DENIALS[lang]) == set()
