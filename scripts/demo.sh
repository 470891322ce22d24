#!/usr/bin/env bash
# The main job: set up, start sandboxd on a local socket, run every program in examples/
# through sandboxctl, show the daemon's status, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

run_dir=$(mktemp -d /tmp/sandboxd-demo.XXXXXX)
export SANDBOXD_SOCKET="$run_dir/sandboxd.sock"
.venv/bin/sandboxd --foreground --log-level warning \
  2>"$run_dir/daemon.log" &
daemon=$!
cleanup() {
  kill -TERM "$daemon" 2>/dev/null && wait "$daemon" || true
  rm -rf "$run_dir"
}
trap cleanup EXIT
for _ in $(seq 200); do
  [ -S "$SANDBOXD_SOCKET" ] && .venv/bin/sandboxctl status >/dev/null 2>&1 && break
  kill -0 "$daemon" 2>/dev/null || { cat "$run_dir/daemon.log" >&2; exit 1; }
  sleep 0.05
done

ctl=.venv/bin/sandboxctl
show() { echo; echo "\$ sandboxctl $*"; "$ctl" "$@" || echo "(exit code $?)"; }
show exec examples/hello.py --verbose
show exec examples/hello.js --verbose
printf '5\n1 2 3 4 5\n' > "$run_dir/numbers.txt"
show exec examples/sum_stdin.py --stdin "$run_dir/numbers.txt"
show exec examples/args_env.js --arg one --arg two --env GREETING=hej
show exec examples/count_words.py --file words.txt=examples/words.txt
show exec examples/stream.py
show exec examples/memory_hog.py --memory-limit 64 --json
show exec examples/escape_attempt.py
show exec examples/fork_bomb.py --max-processes 16 --timeout 5
show lint examples/escape_attempt.py
show status
