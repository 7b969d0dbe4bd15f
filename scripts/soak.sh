#!/usr/bin/env bash
# soak.sh: `make soak`: every protocol (or those named in PROTOCOLS) runs for SOAK_SECONDS
# (default 600) on a local 3-node cluster under a rotating fault schedule (a crash of a random
# node, a partition of the leader, message loss, delay and reordering, a slow node, one every
# 20 s, each healing after 4 s), while every node's resident memory and open file descriptors
# are recorded each second. Writes soak/<protocol>.csv (t_s, node, pid, rss_kb, fds), the run's
# results, and soak/summary.txt; with gnuplot, soak/memory.png.
#
# Verdict per protocol: the run must pass (linearizable, replicas converged), no node may gain
# more than 8 open files between the first and the last minute, and memory must be flat: a
# node's median RSS over the last minute may exceed its median over the second minute by at most
# SOAK_RSS_SLACK_KB (default 16384) plus SOAK_RSS_PER_OP_BYTES (default 0) per operation
# committed in between. Exit status 0 when every protocol passed.
set -u
ctk=${1:-bin/ctk}
seconds=${SOAK_SECONDS:-600}
slack_kb=${SOAK_RSS_SLACK_KB:-16384}
per_op=${SOAK_RSS_PER_OP_BYTES:-0}
if [ "$seconds" -lt 240 ]; then
  echo "soak: SOAK_SECONDS must be at least 240 (minute 2 is compared with the last minute)" >&2
  exit 2
fi
protocols=${PROTOCOLS:-$("$ctk" protocols | awk '/^[a-z]/ {print $1}')}
out=soak
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
failed=0
port=$((23000 + $$ % 300 * 20))
kinds=("crash" "partition" "drop" "delay" "reorder" "slow")

write_config() { # protocol file
  {
    printf '# written by scripts/soak.sh\nprotocol = "%s"\nseed = 1\n' "$1"
    printf '[cluster]\nnodes = 3\nbase_port = %d\n' "$port"
    printf '[workload]\nclients = 8\nduration_s = %d\nwarmup_s = 1\nkeys = 1000\n' "$seconds"
    printf 'read_ratio = 0.5\nvalue_bytes = 64\nclient_timeout_ms = 500\n'
    local at=10 k=0
    while [ $((at + 5)) -lt "$seconds" ] && [ $k -lt 60 ]; do
      local kind=${kinds[$((k % ${#kinds[@]}))]}
      printf '[[fault]]\nat_s = %d\nkind = "%s"\nduration_s = 4\n' "$at" "$kind"
      case $kind in
      crash) printf 'node = "random"\n' ;;
      partition) printf 'node = "leader"\n' ;;
      drop) printf 'node = "all"\nprobability = 0.05\n' ;;
      delay) printf 'node = "all"\ndelay_ms = 5\n' ;;
      reorder) printf 'node = "all"\nprobability = 0.2\ndelay_ms = 10\n' ;;
      slow) printf 'node = "random"\nfactor = 5\n' ;;
      esac
      at=$((at + 20)) k=$((k + 1))
    done
  } >"$2"
}

# Median of the numbers on standard input.
median() { sort -n | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print 0}'; }

for p in $protocols; do
  cfg="$out/$p.toml"
  csv="$out/$p.csv"
  write_config "$p" "$cfg"
  echo "t_s,node,pid,rss_kb,fds" >"$csv"
  echo "soak: $p for $seconds s (samples in $csv)"
  # This script's own run directory and results from an earlier soak: ctk run refuses to start
  # nodes over an earlier run's state, and a stale JSON would report its operations as this one's.
  rm -rf "${out:?}/$p-run" "$out/$p.json"
  "$ctk" run "$cfg" --out "$out/$p-run" --json "$out/$p.json" --quiet >"$out/$p.out" 2>&1 &
  runner=$!
  start=$SECONDS
  while kill -0 "$runner" 2>/dev/null; do
    sleep 1
    t=$((SECONDS - start)) # wall seconds: on a busy machine a round of sampling takes longer
    for i in 0 1 2; do
      pid=$(pgrep -f "node $out/$p-run/config.toml --id $i " | head -1)
      [ -n "$pid" ] || continue
      rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
      fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
      [ -n "$rss" ] && echo "$t,$i,$pid,$rss,$fds" >>"$csv"
    done
  done
  wait "$runner"
  rc=$?
  ops=$(grep -o '"ops_ok": *[0-9]*' "$out/$p.json" 2>/dev/null | grep -o '[0-9]*$' || echo 0)
  verdict=pass
  [ "$rc" -eq 0 ] || verdict="FAIL (ctk run exit $rc, see $out/$p.out)"
  for i in 0 1 2; do
    early=$(awk -F, -v n="$i" -v lo=60 -v hi=120 'NR > 1 && $2 == n && $1 >= lo && $1 < hi {print $4}' "$csv" | median)
    late=$(awk -F, -v n="$i" -v lo=$((seconds - 60)) 'NR > 1 && $2 == n && $1 >= lo {print $4}' "$csv" | median)
    fds0=$(awk -F, -v n="$i" 'NR > 1 && $2 == n && $1 < 60 {print $5}' "$csv" | median)
    fds1=$(awk -F, -v n="$i" -v lo=$((seconds - 60)) 'NR > 1 && $2 == n && $1 >= lo {print $5}' "$csv" | median)
    allowed=$((slack_kb + ops * per_op / 1024))
    grow=$((late - early))
    if [ "$early" -eq 0 ] || [ "$late" -eq 0 ]; then
      echo "$p node $i: no memory samples in minute 2 or in the last minute" | tee -a "$summary"
      verdict="FAIL (no samples)"
    fi
    line=$(printf '%-11s node %d: rss %6d kB (minute 2) -> %6d kB (last minute), %+d kB; fds %d -> %d' \
      "$p" "$i" "$early" "$late" "$grow" "$fds0" "$fds1")
    if [ "$grow" -gt "$allowed" ]; then
      line="$line  GROWS (allowed $allowed kB)"
      verdict="FAIL (memory grows)"
    fi
    if [ $((fds1 - fds0)) -gt 8 ]; then
      line="$line  FD LEAK"
      verdict="FAIL (file descriptors leak)"
    fi
    echo "$line" | tee -a "$summary"
  done
  echo "$p: $ops operations acknowledged; $verdict" | tee -a "$summary"
  [ "$verdict" = pass ] || failed=1
done

if command -v gnuplot >/dev/null; then
  plots=()
  for p in $protocols; do
    awk -F, 'NR > 1 && $2 == 0 {print $1, $4 / 1024}' "$out/$p.csv" >"$out/$p.node0.dat"
    plots+=("'$out/$p.node0.dat' using 1:2 with lines title '$p'")
  done
  {
    echo "set terminal pngcairo size 1000,600; set output '$out/memory.png'"
    echo "set xlabel 'seconds'; set ylabel 'RSS of node 0 (MB)'; set key top left"
    (IFS=,; echo "plot ${plots[*]}")
  } | gnuplot && echo "soak: $out/memory.png"
fi
exit $failed
