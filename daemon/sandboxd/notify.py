"""systemd readiness and watchdog (sd_notify); silent when not started by systemd."""

from __future__ import annotations

import os


def notify(*lines: str) -> bool:
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
