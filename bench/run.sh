#!/usr/bin/env bash
# run.sh: runs every benchmark binary of the build, each printing its own numbers and ratios
# against a baseline measured in the same run. The floors go first: bench_cluster puts its
# cluster numbers next to the ZeroMQ round trip and the fsync time measured just before it.
set -euo pipefail
build=$1
floors=$(mktemp)
trap 'rm -f "$floors"' EXIT
for b in bench_zmq_rtt bench_disk; do
  "$build/bench/$b" | tee -a "$floors"
done
value() { awk -v k="$1" '$1 == k {print $2}' "$floors" | tail -1; }
for b in "$build"/bench/*; do
  [ -x "$b" ] || continue
  case $(basename "$b") in
  bench_zmq_rtt | bench_disk) ;;
  bench_cluster)
    CTK_ZMQ_RTT_US=$(value zmq_rtt_median_us) CTK_FSYNC_US=$(value disk_fdatasync_median_us) \
      "$b" "$build/ctk" ;;
  *) "$b" ;;
  esac
done
