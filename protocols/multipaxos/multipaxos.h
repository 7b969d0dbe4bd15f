/* multipaxos.h: Multi-Paxos (Lamport, "Paxos Made Simple", section 3) with a distinguished
 * leader, pipelining, batching, flexible quorums (Howard et al., "Flexible Paxos") and membership
 * changes through the log (membership.c), behind the ctk protocol contract. */
#ifndef CTK_MULTIPAXOS_H
#define CTK_MULTIPAXOS_H

#include <stdint.h>

#include "../protocol.h"

typedef struct ctk_multipaxos_options {
  int64_t election_timeout_ms[2]; /* randomized in [lo, hi] at every reset */
  int64_t heartbeat_ms;
  int64_t max_batch;                 /* slots per Accept message (1 = no batching) */
  int64_t max_inflight;              /* Accept batches in flight (1 = no pipelining) */
  int64_t max_inflight_per_acceptor; /* slots sent to one acceptor, not yet acked (0 = no cap) */
  int64_t q1, q2;                    /* phase 1 and phase 2 quorums, 0 = majority; q1 + q2 > n */
  int64_t snapshot_every;            /* committed slots between snapshots, 0 = never */
  int64_t snapshot_keep;             /* chosen slots kept past a snapshot, for lagging peers */
  int64_t snapshot_chunk_bytes;      /* bytes of a snapshot per message */
  /* Deliberately broken mode, for labs and for proving the checkers (off by default): a new
   * leader ignores the values other acceptors' promises report (breaking P2c). */
  int bug_ignore_accepted;
  /* Reads (lease.c): "log" (gets through the log) or "lease" (leader leases); the lease lasts the
   * minimum election timeout / (1 + lease_drift_percent / 100). */
  int64_t read_mode;
  int64_t lease_drift_percent;
  int64_t learner_catchup; /* membership.c: a learner this many slots behind may still vote */
} ctk_multipaxos_options;

extern const ctk_protocol_def ctk_multipaxos_protocol;

#endif /* CTK_MULTIPAXOS_H */
