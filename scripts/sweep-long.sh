#!/usr/bin/env bash
# sweep-long.sh: the long seed sweeps (`make sweep-long`), beyond the 200 seeds per sweep of
# `make test`: every sweep scenario over SEEDS seeds (default 2000), on every core.
set -u
ctk=${1:-bin/ctk}
seeds=${SEEDS:-2000}
jobs=$(nproc)
failed=0
for f in configs/scenarios/raft-sweep.toml configs/scenarios/raft-sweep-3.toml \
         configs/scenarios/raft-sweep-7.toml configs/scenarios/raft-sweep-classic.toml \
         configs/scenarios/raft-figure8-hunt.toml configs/scenarios/epaxos-sweep.toml \
         configs/scenarios/epaxos-sweep-3.toml; do
  out=$("$ctk" sweep "$f" --seeds "$seeds" --jobs "$jobs" 2>/dev/null) || failed=1
  printf '%s\n' "$out" | grep -E '^seed |seeds run|replay'
done
exit $failed
