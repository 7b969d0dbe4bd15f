/* histogram.h: a log-linear latency histogram (HDR-style buckets: 2^k ranges split into 64
 * linear sub-buckets, so every recorded value is kept to within ~1.6%) over 0 .. 2^40 µs. */
#ifndef CTK_HISTOGRAM_H
#define CTK_HISTOGRAM_H

#include <stdint.h>

#define CTK_HIST_SUB_BITS 6
#define CTK_HIST_SUB      (1 << CTK_HIST_SUB_BITS)
#define CTK_HIST_RANGES   36
#define CTK_HIST_BUCKETS  (CTK_HIST_RANGES * CTK_HIST_SUB)

typedef struct ctk_histogram {
  uint64_t counts[CTK_HIST_BUCKETS];
  uint64_t total;
  uint64_t min, max;
  double sum;
} ctk_histogram;

void ctk_histogram_init(ctk_histogram *h);
void ctk_histogram_record(ctk_histogram *h, uint64_t value);
void ctk_histogram_merge(ctk_histogram *into, const ctk_histogram *from);
/* The value at quantile q in [0, 1] (an upper bound of its bucket, exact for min and max);
 * 0 when empty. */
uint64_t ctk_histogram_quantile(const ctk_histogram *h, double q);
double ctk_histogram_mean(const ctk_histogram *h);

#endif /* CTK_HISTOGRAM_H */
