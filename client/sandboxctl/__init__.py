"""Client library and CLI for sandboxd.

    from sandboxctl import Client
    with Client() as c:
        print(c.execute("print('hi')", language="python").stdout)
"""

from .client import AsyncClient, Client, Event, resolve_socket
from .errors import DaemonUnavailable, PermissionDenied, RequestRejected, ResourceExhausted, SandboxError
from .result import Finding, Result, Usage

__all__ = ["AsyncClient", "Client", "DaemonUnavailable", "Event", "Finding", "PermissionDenied",
           "RequestRejected", "ResourceExhausted", "Result", "SandboxError", "Usage", "resolve_socket"]
