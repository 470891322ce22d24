"""`sandboxd`: load the config, start the platform backend, serve gRPC on the socket.

The backend (and on Linux its zygote) starts before grpc is imported: the gRPC process must
never fork without exec, and importing grpc after the fork server is running keeps it so.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
# grpc's EventEngine (its default I/O since 1.6x) does every read and write on threads of its
# own; its classic I/O manager polls in the thread that waits for the call. On the local
# socket that is one thread wake-up less per direction (A/B: Python p50 -0.09 to -0.19 ms,
# Node -0.05 ms; throughput unchanged). An operator's own GRPC_EXPERIMENTS wins; a grpc
# without these experiments says "Unknown experiment" once in the log and keeps its default.
os.environ.setdefault("GRPC_EXPERIMENTS",
                      "-event_engine_listener,-event_engine_client,-event_engine_for_all_other_endpoints")

# Neither module imports grpc, so the environment above is still set before it is.
from . import config, logs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sandboxd", description="Secure code-execution daemon.")
    p.add_argument("--socket", help="Unix socket to listen on (default: $SANDBOXD_SOCKET, the config, "
                   "or /run/sandboxd/sandboxd.sock)")
    p.add_argument("--config", help="TOML config file (default: /etc/sandboxd/sandboxd.toml if present)")
    p.add_argument("--foreground", action="store_true", help="stay in the foreground (as under systemd)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--check-config", action="store_true", help="validate the config and exit")
    return p.parse_args(argv)


def _daemonize() -> int:
    """Forks into the background before anything multi-threaded exists; returns the fd the
    child writes one byte to once it is serving (the parent exits then)."""
    r, w = os.pipe()
    if os.fork() > 0:
        os.close(w)
        ok = os.read(r, 1)
        os._exit(0 if ok == b"1" else 1)
    os.close(r)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    return w


def _raise_open_files_limit() -> None:
    """Each worker holds ~15 of the daemon's descriptors (pipes, pidfd, the cgroup files read
    on every run): the customary soft limit of 1024 would cap the pools near 60 workers. The
    hard limit is what the administrator allows; nothing here uses select()."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def check_config(args: argparse.Namespace, cfg: config.Config) -> int:
    """`--check-config`: the file parsed and validated, then what this host lacks for it.

    Exit 2 for a bad file (as at start-up), 1 when the file is fine but the host cannot run
    it (a missing interpreter), 0 otherwise; warnings go to stderr either way.
    """
    source = args.config or (config.DEFAULT_CONFIG if os.path.exists(config.DEFAULT_CONFIG)
                             else "built-in defaults")
    errors, warnings = config.host_problems(cfg)
    for line in warnings:
        print(f"sandboxd: warning: {line}", file=sys.stderr)
    for line in errors:
        print(f"sandboxd: error: {line}", file=sys.stderr)
    if errors:
        return 1
    pools = ", ".join(f"{name} (pool {lang.pool_size})" for name, lang in cfg.languages.items())
    print(f"sandboxd: config OK ({source}): socket {config.resolve_socket(args.socket, cfg)}, languages {pools}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"sandboxd: config error: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        return check_config(args, cfg)
    logs.setup(args.log_level or cfg.log_level)
    _raise_open_files_limit()
    socket_path = config.resolve_socket(args.socket, cfg)
    ready_fd = None if args.foreground else _daemonize()

    from .backend import select

    try:
        backend = select(cfg)
        backend.check_required()
    except (RuntimeError, OSError) as exc:
        print(f"sandboxd: cannot start: {exc}", file=sys.stderr)
        return 1
    from .daemon import run_daemon

    try:
        return run_daemon(cfg, backend, socket_path, args.config, args.log_level, ready_fd)
    finally:
        backend.close()


if __name__ == "__main__":
    sys.exit(main())
