#!/usr/bin/env bash
# cluster-sizes.sh: scenario 23 (and 14), quorum arithmetic measured: for 2, 3, 4, 5 and 7 nodes
# of a protocol (PROTOCOL, default raft) in the simulator, the fault-free throughput and latency,
# then the same cluster with f nodes crashed for good at 2 s (f from 1 up to n - 1): whether it
# still commits afterwards. 2f+1 nodes tolerate f crashes; an even size adds no tolerance.
# Commits are counted from 3 s on, in the run's per-second series (the simulator heals every
# fault for its final liveness phase, which is not counted).
# Usage: bench/studies/cluster-sizes.sh [CTK_BINARY]   (prints a Markdown table)
set -u
ctk=${1:-bin/ctk}
protocol=${PROTOCOL:-raft}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

config() { # nodes crashed -> file
  local f="$dir/n$1-c$2.toml"
  {
    printf 'protocol = "%s"\nseed = 1\n[cluster]\nnodes = %d\n' "$protocol" "$1"
    printf '[workload]\nclients = 16\nduration_s = 6\nwarmup_s = 1\nclient_timeout_ms = 300\n'
    printf '[sim]\nliveness_s = 5\n'
    for ((k = 0; k < $2; k++)); do
      printf '[[fault]]\nat_s = 2\nkind = "crash"\nnode = %d\n' "$k"
    done
  } >"$f"
  echo "$f"
}

json_num() { grep -o "\"$1\": *[0-9.e+-]*" "$2" | head -1 | sed 's/.*: *//'; }
# Operations completed from second 3 on (the crashes are at 2 s), from the run's series.
ops_after_crash() {
  awk '/"t_s":/ {gsub(/[^0-9]/, ""); t = $0} /"ops":/ && t != "" {gsub(/[^0-9]/, ""); if (t >= 3) n += $0}
       END {print n + 0}' "$1"
}

printf '| nodes | majority | ops/s (no faults) | p50 ms | p99 ms | keeps committing with k nodes crashed for good |\n'
printf '|---|---|---|---|---|---|\n'
for n in 2 3 4 5 7; do
  f=$(config "$n" 0)
  "$ctk" sim "$f" --json "$dir/r.json" >/dev/null 2>&1
  ops=$(json_num throughput_ops_s "$dir/r.json")
  p50=$(json_num p50 "$dir/r.json")
  p99=$(json_num p99 "$dir/r.json")
  tolerance=""
  for ((k = 1; k < n; k++)); do
    g=$(config "$n" "$k")
    "$ctk" sim "$g" --json "$dir/k.json" >/dev/null 2>&1
    after=$(ops_after_crash "$dir/k.json")
    if [ "$after" -gt 0 ]; then verdict="yes ($after ops)"; else verdict="**no**"; fi
    tolerance="$tolerance k=$k: $verdict;"
  done
  printf '| %d | %d | %.0f | %.2f | %.2f |%s |\n' "$n" $((n / 2 + 1)) "$ops" \
    "$(awk -v v="$p50" 'BEGIN {print v / 1000}')" "$(awk -v v="$p99" 'BEGIN {print v / 1000}')" \
    "${tolerance%;}"
done
