# site-medians.awk: median latency (ms) of the operations completed after the warmup, per client
# site, then overall, from a JSON-lines history (ctk sim --history, or a ctk run's history.jsonl).
# Client c lives at the site of node c % nodes; each client has one operation in flight, so its
# events pair up in order.
#   awk -v sites="site-of-node-0 site-of-node-1 ..." -v warmup=MICROSECONDS -f site-medians.awk
# prints one line: the median of each node's site's clients, then of all.
BEGIN { n = split(sites, site, " ") }
{
  match($0, /"process":[0-9]+/); p = substr($0, RSTART + 10, RLENGTH - 10) + 0
  match($0, /"time":[0-9]+/); t = substr($0, RSTART + 7, RLENGTH - 7) + 0
  if ($0 ~ /"type":"invoke"/) { start[p] = t; next }
  if ($0 !~ /"type":"ok"/ || start[p] < warmup) next
  s = p % n + 1
  lat[s, ++cnt[s]] = (t - start[p]) / 1000
  all[++total] = (t - start[p]) / 1000
}
function median(arr, k, key,   i, j, v, tmpv) {
  for (i = 1; i <= k; i++) v[i] = key == "" ? arr[i] : arr[key, i]
  for (i = 2; i <= k; i++) { tmpv = v[i]; for (j = i - 1; j >= 1 && v[j] > tmpv; j--) v[j + 1] = v[j]; v[j + 1] = tmpv }
  return k ? v[int((k + 1) / 2)] : 0
}
END {
  for (s = 1; s <= n; s++) printf " %.3f", median(lat, cnt[s], s)
  printf " %.3f\n", median(all, total, "")
}
