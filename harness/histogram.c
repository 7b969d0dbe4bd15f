/* histogram.c: log-linear latency histogram (see histogram.h). */
#include "histogram.h"

#include <string.h>

void ctk_histogram_init(ctk_histogram *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

/* Values below CTK_HIST_SUB map to themselves; above, range k holds [2^(k+5), 2^(k+6)) split
 * into CTK_HIST_SUB linear steps. */
static unsigned bucket_of(uint64_t v) {
  if (v < CTK_HIST_SUB) return (unsigned)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned range = msb - CTK_HIST_SUB_BITS + 1;
  if (range >= CTK_HIST_RANGES) return CTK_HIST_BUCKETS - 1;
  unsigned sub = (unsigned)(v >> (msb - CTK_HIST_SUB_BITS)) & (CTK_HIST_SUB - 1);
  return range * CTK_HIST_SUB + sub;
}

static uint64_t bucket_upper(unsigned b) {
  if (b < CTK_HIST_SUB) return b;
  unsigned range = b / CTK_HIST_SUB, sub = b % CTK_HIST_SUB;
  unsigned shift = range - 1;
  return (((uint64_t)CTK_HIST_SUB + sub + 1) << shift) - 1;
}

void ctk_histogram_record(ctk_histogram *h, uint64_t value) {
  h->counts[bucket_of(value)]++;
  h->total++;
  h->sum += (double)value;
  if (value < h->min) h->min = value;
  if (value > h->max) h->max = value;
}

void ctk_histogram_merge(ctk_histogram *into, const ctk_histogram *from) {
  for (unsigned i = 0; i < CTK_HIST_BUCKETS; i++) into->counts[i] += from->counts[i];
  into->total += from->total;
  into->sum += from->sum;
  if (from->min < into->min) into->min = from->min;
  if (from->max > into->max) into->max = from->max;
}

uint64_t ctk_histogram_quantile(const ctk_histogram *h, double q) {
  if (!h->total) return 0;
  if (q <= 0) return h->min;
  if (q >= 1) return h->max;
  uint64_t rank = (uint64_t)(q * (double)h->total + 0.5);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < CTK_HIST_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t upper = bucket_upper(i);
      if (upper > h->max) upper = h->max;
      if (upper < h->min) upper = h->min;
      return upper;
    }
  }
  return h->max;
}

double ctk_histogram_mean(const ctk_histogram *h) {
  return h->total ? h->sum / (double)h->total : 0;
}
