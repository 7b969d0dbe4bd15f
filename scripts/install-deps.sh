#!/usr/bin/env bash
# install-deps.sh: installs the Debian packages ctk builds and tests with, when any is missing.
# `install-deps.sh fuzz` also installs clang's fuzzing runtime (for `make fuzz`).
# Needs root (or sudo) only when something has to be installed.
set -euo pipefail
packages=(build-essential g++ pkg-config libtomlplusplus-dev libjansson-dev libxxhash-dev
          libcmocka-dev libzmq3-dev liblmdb-dev gnuplot-nox valgrind chromium zlib1g-dev
          iproute2)
[ "${1:-}" = fuzz ] && packages+=(clang libclang-rt-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
