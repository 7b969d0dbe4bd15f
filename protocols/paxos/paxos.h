/* paxos.h: classic single-decree Paxos (Lamport, "Paxos Made Simple") run independently for every
 * slot of a replicated log, with no stable leader, behind the ctk protocol contract. */
#ifndef CTK_PAXOS_H
#define CTK_PAXOS_H

#include <stdint.h>

#include "../protocol.h"

typedef struct ctk_paxos_options {
  int64_t backoff_ms[2];        /* a beaten proposer waits a random time in [lo, hi] */
  int64_t retry_timeout_ms;     /* a phase with no majority by then starts over; catch-up period */
  int64_t max_inflight_slots;   /* own proposals in flight at once */
  int64_t snapshot_every;       /* chosen slots applied between snapshots, 0 = never */
  int64_t snapshot_keep;        /* chosen slots kept past a snapshot, for lagging peers */
  int64_t snapshot_chunk_bytes; /* bytes of a snapshot per message */
  /* Deliberately broken mode, for labs and for proving the checkers (off by default): a
   * proposer ignores the values its promises report and proposes its own (breaking P2c). */
  int bug_ignore_accepted;
} ctk_paxos_options;

extern const ctk_protocol_def ctk_paxos_protocol;

#endif /* CTK_PAXOS_H */
