/* staleness.h: how stale the reads of a history were, and the check of a run whose protocol was
 * asked for reads that may be stale (follower reads, ZooKeeper-style local reads).
 *
 * A get that returned value v (or "absent") is stale by k versions when k writes of its key (puts
 * and cas) began after every write of v had completed and provably took effect before the get was
 * invoked (they completed, or an op that observed their value returned): by then v had been
 * overwritten k times. It is behind by the time from the first of those to the get's invoke.
 * Reads that are not provably stale on real time alone count as fresh: a lower bound, on the
 * evidence checker_stale.c uses (the full search can still find a history not linearizable with
 * no read counted here). */
#ifndef CTK_STALENESS_H
#define CTK_STALENESS_H

#include <stddef.h>
#include <stdint.h>

#include "checker.h"
#include "history.h"
#include "results.h"

#define CTK_STALE_SHOWN 8 /* the stalest reads kept for the report */

typedef struct ctk_stale_read {
  int64_t process;
  uint64_t invoke_us;
  char key[64]; /* cut to fit */
  uint32_t versions;
  uint64_t behind_us;
} ctk_stale_read;

typedef struct ctk_staleness {
  uint64_t reads; /* completed gets */
  uint64_t stale; /* of those, provably stale */
  uint32_t versions_max;
  uint64_t behind_us_max;
  double versions_mean, behind_us_mean;  /* over the stale reads */
  ctk_stale_read shown[CTK_STALE_SHOWN]; /* the stalest, by versions then time behind */
  size_t n_shown;
} ctk_staleness;

/* Measures the staleness of every completed get of h. Returns 0, or -1 when out of memory. */
int ctk_staleness_measure(const ctk_history *h, ctk_staleness *out);

/* Checks a run's history. With stale_reads_allowed 0, as ctk_check_history. With 1, the history
 * without its gets (the writes, which must still be linearizable). *staleness is measured either
 * way (with linearizable reads, a stale read also fails the check). Returns 0, or -1 with a
 * message in err. */
int ctk_check_run_history(const ctk_history *h, int stale_reads_allowed, ctk_check_result *result,
                          ctk_staleness *staleness, char *err, size_t err_len);

/* Copies the summary into a run's results (results.h). */
void ctk_staleness_to_results(const ctk_staleness *s, int stale_reads_allowed, ctk_results *r);

/* Prints the staleness lines of a report ("  stale reads      ..." and the stalest reads), each
 * line starting with indent. Prints nothing when no read was stale and stale reads were not
 * allowed. */
void ctk_staleness_print(const ctk_staleness *s, int stale_reads_allowed, const char *indent,
                         FILE *out);

#endif /* CTK_STALENESS_H */
