#!/usr/bin/env bash
# wan-table.sh: EPaxos against Multi-Paxos across five wide-area sites (configs/scenarios/
# epaxos-wan.toml) in the simulator, for conflict 0, 2, 10, 25, 50 and 100%: the median latency
# of the operations completed after the warmup, per site of the clients (client c lives at the
# site of node c % 5), then overall, and EPaxos's fast-path share. Only the `protocol` and
# `conflict_pct` lines of the scenario change between runs.
#   usage: scripts/wan-table.sh [ctk binary] [seed]
set -eu
ctk=${1:-bin/ctk}
seed=${2:-1}
scenario=configs/scenarios/epaxos-wan.toml
tmp=$(mktemp -d /tmp/ctk-wan-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sites=$(sed -n 's/^sites = \[\(.*\)\]/\1/p' "$scenario" | tr -d '" ' | tr ',' ' ')
warmup_us=$(awk -F' *= *' '/^warmup_s/ {print $2 * 1000000}' "$scenario")

# Median latency (ms) per client site, then overall (scripts/site-medians.awk), rounded.
medians() {
  awk -v sites="$sites" -v warmup="$warmup_us" -f "$(dirname "$0")/site-medians.awk" |
    awk '{ for (i = 1; i <= NF; i++) printf " %10.0f", $i }'
}

printf '%-11s %5s' protocol conf%
for s in $sites; do printf ' %10.10s' "$s"; done
printf ' %10s  %s\n' all "fast path (epaxos) / leader's site (multipaxos)"
for proto in multipaxos epaxos; do
  for pct in 0 2 10 25 50 100; do
    sed -e "s/^protocol = .*/protocol = \"$proto\"/" -e "s/^conflict_pct = .*/conflict_pct = $pct/" \
      -e "s/^seed = .*/seed = $seed/" "$scenario" > "$tmp/exp.toml"
    "$ctk" sim "$tmp/exp.toml" --history "$tmp/h.jsonl" --trace "$tmp/trace.txt" > "$tmp/out.txt" || {
      cat "$tmp/out.txt" >&2
      exit 1
    }
    fast=$(sed -n 's/.* fast path \([0-9.]*%\).*/\1/p' "$tmp/out.txt")
    leader=$(sed -n 's/.* n\([0-9]*\) LEADER of term.*/\1/p' "$tmp/trace.txt" | tail -1)
    [ -n "$leader" ] && fast="leader: $(echo $sites | cut -d' ' -f$((leader + 1)))"
    printf '%-11s %4s%%' "$proto" "$pct"
    medians < "$tmp/h.jsonl"
    printf '  %s\n' "${fast:--}"
  done
done
echo "(median latency in ms of the operations of the clients at each site, after the warmup)"
