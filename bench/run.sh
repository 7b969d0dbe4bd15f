#!/usr/bin/env bash
# run.sh: runs every benchmark binary of the build, each printing its own numbers and ratios
# against a baseline measured in the same run.
set -euo pipefail
build=$1
for b in "$build"/bench/*; do
  [ -x "$b" ] || continue
  "$b"
done
