#!/usr/bin/env bash
# wan/run.sh: do the simulator and real processes agree on wide-area latency? The EPaxos study
# (configs/scenarios/epaxos-wan.toml: five sites of the built-in matrix "epaxos5", one node per
# site, ten closed-loop clients, two per site, writes only) run both ways for EPaxos at 0%
# conflict and for Multi-Paxos: `ctk sim`, and `ctk run` with every node in its own network
# namespace behind the same delays (needs root). Prints the median latency of each site's clients
# in both, and their ratio run / sim; exits 1 when a ratio is outside 0.8 to 1.2.
#
# Multi-Paxos's latencies depend on where its leader is: the real run elects whoever times out
# first, so the simulator's seed is chosen (the first from 1 up) so that its leader is at the same
# site; EPaxos uses seed 1.
#   usage: bench/studies/wan/run.sh [CTK_BINARY]   (from the repository's top directory)
set -eu
ctk=${1:-bin/ctk}
here=$(dirname "$0")
scenario=configs/scenarios/epaxos-wan.toml
awk_medians=$here/../../../scripts/site-medians.awk
tmp=$(mktemp -d /tmp/ctk-wan-study-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sites=$(sed -n 's/^sites = \[\(.*\)\]/\1/p' "$scenario" | tr -d '" ' | tr ',' ' ')
warmup_us=$(awk -F' *= *' '/^warmup_s/ {print $2 * 1000000}' "$scenario")
site_of() { echo $sites | cut -d' ' -f$(($1 + 1)); }
medians() { awk -v sites="$sites" -v warmup="$warmup_us" -f "$awk_medians" "$1"; }

# The leader a simulated run ended with (its trace), or a real run's (its nodes' logs).
sim_leader() { sed -n 's/.* n\([0-9]*\) LEADER of term \([0-9]*\).*/\2 \1/p' "$1" | sort -n | tail -1 | cut -d' ' -f2; }
run_leader() {
  for log in "$1"/node-*.log; do
    sed -n "s/.* n\([0-9]*\) leader of term \([0-9]*\).*/\2 \1/p" "$log"
  done | sort -n | tail -1 | cut -d' ' -f2
}

sed -e 's/^conflict_pct = .*/conflict_pct = 0/' "$scenario" > "$tmp/exp.toml"
printf '%-11s %-11s %9s %9s %7s\n' protocol site sim_ms run_ms ratio
bad=0
for proto in epaxos multipaxos; do
  "$ctk" run "$tmp/exp.toml" --protocol "$proto" --out "$tmp/run-$proto" --quiet \
    > "$tmp/run-$proto.txt" 2>&1 || { cat "$tmp/run-$proto.txt" >&2; exit 2; }
  run_medians=$(medians "$tmp/run-$proto/history.jsonl")
  note="seed 1"
  seed=1
  if [ "$proto" = multipaxos ]; then
    leader=$(run_leader "$tmp/run-$proto")
    want=$(site_of "$leader")
    for seed in $(seq 1 40); do
      sed -e "s/^seed = .*/seed = $seed/" "$tmp/exp.toml" > "$tmp/sim.toml"
      "$ctk" sim "$tmp/sim.toml" --protocol "$proto" --history "$tmp/h.jsonl" \
        --trace "$tmp/trace.txt" > /dev/null
      [ "$(site_of "$(sim_leader "$tmp/trace.txt")")" = "$want" ] && break
    done
    note="leader in $want in both (run: n$leader; sim: seed $seed, n$(sim_leader "$tmp/trace.txt"))"
  else
    "$ctk" sim "$tmp/exp.toml" --protocol "$proto" --history "$tmp/h.jsonl" > /dev/null
  fi
  sim_medians=$(medians "$tmp/h.jsonl")
  k=1
  for site in $sites all; do
    s=$(echo $sim_medians | cut -d' ' -f$k)
    r=$(echo $run_medians | cut -d' ' -f$k)
    ratio=$(awk -v s="$s" -v r="$r" 'BEGIN { printf "%.2f", (s > 0 ? r / s : 0) }')
    flag=$(awk -v x="$ratio" 'BEGIN { print (x >= 0.8 && x <= 1.2) ? "" : "  OUT OF 20%" }')
    [ -n "$flag" ] && bad=1
    printf '%-11s %-11s %9.1f %9.1f %7s%s\n' "$proto" "$site" "$s" "$r" "$ratio" "$flag"
    k=$((k + 1))
  done
  echo "  ($proto: $note; run: $(sed -n 's/^ *throughput *\([0-9.]* ops\/s\).*/\1/p' "$tmp/run-$proto.txt"))"
done
exit $bad
