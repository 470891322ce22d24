"""The host-side check the Python and JavaScript attack suites share (the listener itself
is the `host_listener` fixture in tests/conftest.py)."""

from __future__ import annotations

import socket


def nothing_connected(srv: socket.socket) -> bool:
    """No connection is waiting on the non-blocking listener `srv`."""
    try:
        srv.accept()
    except BlockingIOError:
        return True
    return False
