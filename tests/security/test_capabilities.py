"""`capabilities` is honest: every layer is listed, and what it claims matches the kernel."""

from __future__ import annotations

import ctypes
import errno

import pyseccomp
from sandboxctl import Client

LAYERS = ["namespaces", "filesystem", "network", "cgroups", "rlimits", "privileges", "landlock", "seccomp",
          "environment"]


def kernel_landlock_abi() -> int:
    """Asked here directly, not through the daemon's code: LANDLOCK_CREATE_RULESET_VERSION."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, "landlock_create_ruleset")
    abi = libc.syscall(ctypes.c_long(nr), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    assert abi > 0 or ctypes.get_errno() in (errno.ENOSYS, errno.EOPNOTSUPP)
    return max(abi, 0)


def layers(client: Client) -> dict[str, tuple[bool, str]]:
    return {c.layer: (c.enforced, c.detail) for c in client.capabilities().capabilities}


def test_every_layer_is_reported_with_the_kernels_landlock_abi(client: Client) -> None:
    got = layers(client)
    assert list(got) == LAYERS
    abi = kernel_landlock_abi()
    enforced, detail = got["landlock"]
    assert enforced is (abi > 0)
    assert detail.startswith(f"ABI {abi}:")
    if abi >= 4:
        assert "TCP bind and connect denied" in detail
    if abi >= 6:
        assert "signals and abstract unix sockets scoped" in detail
    assert got["seccomp"][0] is True and "allowlist per runtime (python " in got["seccomp"][1]


def test_disabled_layers_say_so(daemon_factory) -> None:
    d = daemon_factory({"sandbox": {"seccomp": False, "landlock": "off"},
                        "languages": {"javascript": {"pool_size": 0}, "python": {"pool_size": 1}}})
    with d.client() as c:
        got = layers(c)
        assert got["seccomp"] == (False, "disabled by config (sandbox.seccomp = false)")
        assert got["landlock"][0] is False
        assert got["landlock"][1].startswith('disabled by config (sandbox.landlock = "off"')
        # and it is really off: the runs are weaker, not broken
        r = c.execute("import socket\ns = socket.socket()\nprint('socket made')\n", language="python")
        assert r.stdout == "socket made\n"


def test_landlock_required_starts_where_the_kernel_has_it(daemon_factory) -> None:
    assert kernel_landlock_abi() > 0, "this host is expected to have Landlock"
    d = daemon_factory({"sandbox": {"landlock": "required"},
                        "languages": {"javascript": {"pool_size": 0}, "python": {"pool_size": 1}}})
    with d.client() as c:
        assert layers(c)["landlock"][0] is True
