"""Structured logging: one line per event as `key=value` pairs; journald fields under systemd.

Every log call writes `event=name key=value ...`. Under systemd (stderr is the journal
stream named by JOURNAL_STREAM) each record goes to the journal natively, with those pairs
as upper-case fields (EVENT, RUN_ID, PEER_UID, STATUS…) so `journalctl RUN_ID=…` or
`journalctl STATUS=timeout` finds runs; otherwise plain timestamped lines go to stderr.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import sys
import time

PAIR = re.compile(r"""(?:^|\s)([a-z][a-z0-9_]*)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S*)""")
# Fields the journal sets or that journal.send takes as named arguments.
RESERVED = {"MESSAGE", "MESSAGE_ID", "PRIORITY", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "SYSLOG_IDENTIFIER"}
PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def fields_of(message: str) -> dict[str, str]:
    """The `key=value` pairs of one log message as journal fields; quoted values (logged
    with %r) are unquoted."""
    fields = {}
    for key, raw in PAIR.findall(message):
        value = raw
        if raw[:1] in ("'", '"'):
            try:
                value = str(ast.literal_eval(raw))
            except (ValueError, SyntaxError):
                value = raw
        name = key.upper()
        if name not in RESERVED:
            fields[name] = value
    return fields


class LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = f"{ts}.{int(record.msecs):03d}Z level={record.levelname.lower()} {record.getMessage()}"
        if record.exc_info:
            line += " traceback=" + repr(self.formatException(record.exc_info))
        return line


class JournalHandler(logging.Handler):
    """Sends each record to journald with its pairs as fields (systemd's own JournalHandler
    would send the record's attributes, not the pairs inside the message)."""

    def __init__(self) -> None:
        super().__init__()
        from systemd import journal

        self._send = journal.send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            fields = fields_of(message)
            if record.exc_info:
                fields["TRACEBACK"] = logging.Formatter().formatException(record.exc_info)
            self._send(message, PRIORITY=str(PRIORITY.get(record.levelno, 6)), SYSLOG_IDENTIFIER="sandboxd",
                       LOGGER=record.name, **fields)
        except Exception:
            self.handleError(record)


def journal_stream() -> bool:
    """True when stderr is the journal stream systemd connected (JOURNAL_STREAM names its
    device and inode): a daemon started by hand from a systemd session inherits the
    variable, but then its stderr is something else."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def setup(level: str) -> None:
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers.clear()
    handler: logging.Handler
    if journal_stream():
        handler = JournalHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(LineFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # hpack logs every header it decodes at DEBUG (the request's headers, a record each):
    # never the daemon's events, and a journal that falls behind would stall the loop.
    logging.getLogger("hpack").setLevel(logging.WARNING)
