"""Config files: what is accepted, and every way of being wrong named by file, key and reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sandboxd import config

SANDBOXD = str(Path(sys.executable).parent / "sandboxd")
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "packaging" / "sandboxd.toml"

# (file text, substring the error must contain). Each names the key and the reason.
BAD = [
    ("colour = 1\n", "colour: unknown key"),
    ("[limits]\nmemroy_mb = 1\n", "limits.memroy_mb: unknown key"),
    ("[sandbox]\nseccom = true\n", "sandbox.seccom: unknown key"),
    ("[languages.python]\ninterpreter = '/usr/bin/python3'\nextensions = ['.py']\npoolsize = 1\n",
     "languages.python.poolsize: unknown key"),
    ("log_level = 'loud'\n", "log_level: must be one of debug, info, warning, error, got 'loud'"),
    ("lint_policy = 'strict'\n", "lint_policy: must be one of off, warn, deny"),
    ("socket_mode = '0999'\n", "socket_mode: not an octal mode"),
    ("socket_mode = 660\n", "socket_mode: expected a string, got 660"),
    ("socket_mode = '01777'\n", "socket_mode: out of range"),
    ("socket = 'relative.sock'\n", "socket: must be an absolute path"),
    ("socket = '/" + "x" * 120 + "'\n", "socket: longer than 100 bytes"),
    ("allowed_uids = ['alice']\n", "allowed_uids[0]: expected an integer, got 'alice'"),
    ("allowed_uids = 1000\n", "allowed_uids: expected a list"),
    ("allowed_uids = [-1]\n", "allowed_uids: -1 is not a valid uid"),
    ("allowed_groups = ['no-such-group-sbx']\n", "allowed_groups: no such group 'no-such-group-sbx'"),
    ("max_runs_per_uid = 0\n", "max_runs_per_uid: must be positive, got 0"),
    ("max_runs_per_uid = true\n", "max_runs_per_uid: expected an integer, got True"),
    ("drain_grace_s = -1\n", "drain_grace_s: must not be negative"),
    ("drain_grace_s = 'soon'\n", "drain_grace_s: expected a number, got 'soon'"),
    ("metrics_listen = 'localhost'\n", "metrics_listen: expected HOST:PORT or unix:/PATH"),
    ("metrics_listen = '127.0.0.1:99999'\n", "metrics_listen: expected HOST:PORT"),
    ("metrics_listen = 'unix:metrics.sock'\n", "metrics_listen: unix socket path must be absolute"),
    ("[limits]\nmemory_mb = 0\n", "limits.memory_mb: must be positive, got 0"),
    ("[limits]\nmax_processes = 2.5\n", "limits.max_processes: expected an integer, got 2.5"),
    ("[limits]\ntimeout_s = 1000\n", "limits.timeout_s: default 1000.0 is above max_limits.timeout_s = 600"),
    ("[max_limits]\ncpu_s = -3\n", "max_limits.cpu_s: must be positive"),
    ("limits = 5\n", "limits: expected a table"),
    ("[requests]\nmax_code_bytes = 0\n", "requests.max_code_bytes: must be positive, got 0"),
    ("[sandbox]\nlandlock = 'maybe'\n", "sandbox.landlock: must be one of required, best, off"),
    ("[sandbox]\ncgroup_name = '../escape'\n", "sandbox.cgroup_name: '../escape' must be a relative cgroup path"),
    ("[sandbox]\nreadonly_paths = ['usr']\n", "sandbox.readonly_paths: 'usr' must be absolute"),
    ("[sandbox]\nuid_base = 0\n", "sandbox.uid_base/uid_count"),
    ("[sandbox]\nworkdir_size_mb = 0\n", "sandbox.workdir_size_mb: must be positive"),
    ("languages = {}\n", "languages: at least one language is required"),
    ("[languages.ruby]\ninterpreter = '/usr/bin/ruby'\n", "languages.ruby.extensions: required key is missing"),
    ("[languages.ruby]\nextensions = ['.rb']\n", "languages.ruby.interpreter: required key is missing"),
    ("[languages.Ruby]\ninterpreter = '/usr/bin/ruby'\nextensions = ['.rb']\n",
     "languages.Ruby: a language name is lower-case"),
    ("[languages.python]\ninterpreter = 'python3'\nextensions = ['.py']\n",
     "languages.python.interpreter: must be an absolute path, got 'python3'"),
    ("[languages.python]\ninterpreter = '/usr/bin/python3'\nextensions = ['.py']\npool_size = -1\n",
     "languages.python.pool_size: must be between 0 and 256, got -1"),
    ("[languages.python]\ninterpreter = '/usr/bin/python3'\nextensions = ['.py']\nmode = 'spawn'\n",
     "languages.python.mode: must be one of fork, exec, got 'spawn'"),
    ("[languages.python]\ninterpreter = '/usr/bin/python3'\nextensions = ['py']\n",
     "languages.python.extensions: 'py' must start with '.'"),
    ("[languages.python]\ninterpreter = '/usr/bin/python3'\nextensions = []\n",
     "languages.python.extensions: at least one file extension is required"),
    ("[languages.a]\ninterpreter = '/usr/bin/python3'\nextensions = ['.py']\n"
     "[languages.b]\ninterpreter = '/usr/bin/python3'\nextensions = ['.py']\n",
     "languages.b.extensions: '.py' already belongs to a"),
    ("[languages.js]\ninterpreter = '/usr/bin/node'\nextensions = ['.js']\nrunner = 'node_runner.js'\n",
     "languages.js: 'command' and 'runner' go together"),
    ("[languages.js]\ninterpreter = '/usr/bin/node'\nextensions = ['.js']\nrunner = 'ruby_runner.rb'\n"
     "command = ['{interpreter}', '{runner}']\n",
     "languages.js.runner: no runner named 'ruby_runner.rb'"),
    ("[languages.py]\ninterpreter = '/usr/bin/python3'\nextensions = ['.py']\nmode = 'fork'\n"
     "runner = 'node_runner.js'\ncommand = ['{interpreter}']\n",
     "languages.py.mode: 'fork' runs Python in the init itself and takes no 'command'"),
    ("log_level = \n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(BAD)])
def test_bad_config_is_refused_with_file_key_and_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as info:
        config.load(str(path))
    assert str(info.value).startswith(f"{path}: "), info.value
    assert message in str(info.value)


def test_bad_config_stops_the_daemon_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[limits]\nmemroy_mb = 1\n")
    for args in (["--check-config"], ["--foreground"]):
        out = subprocess.run([SANDBOXD, "--config", str(path), *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 2, out
        assert f"{path}: limits.memroy_mb: unknown key" in out.stderr


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="no such file"):
        config.load(str(tmp_path / "absent.toml"))


def test_example_config_is_accepted_by_check_config() -> None:
    out = subprocess.run([SANDBOXD, "--check-config", "--config", str(EXAMPLE)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert "config OK" in out.stdout
    assert "python (pool 4), javascript (pool 2)" in out.stdout


def test_example_config_spells_out_every_default() -> None:
    """The annotated example is the reference: it must list every key, at its default."""
    loaded = config.load(str(EXAMPLE))
    assert loaded.socket == config.DEFAULT_SOCKET
    loaded.socket = ""
    assert loaded == config.from_dict({})
    text = EXAMPLE.read_text()
    for cls in (config.Config, config.Limits, config.RequestCaps, config.SandboxConfig, config.LanguageConfig):
        for name in cls.__dataclass_fields__:
            assert f"\n{name} = " in text or f"[{name}" in text or f"#   {name}" in text, \
                f"{cls.__name__}.{name} is not documented in {EXAMPLE.name}"


def test_check_config_reports_a_missing_interpreter(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[languages.python]\ninterpreter = '/nonexistent/python3'\nextensions = ['.py']\n")
    out = subprocess.run([SANDBOXD, "--check-config", "--config", str(path)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 1
    assert "languages.python.interpreter: /nonexistent/python3 is not an executable file" in out.stderr


def test_languages_are_data() -> None:
    """A new language is a table (interpreter, runner, command, pool size), not code."""
    cfg = config.from_dict({"languages": {
        "python": {"interpreter": "/usr/bin/python3", "extensions": [".py"], "pool_size": 1, "mode": "fork"},
        "js2": {"interpreter": "/usr/bin/node", "extensions": [".js2"], "pool_size": 3, "runner": "node_runner.js",
                "command": ["{interpreter}", "--stack-size=2000", "-e", "{runner}"]},
    }})
    assert cfg.language_for_extension(".js2") == "js2"
    assert cfg.languages["js2"].pool_size == 3
    assert cfg.languages["js2"].command[1] == "--stack-size=2000"


def test_values_keep_their_types() -> None:
    cfg = config.from_dict({"limits": {"cpu_s": 2}, "allowed_uids": [1000, 1001], "socket_mode": "0600",
                            "metrics_listen": "[::1]:9464"})
    assert cfg.limits.cpu_s == 2.0 and isinstance(cfg.limits.cpu_s, float)
    assert cfg.allowed_uids == [1000, 1001]
    assert config.parse_listen(cfg.metrics_listen) == ("::1", 9464)
    assert config.parse_listen("unix:/run/sandboxd/metrics.sock") == "/run/sandboxd/metrics.sock"
