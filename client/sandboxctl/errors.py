"""One exception type per kind of failure, all under SandboxError."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every error the client raises."""


class DaemonUnavailable(SandboxError):
    """No daemon answers on the socket, or it is shutting down."""


class RequestRejected(SandboxError):
    """The daemon refused the request before running anything (bad input, limits)."""


class PermissionDenied(SandboxError):
    """The daemon does not allow this user, or the socket is not accessible."""


class ResourceExhausted(SandboxError):
    """The daemon is at capacity (per-user or queue bound); retry later."""
