/* zab.h: ZAB, the ZooKeeper Atomic Broadcast protocol as ZooKeeper runs it (Junqueira, Reed and
 * Serafini, "Zab: High-performance broadcast for primary-backup systems"; Medeiros, "ZooKeeper's
 * atomic broadcast protocol: Theory and practice"): fast leader election, discovery,
 * synchronization (DIFF, TRUNC, SNAP) and broadcast of zxid-numbered proposals, behind the ctk
 * protocol contract. */
#ifndef CTK_ZAB_H
#define CTK_ZAB_H

#include <stdint.h>

#include "../protocol.h"

typedef struct ctk_zab_options {
  int64_t election_timeout_ms[2]; /* silence from the leader before a follower looks again */
  int64_t heartbeat_ms;           /* leader PING interval; a looking node's re-notification */
  int64_t finalize_wait_ms;       /* fast leader election: wait for a better vote this long */
  int64_t snap_threshold;         /* a follower more proposals behind than this gets SNAP */
  int64_t reorder_window_ms;      /* how long a gap in a session may stay open: 0 = none */
  int64_t snapshot_every;         /* committed proposals between snapshots: 0 = never */
  int64_t snapshot_keep;          /* proposals kept in the history behind a snapshot */
  int64_t read_mode;       /* read.c: 0 "log" (gets proposed), 1 "local" (ZooKeeper's), 2 "sync" */
  int64_t max_inflight;    /* leader.c: proposals sent to one follower and not acked: 0 = no cap */
  int64_t learner_catchup; /* reconfig.c: a learner this many proposals behind may still vote */
} ctk_zab_options;

extern const ctk_protocol_def ctk_zab_protocol;

#endif /* CTK_ZAB_H */
