#!/usr/bin/env bash
# The test command (README, .ci/run): set up, lint, check the generated gRPC code is current,
# run the whole pytest suite, then the SPEC contract check. Any failure fails the command;
# pytest's own exit code (5 = no tests collected included) is passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check .

echo "== generated protobuf code is current"
PYTHON=.venv/bin/python scripts/gen_proto.sh
if [ -n "$(git status --porcelain -- client/sandboxctl/_pb)" ]; then
  git --no-pager diff --stat -- client/sandboxctl/_pb
  echo "client/sandboxctl/_pb differs from proto/: run scripts/gen_proto.sh and commit" >&2
  exit 1
fi

echo "== pytest"
set +e
.venv/bin/python -m pytest -q tests "$@"
rc=$?
set -e
if [ "$rc" != 0 ]; then
  echo "pytest failed with exit code $rc" >&2
  exit "$rc"
fi

echo "== SPEC contract check"
# The shared, authoritative copy when this checkout sits beside it; else the one vendored here.
contract=../shared/contract_check.py
[ -f "$contract" ] || contract=.ci/contract_check.py
echo "using $contract"
SANDBOXD=.venv/bin/sandboxd SANDBOXCTL=.venv/bin/sandboxctl .venv/bin/python "$contract"
