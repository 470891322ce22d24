"""Structured logging: one line per event as `key=value` pairs; journald fields under systemd.

Under systemd (JOURNAL_STREAM set) records go to the journal with their fields (RUN_ID,
PEER_UID, STATUS…) attached, so `journalctl RUN_ID=…` finds a run; otherwise plain lines on
stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import time


class LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = f"{ts}.{int(record.msecs):03d}Z level={record.levelname.lower()} {record.getMessage()}"
        if record.exc_info:
            line += " traceback=" + repr(self.formatException(record.exc_info))
        return line


def setup(level: str) -> None:
    root = logging.getLogger()
    root.handlers.clear()
    handler: logging.Handler
    if os.environ.get("JOURNAL_STREAM"):
        from systemd.journal import JournalHandler

        handler = JournalHandler(SYSLOG_IDENTIFIER="sandboxd")
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(LineFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
