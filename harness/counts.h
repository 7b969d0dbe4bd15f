/* counts.h: a protocol's named counters (protocol.h's ctk_counter) as the hosts collect them:
 * copied by name, summed over nodes and over a node's restarts (or their maximum, for counters
 * whose name ends in "_max"), and turned into the figures the reports show. */
#ifndef CTK_COUNTS_H
#define CTK_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#define CTK_COUNT_NAME_LEN 32

typedef struct ctk_counts {
  struct {
    char name[CTK_COUNT_NAME_LEN];
    uint64_t value;
  } c[CTK_MAX_COUNTERS];
  size_t n;
} ctk_counts;

/* Adds value to the counter of that name (a new one while there is room). */
void ctk_counts_add(ctk_counts *into, const char *name, uint64_t value);
void ctk_counts_merge(ctk_counts *into, const ctk_counts *from);
/* Adds the counters of a protocol instance (nothing when the protocol keeps none). */
void ctk_counts_add_proto(ctk_counts *into, const ctk_protocol_def *def, const ctk_proto *proto);
/* The value of a counter, 0 when absent; *found (may be NULL) says which. */
uint64_t ctk_counts_get(const ctk_counts *c, const char *name, int *found);
/* fast_path / (fast_path + slow_path), or -1 when the protocol has no fast path or committed
 * nothing. */
double ctk_counts_fast_ratio(const ctk_counts *c);

#endif /* CTK_COUNTS_H */
