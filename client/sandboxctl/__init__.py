"""Client library and CLI for sandboxd.

    from sandboxctl import Client
    with Client() as c:
        print(c.execute("print('hi')", language="python").stdout)

`AsyncClient` is imported on first use: it brings grpc, which the sync Client does without.
"""

from typing import Any

from .client import Client, Event, resolve_socket
from .errors import DaemonUnavailable, PermissionDenied, RequestRejected, ResourceExhausted, SandboxError
from .result import Finding, Result, Usage

__all__ = ["AsyncClient", "Client", "DaemonUnavailable", "Event", "Finding", "PermissionDenied",
           "RequestRejected", "ResourceExhausted", "Result", "SandboxError", "Usage", "resolve_socket"]


def __getattr__(name: str) -> Any:
    if name == "AsyncClient":
        from .aio import AsyncClient
        return AsyncClient
    raise AttributeError(f"module 'sandboxctl' has no attribute {name!r}")
