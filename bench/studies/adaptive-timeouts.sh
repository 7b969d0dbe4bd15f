#!/usr/bin/env bash
# adaptive-timeouts.sh: scenario 2 measured: Raft with static election timeouts (150-300 ms)
# against adaptive ones (raft.adaptive_timeout) in the simulator, over seeds 1..SEEDS (10):
#  - spurious elections: leader changes on a flaky link (the leader's links stall 200 ms every
#    1.5 s: configs/scenarios/raft-flaky-link-{static,adaptive}.toml), counting the first
#    election of each seed;
#  - failover: mean unavailability after a leader crash at 14 s, on a calm network and after
#    six stalls (clients retry after 50 ms, so the window is the election, not a client timeout).
# Usage: bench/studies/adaptive-timeouts.sh [CTK_BINARY]   (prints a Markdown table)
set -u
ctk=${1:-bin/ctk}
seeds=${SEEDS:-10}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

failover_config() { # adaptive(true|false) flaky(0|1) -> file
  local f="$dir/fo-$1-$2.toml"
  {
    printf 'protocol = "raft"\n[cluster]\nnodes = 5\n[workload]\nclients = 8\nduration_s = 20\n'
    printf 'warmup_s = 0\nclient_timeout_ms = 50\n[sim]\ndelay_ms = [1, 5]\nliveness_s = 10\n'
    printf '[raft]\nadaptive_timeout = %s\n' "$1"
    if [ "$2" = 1 ]; then
      for i in 0 1 2 3 4 5; do
        printf '[[fault]]\nat_s = %s\nkind = "delay"\nnode = "leader"\ndelay_ms = 200\nduration_s = 0.4\n' \
          "$(awk -v i="$i" 'BEGIN {print 1 + i * 1.5}')"
      done
    fi
    printf '[[fault]]\nat_s = 14\nkind = "crash"\nnode = "leader"\nduration_s = 2\n'
  } >"$f"
  echo "$f"
}

leader_changes() { # file
  local total=0
  for ((s = 1; s <= seeds; s++)); do
    n=$("$ctk" sim "$1" --seed "$s" 2>&1 | grep -oE '[0-9]+ leader changes' | grep -oE '^[0-9]+')
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

mean_failover_ms() { # file
  for ((s = 1; s <= seeds; s++)); do
    "$ctk" sim "$1" --seed "$s" 2>&1 | grep 'crash of node' | grep -oE 'unavailable [0-9.]+' |
      grep -oE '[0-9.]+'
  done | awk '{t += $1; n++} END {printf "%.0f", n ? t / n : 0}'
}

printf '| timeouts | leader changes on the flaky link (%d seeds) | failover, calm network | failover after a flaky period |\n' "$seeds"
printf '|---|---|---|---|\n'
for adaptive in false true; do
  name=static
  [ "$adaptive" = true ] && name=adaptive
  printf '| %s | %s | %s ms | %s ms |\n' "$name" \
    "$(leader_changes "configs/scenarios/raft-flaky-link-$name.toml")" \
    "$(mean_failover_ms "$(failover_config "$adaptive" 0)")" \
    "$(mean_failover_ms "$(failover_config "$adaptive" 1)")"
done
