/* bench_metrics.h: what `ctk bench` reports for an experiment matrix: every repetition's numbers
 * read back from its run directory (result.json, and the .meta `ctk bench` wrote next to it),
 * their median, min and max per point, written as bench.json and bench.csv and printed as one
 * table. Reading everything back from the files is what makes a resumed run report the points
 * measured before it exactly like the ones it ran. */
#ifndef CTK_BENCH_METRICS_H
#define CTK_BENCH_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "experiment.h"

/* The numbers of one repetition; NAN where a run has none (no fast path, no fault). */
enum {
  BM_THROUGHPUT = 0, /* ops/s */
  BM_P50_MS,
  BM_P99_MS,
  BM_MSGS_PER_OP,
  BM_FAST_PATH, /* fraction of commands committed on the fast path */
  BM_LEADER_CHANGES,
  BM_MAX_TERM,
  BM_UNAVAILABLE_MS, /* the longest unavailability window after a fault */
  BM_OPS_INFO,       /* operations with an unknown outcome */
  BM_COUNT
};

/* The whole file at path, NUL-terminated and malloc'ed, or NULL. */
char *ctk_bench_read_file(const char *path);

/* Metric names as in bench.json and bench.csv. */
extern const char *const ctk_bench_metric_names[BM_COUNT];

typedef struct ctk_bench_point {
  char name[256];  /* directory name */
  char label[512]; /* "protocol=raft clients=8" */
  int reps_measured, reps_passed;
  double median[BM_COUNT], min[BM_COUNT], max[BM_COUNT];
} ctk_bench_point;

typedef struct ctk_bench_summary {
  ctk_bench_point *points;
  size_t n_points;
  int reps_failed; /* measured repetitions that failed their checks */
} ctk_bench_summary;

/* Reads every point's repetitions under dir, writes dir/bench.json and dir/bench.csv, and fills
 * *summary (free with ctk_bench_summary_free). Returns 0, or -1 with a message in err. */
int ctk_bench_summarize(const ctk_experiment *exp, const char *dir, int sim,
                        ctk_bench_summary *summary, char *err, size_t err_len);
void ctk_bench_print_table(const ctk_bench_summary *summary, FILE *out);
void ctk_bench_summary_free(ctk_bench_summary *summary);

#endif /* CTK_BENCH_METRICS_H */
