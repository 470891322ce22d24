"""systemd readiness, status and watchdog (sd_notify) through systemd-python.

Silent when not started by systemd: without NOTIFY_SOCKET nothing is imported or sent, so
the same daemon runs under launchd, by hand or in tests unchanged.
"""

from __future__ import annotations

import os


def notify(*lines: str) -> bool:
    """Sends one datagram of `KEY=value` lines; True when systemd got it."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return False
    from systemd import daemon

    return bool(daemon.notify("\n".join(lines)))


def watchdog_interval_s() -> float | None:
    """Half of WatchdogSec=, as systemd recommends, or None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6
