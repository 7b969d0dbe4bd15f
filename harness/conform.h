/* conform.h: the conformance suite (`ctk conform`): protocol-agnostic checks, each a generated
 * simulator experiment run over one or more seeds, that any protocol (built in, or loaded from a
 * shared object) must pass: progress without faults, safety over a sweep of random faults, no
 * commit without a quorum, recovery when every node crashes, progress after a partition heals,
 * a stable leader, and a bounded message cost per operation. */
#ifndef CTK_CONFORM_H
#define CTK_CONFORM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct ctk_conform_options {
  const char *protocol; /* a built-in name, or the path of a shared object */
  int seeds;            /* seeds of the random-fault sweep (check "safety") */
  int nodes;            /* cluster size, 3 to CTK_MAX_NODES */
  const char *out_dir;  /* where the experiment of a failed check is written, to replay it */
} ctk_conform_options;

typedef enum ctk_conform_verdict {
  CTK_CONFORM_PASS = 0,
  CTK_CONFORM_FAIL,
  CTK_CONFORM_SKIP, /* does not apply to this protocol (leader stability without leaders) */
} ctk_conform_verdict;

typedef struct ctk_conform_result {
  const char *name; /* "progress", "safety", ... */
  ctk_conform_verdict verdict;
  uint64_t seed;               /* of the failure */
  char detail[640];            /* what was measured, or what failed */
  char replay[CTK_PATH_LEN];   /* on a failure: the experiment file written for `ctk sim` */
  char timeline[CTK_PATH_LEN]; /* on a failure: the failing seed's HTML timeline ("" if none) */
  double wall_s;
} ctk_conform_result;

/* The number of checks, and the name and one-line description of check i. */
int ctk_conform_count(void);
const char *ctk_conform_name(int i);
const char *ctk_conform_describe(int i);

/* Runs check i. Returns 0 when it ran (verdict in *result), or -1 with a message in err when it
 * could not (the protocol cannot be loaded, the experiment file cannot be written). */
int ctk_conform_run(int i, const ctk_conform_options *options, ctk_conform_result *result,
                    char *err, size_t err_len);

#endif /* CTK_CONFORM_H */
