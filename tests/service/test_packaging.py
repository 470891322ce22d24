"""The packaging files: the systemd unit verifies, sysusers/tmpfiles apply, the launchd plist
parses and holds what launchd needs, and every command line they contain is one sandboxd
accepts."""

from __future__ import annotations

import plistlib
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import SANDBOXD
from sandboxd import config
from sandboxd.main import parse_args
from svc import REPO, unit_service_section

SYSTEMD = REPO / "packaging" / "systemd"
PLIST = REPO / "packaging" / "launchd" / "org.sandboxd.sandboxd.plist"
INSTALLED = "/usr/local/bin/sandboxd"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """With ExecStart pointing at a sandboxd that exists (this venv's), as after install."""
    text = (SYSTEMD / "sandboxd.service").read_text()
    assert INSTALLED in text
    unit = tmp_path / "sandboxd.service"
    unit.write_text(text.replace(INSTALLED, SANDBOXD))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", out.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a missing executable is an error."""
    unit = tmp_path / "sandboxd.service"
    unit.write_text((SYSTEMD / "sandboxd.service").read_text().replace(INSTALLED, str(tmp_path / "nope")))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0


def test_unit_exposure_stays_low(tmp_path: Path) -> None:
    unit = tmp_path / "sandboxd.service"
    unit.write_text((SYSTEMD / "sandboxd.service").read_text().replace(INSTALLED, SANDBOXD))
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=50", str(unit)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_unit_runs_the_daemon_the_way_it_expects() -> None:
    service = unit_service_section()
    assert service["Type"] == "notify"
    assert service["RuntimeDirectory"] == "sandboxd"
    assert service["Delegate"] == "yes"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert "GRPC_ENABLE_FORK_SUPPORT=0" in service["Environment"].split()
    start = shlex.split(service["ExecStart"])
    assert start[0] == INSTALLED
    args = parse_args(start[1:])
    assert args.foreground, "under systemd the daemon must not fork away from its MAINPID"
    assert args.config == config.DEFAULT_CONFIG
    pre = parse_args(shlex.split(service["ExecStartPre"])[1:])
    assert pre.check_config and pre.config == config.DEFAULT_CONFIG
    # The stop timeout leaves room for the drain grace period of the shipped config.
    shipped = config.load(str(REPO / "packaging" / "sandboxd.toml"))
    assert float(service["TimeoutStopSec"]) > shipped.drain_grace_s + 10
    assert service["KillMode"] == "mixed"
    assert int(service["WatchdogSec"]) >= 10


@pytest.mark.parametrize("tool", ["systemd-sysusers", "systemd-tmpfiles"])
def test_sysusers_and_tmpfiles_apply_to_a_root(tmp_path: Path, tool: str) -> None:
    """Applied to an empty root directory, as at first boot of an image."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    if tool == "systemd-sysusers":
        for name in ("passwd", "group", "shadow", "gshadow"):
            (root / "etc" / name).write_text("")
        out = subprocess.run([tool, f"--root={root}", str(SYSTEMD / "sandboxd.sysusers")], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        group = (root / "etc" / "group").read_text()
        assert group.startswith("sandboxd:x:"), group
        assert int(group.split(":")[2]) < 1000, "a system group"
    else:
        out = subprocess.run([tool, "--create", f"--root={root}", str(SYSTEMD / "sandboxd.tmpfiles")],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert (root / "run" / "sandboxd").is_dir()
        assert (root / "run" / "sandboxd").stat().st_mode & 0o777 == 0o755


def test_shipped_config_names_the_group_sysusers_creates() -> None:
    shipped = config.load(str(REPO / "packaging" / "sandboxd.toml"))
    line = next(x for x in (SYSTEMD / "sandboxd.sysusers").read_text().splitlines() if x and not x.startswith("#"))
    assert line.split()[:2] == ["g", shipped.socket_group]
    assert shipped.socket_mode == "0660"
    assert shipped.socket == "/run/sandboxd/sandboxd.sock"


def test_launchd_plist() -> None:
    with open(PLIST, "rb") as f:
        plist = plistlib.load(f)
    assert plist["Label"] == PLIST.stem == "org.sandboxd.sandboxd"
    argv = plist["ProgramArguments"]
    assert argv[0] == INSTALLED
    args = parse_args(argv[1:])
    assert args.foreground, "launchd supervises the process it started; the daemon must not fork"
    assert args.socket == "/var/run/sandboxd/sandboxd.sock"
    assert args.config and args.config.startswith("/")
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] in (True, {"SuccessfulExit": False})
    for key in ("StandardOutPath", "StandardErrorPath"):
        assert plist[key].startswith("/var/log/"), key
    assert plist["EnvironmentVariables"]["GRPC_ENABLE_FORK_SUPPORT"] == "0"
    shipped = config.load(str(REPO / "packaging" / "sandboxd.toml"))
    assert plist["ExitTimeOut"] > shipped.drain_grace_s + 10
    assert plist["Umask"] == 0o077
    assert set(plist) <= {"Label", "ProgramArguments", "EnvironmentVariables", "RunAtLoad", "KeepAlive",
                          "ThrottleInterval", "ExitTimeOut", "ProcessType", "Umask", "StandardOutPath",
                          "StandardErrorPath"}, "an unknown launchd key"
