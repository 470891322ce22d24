#!/usr/bin/env bash
# Prepares this machine for sandboxd, as root: Debian/Ubuntu packages, then .venv with the
# project installed (editable, with the dev tools). Safe to run again: it only installs what
# is missing.
#
# The venv is made from Debian's /usr/bin/python3 on purpose: Python workers are forked from
# the daemon's own warm interpreter, which must be the one the sandbox exposes (/usr/bin/python3),
# and it starts without pyenv's shims and .pth imports.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup: run as root (sandboxd builds namespaces and cgroups; apt needs root too)" >&2
  exit 1
fi

# Build deps of python-prctl and systemd-python (they ship only as sources), libseccomp for
# pyseccomp, Debian's Python with venv, bubblewrap and strace for the benchmarks and tests.
packages=(gcc libc6-dev pkg-config libcap-dev libsystemd-dev libseccomp2 python3 python3-dev
          python3-venv bubblewrap strace util-linux passwd)
command -v node >/dev/null || packages+=(nodejs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi

if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 \
  | grep -v -e "^WARNING: Location" -e "DEPRECATION:" || true
.venv/bin/python -c "import sandboxd, sandboxctl, hpack, prctl, pyseccomp, systemd.daemon" \
  || { echo "setup: the venv is incomplete (see pip's output above)" >&2; exit 1; }
echo "setup: ready (.venv/bin/sandboxd, .venv/bin/sandboxctl)"
