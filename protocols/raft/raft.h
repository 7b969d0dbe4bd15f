/* raft.h: Raft (Ongaro and Ousterhout, "In Search of an Understandable Consensus Algorithm",
 * and Ongaro's thesis) with pre-vote and check-quorum, behind the ctk protocol contract. */
#ifndef CTK_RAFT_H
#define CTK_RAFT_H

#include <stdint.h>

#include "../protocol.h"

typedef struct ctk_raft_options {
  int64_t election_timeout_ms[2]; /* randomized in [lo, hi] at every reset */
  int64_t heartbeat_ms;
  int prevote;          /* thesis 9.6: a pre-vote round before raising the term */
  int check_quorum;     /* thesis 6.2: a leader that hears from no majority steps down */
  int64_t max_batch;    /* entries per AppendEntries (1 = no batching) */
  int64_t max_inflight; /* AppendEntries in flight per follower (1 = no pipelining) */
  /* Deliberately broken mode for labs and for proving the checkers: commit an entry of an
   * earlier term as soon as it is on a majority (the rule Figure 8 of the paper forbids). */
  int bug_commit_by_counting;
} ctk_raft_options;

extern const ctk_protocol_def ctk_raft_protocol;

#endif /* CTK_RAFT_H */
