#!/usr/bin/env bash
# sweep-long.sh: the long seed sweeps (`make sweep-long`), beyond the 200 seeds per sweep of
# `make test`: every protocol's sweep scenarios over SEEDS seeds (default 2000), on every core.
set -u
ctk=${1:-bin/ctk}
seeds=${SEEDS:-2000}
jobs=$(nproc)
failed=0
# Every sweep scenario of every protocol (*sweep*.toml), and the Figure 8 hunt.
for f in configs/scenarios/*sweep*.toml configs/scenarios/raft-figure8-hunt.toml; do
  out=$("$ctk" sweep "$f" --seeds "$seeds" --jobs "$jobs" 2>/dev/null) || failed=1
  printf '%s\n' "$out" | grep -E '^seed |seeds run|replay'
done
exit $failed
