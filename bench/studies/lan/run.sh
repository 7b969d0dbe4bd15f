#!/usr/bin/env bash
# run.sh: study (a), LAN peak throughput and latency (lan.toml), next to the raw ZeroMQ round trip
# between two processes (bench/bench_zmq_rtt.c), measured just before and just after the matrix
# in the same run. Then the charts (ctk plot) and summary.txt: the acceptance numbers of issue 8
# (Raft and Multi-Paxos commit latency with one client against the round trip, their peak
# throughput with syncing off, EPaxos at 0% conflict against Multi-Paxos).
# Usage: bench/studies/lan/run.sh [BUILD_DIR (build/release)] [ctk bench options: --fresh ...]
set -euo pipefail
build=${1:-build/release}
shift || true
here=$(dirname "$0")
out=${OUT:-results/study-lan}
make -s MODE="$(basename "$build")" "$build/ctk" "$build/bench/bench_zmq_rtt"
rtt() { "$build/bench/bench_zmq_rtt" | awk '$1 == "zmq_rtt_median_us" {print $2}'; }
rtt_before=$(rtt)
"$build/ctk" bench "$here/lan.toml" --out "$out" "$@" || true
rtt_after=$(rtt)
"$build/ctk" plot "$out" >/dev/null

# One number of bench.csv: column $2 of the row of point $1.
value() {
  awk -F, -v point="$1" -v col="$2" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    $1 == point { print $c }' "$out/bench.csv"
}
# The largest median throughput of a protocol over the clients swept, on n nodes.
peak() {
  awk -F, -v proto="$1" -v nodes="$2" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == "throughput_ops_s_median") c = i; next }
    $3 == proto && $4 == nodes && $c + 0 > best { best = $c + 0; at = $5 }
    END { printf "%.0f %d\n", best, at }' "$out/bench.csv"
}
{
  echo "ZeroMQ round trip (bench_zmq_rtt, median of 20,000): ${rtt_before} us before the matrix," \
    "${rtt_after} us after"
  rtt_mid=$(echo "$rtt_before $rtt_after" | awk '{printf "%.1f", ($1 + $2) / 2}')
  for p in raft multipaxos; do
    lat=$(value "protocol-${p}_nodes-3_clients-1" latency_p50_ms_median)
    echo "$p, 3 nodes, 1 client: commit latency p50 $(awk -v l="$lat" 'BEGIN {printf "%.0f", l * 1000}') us" \
      "= $(awk -v l="$lat" -v r="$rtt_mid" 'BEGIN {printf "%.2f", l * 1000 / r}')x the round trip (target <= 2.5x)"
  done
  for p in raft multipaxos epaxos; do
    read -r best at <<<"$(peak "$p" 3)"
    echo "$p, 3 nodes: peak throughput ${best} ops/s (at ${at} clients; syncing off, default batching; target >= 100,000 for raft and multipaxos)"
  done
  e=$(peak epaxos 3 | cut -d' ' -f1)
  m=$(peak multipaxos 3 | cut -d' ' -f1)
  echo "epaxos at 0% conflict / multipaxos, peak throughput on 3 nodes: $(awk -v e="$e" -v m="$m" 'BEGIN {printf "%.2f", e / m}')x (target >= 1)"
  echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
    "shared with other engineers compiling and testing"
} | tee "$out/summary.txt"
