#!/usr/bin/env bash
# run-all.sh: runs the shipped studies (each resumable) and copies their charts next to their
# experiment files (bench/studies/<study>/plots/*.png), as committed.
# Usage: bench/studies/run-all.sh [BUILD_DIR (build/release)] [study ...]
set -euo pipefail
build=${1:-build/release}
shift || true
studies=("$@")
[ ${#studies[@]} -gt 0 ] || studies=(epaxos-conflict prevote-flapping leader-failure lan)
here=$(cd "$(dirname "$0")" && pwd)
make -s MODE="$(basename "$build")" "$build/ctk"
for s in "${studies[@]}"; do
  out=results/study-$s
  case $s in
  lan) OUT=$out bash "$here/lan/run.sh" "$build" ;;
  epaxos-conflict | prevote-flapping) "$build/ctk" bench "$here/$s/$s.toml" --sim --out "$out" || true ;;
  *) "$build/ctk" bench "$here/$s/$s.toml" --out "$out" || true ;;
  esac
  "$build/ctk" plot "$out" >/dev/null
  mkdir -p "$here/$s/plots"
  rm -f "$here/$s"/plots/*.png
  cp "$out"/plots/*.png "$here/$s/plots/"
  cp "$out/bench.csv" "$here/$s/bench.csv"
done
