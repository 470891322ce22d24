"""The Windows backend's platform-neutral parts, exercised on Linux.

Job Object structures must match the 64-bit Windows layout byte for byte, or
SetInformationJobObject would read the limits from the wrong offsets; the offsets checked
here are those of winnt.h on x64. kernel32 itself is only reached on Windows.
"""

from __future__ import annotations

import ctypes
import sys

import pytest
from sandboxd import backend
from sandboxd.backend import windows
from sandboxd.config import Config


def test_basic_limit_information_has_the_win64_layout() -> None:
    s = windows.JobObjectBasicLimitInformation
    assert ctypes.sizeof(s) == 64
    offsets = {name: getattr(s, name).offset for name, _ in s._fields_}
    assert offsets == {"PerProcessUserTimeLimit": 0, "PerJobUserTimeLimit": 8, "LimitFlags": 16,
                       "MinimumWorkingSetSize": 24, "MaximumWorkingSetSize": 32, "ActiveProcessLimit": 40,
                       "Affinity": 48, "PriorityClass": 56, "SchedulingClass": 60}


def test_extended_limit_information_has_the_win64_layout() -> None:
    s = windows.JobObjectExtendedLimitInformation
    assert ctypes.sizeof(windows.IoCounters) == 48
    assert ctypes.sizeof(s) == 144
    assert (s.IoInfo.offset, s.ProcessMemoryLimit.offset, s.JobMemoryLimit.offset,
            s.PeakProcessMemoryUsed.offset, s.PeakJobMemoryUsed.offset) == (64, 112, 120, 128, 136)


def test_accounting_and_port_structures_have_the_win64_layout() -> None:
    acct = windows.JobObjectBasicAccountingInformation
    assert ctypes.sizeof(acct) == 48
    assert (acct.TotalKernelTime.offset, acct.ActiveProcesses.offset) == (8, 40)
    assert ctypes.sizeof(windows.JobObjectAssociateCompletionPort) == 16


def test_limits_pack_into_the_bytes_windows_reads() -> None:
    info = windows.limit_information(memory_bytes=256 << 20, cpu_seconds=2.5, max_processes=17)
    raw = bytes(info)
    assert len(raw) == 144
    flags = int.from_bytes(raw[16:20], "little")
    assert flags == (windows.JOB_OBJECT_LIMIT_JOB_MEMORY | windows.JOB_OBJECT_LIMIT_JOB_TIME
                     | windows.JOB_OBJECT_LIMIT_ACTIVE_PROCESS | windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
                     | windows.JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION)
    assert flags == 0x260C
    assert int.from_bytes(raw[8:16], "little") == 25_000_000  # 2.5 s in 100 ns units
    assert int.from_bytes(raw[40:44], "little") == 17
    assert int.from_bytes(raw[120:128], "little") == 256 << 20
    breakaway = 0x800 | 0x1000  # BREAKAWAY_OK, SILENT_BREAKAWAY_OK: a run must not leave its job
    assert not flags & breakaway


def test_completion_port_messages_are_counted_by_kind() -> None:
    events = windows.JobEvents()
    for message in (windows.JOB_OBJECT_MSG_JOB_MEMORY_LIMIT, windows.JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT,
                    windows.JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT, windows.JOB_OBJECT_MSG_END_OF_JOB_TIME,
                    4, 7):  # EXIT_PROCESS, NEW_PROCESS: not limits
        events.record(message)
    assert (events.memory, events.processes, events.cpu) == (1, 2, 1)


def test_capabilities_are_honest_about_transport_and_isolation() -> None:
    caps = {c.layer: c for c in windows.capabilities()}
    assert caps["transport"].enforced is False and "loopback TCP" in caps["transport"].detail
    assert "token file" in caps["transport"].detail and "grpc#13447" in caps["transport"].detail
    for absent in ("workers", "filesystem", "network", "seccomp"):
        assert caps[absent].enforced is False
    assert "kill-on-close" in caps["job_objects"].detail
    assert "not threads" in caps["process_limit"].detail


def test_the_backend_refuses_to_start_rather_than_run_code_unconfined() -> None:
    b = windows.WindowsBackend(Config())
    with pytest.raises(RuntimeError, match="no Windows worker transport"):
        b.check_required()


def test_kernel32_is_only_reached_on_windows() -> None:
    if sys.platform != "win32":
        with pytest.raises(AttributeError):  # ctypes has no WinDLL here: nothing was loaded at import
            windows._kernel32()


def test_select_picks_the_windows_backend_on_win32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    assert isinstance(backend.select(Config()), windows.WindowsBackend)
