/* workload.h: what clients ask for: the mix of gets, puts and compare-and-swaps and the keys they
 * touch (uniform, zipf, or a share of commands on one hot key), drawn from a seeded RNG so the
 * simulator stays deterministic. Written values are unique (client and sequence number), which is
 * what lets the checker tell every write apart. */
#ifndef CTK_WORKLOAD_H
#define CTK_WORKLOAD_H

#include <stdint.h>

#include "common/rng.h"
#include "config.h"
#include "history.h"
#include "kv.h"

#define CTK_WORKLOAD_CACHE 4096 /* last known value per key, direct-mapped */

typedef struct ctk_op {
  ctk_op_f f;
  char key[32];
  char value[CTK_KV_MAX_VALUE + 1];    /* put, cas: the value to write */
  char expected[CTK_KV_MAX_VALUE + 1]; /* cas */
  int has_expected;                    /* cas: 0 means "expect absent" */
} ctk_op;

typedef struct ctk_workload_gen {
  ctk_workload w;
  /* zipf: rejection-inversion sampling (Hörmann and Derflinger, 1996), O(1) per draw. */
  double zipf_h_x1, zipf_h_n, zipf_threshold;
  struct {
    uint64_t key; /* key number + 1; 0: empty */
    char value[CTK_KV_MAX_VALUE + 1];
  } * cache;
} ctk_workload_gen;

/* Returns 0, or -1 when out of memory. */
int ctk_workload_gen_init(ctk_workload_gen *g, const ctk_workload *w);
void ctk_workload_gen_free(ctk_workload_gen *g);

/* A key number in [0, keys); for zipf, 0 is the most popular; for conflict, 0 is the hot key. */
uint64_t ctk_workload_next_key(const ctk_workload_gen *g, ctk_rng *rng);

/* Draws the next operation of `client`, whose sequence number for it is `seq`. */
void ctk_workload_next_op(ctk_workload_gen *g, ctk_rng *rng, uint64_t client, uint64_t seq,
                          ctk_op *op);

/* Tells the generator a value a client saw for a key (read, or written and acknowledged), so
 * later compare-and-swaps expect something plausible. value NULL: absent. */
void ctk_workload_observe(ctk_workload_gen *g, const char *key, const char *value);

#endif /* CTK_WORKLOAD_H */
