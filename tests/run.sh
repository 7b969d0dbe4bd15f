#!/usr/bin/env bash
# run.sh: runs each test binary (cmocka), then prints one closing line "N passed, N failed".
# Usage: tests/run.sh BUILD_DIR TEST_BINARY...   (VALGRIND=1 runs each under valgrind)
set -u
build=$1; shift
passed=0; failed=0; broken=()
export CTK_BIN="$build/ctk"
for t in "$@"; do
  name=$(basename "$t")
  log="$build/tests/$name.log"
  start=$(date +%s%N)
  if [ "${VALGRIND:-0}" = 1 ]; then
    valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --error-exitcode=99 "$t" >"$log" 2>&1
  else
    "$t" >"$log" 2>&1
  fi
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  p=$(grep -aoE '\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$4} END {print s+0}')
  f=$(grep -aoE '\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  printf '%-28s %3d passed %3d failed  %6d ms\n' "$name" "$p" "$f" "$ms"
  if [ "$rc" -ne 0 ]; then broken+=("$name"); sed 's/^/    /' "$log" | grep -aE 'FAIL|ERROR|error|Assert|seed|==[0-9]+==' | head -40; fi
done
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
