/* raft.h: Raft (Ongaro and Ousterhout, "In Search of an Understandable Consensus Algorithm",
 * and Ongaro's thesis) with pre-vote and check-quorum, behind the ctk protocol contract. */
#ifndef CTK_RAFT_H
#define CTK_RAFT_H

#include <stdint.h>

#include "../protocol.h"

typedef struct ctk_raft_options {
  int64_t election_timeout_ms[2]; /* randomized in [lo, hi] at every reset */
  int64_t heartbeat_ms;
  int prevote;                  /* thesis 9.6: a pre-vote round before raising the term */
  int check_quorum;             /* thesis 6.2: a leader that hears from no majority steps down */
  int64_t max_batch;            /* entries per AppendEntries (1 = no batching) */
  int64_t max_inflight;         /* AppendEntries in flight per follower (1 = no pipelining) */
  int64_t max_inflight_bytes;   /* encoded entry bytes in flight per follower (0 = no cap) */
  int64_t snapshot_every;       /* ask for a snapshot every this many commits (0 = never) */
  int64_t snapshot_keep;        /* entries a leader keeps before its snapshot, for laggards */
  int64_t snapshot_chunk_bytes; /* snapshot bytes per InstallSnapshot message */
  int adaptive_timeout;         /* the election timeout follows the longest recent gap between the
                                   leader's messages, so a network that stalls does not cause elections */
  int64_t preferred_leader;     /* -1: none; else that node campaigns first, the others later */
  /* Membership changes (membership.c): 1 changes voters through a joint configuration
   * C_old,new (paper section 6), 0 one server at a time (thesis 4.1). */
  int joint_consensus;
  int64_t learner_catchup; /* a learner is promoted once within this many entries of the leader */
  int eager_commit; /* tell every follower of each new commit index at once (replication.c) */
  /* Deliberately broken modes, for labs and for proving the checkers; all off by default and
   * only reachable through option keys that start with "bug_":
   * commit an entry of an earlier term as soon as it is on a majority (the rule Figure 8 of the
   * paper forbids); persist votedFor as "none" (a restarted node votes again in the same term);
   * keep a conflicting entry instead of deleting it and all that follow (Figure 2, AppendEntries
   * step 3); take the leader's commit index even when it is lower than ours. */
  int bug_commit_by_counting;
  int bug_forget_vote;
  int bug_keep_conflicting_suffix;
  int bug_commit_index_backwards;
  /* Reads without a log write (read.c): "log" (every get through the log), "readindex",
   * "lease", "follower" (stale reads); the lease lasts the minimum election timeout divided by
   * 1 + lease_drift_percent / 100. The bug: a leader answers reads at once, with no check. */
  int64_t read_mode;
  int64_t lease_drift_percent;
  int bug_deposed_leader_reads;
} ctk_raft_options;

extern const ctk_protocol_def ctk_raft_protocol;

#endif /* CTK_RAFT_H */
