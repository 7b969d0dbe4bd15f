/* vr.h: Viewstamped Replication (Liskov and Cowling, "Viewstamped Replication Revisited", 2012)
 * behind the ctk protocol contract: normal operation, view changes, state transfer, the
 * RECOVERY protocol for replicas that restart without durable state, and checkpoints that bound
 * the log (section 5.3). */
#ifndef CTK_VR_H
#define CTK_VR_H

#include <stdint.h>

#include "../protocol.h"

typedef struct ctk_vr_options {
  int64_t view_change_timeout_ms[2]; /* randomized in [lo, hi] at every reset */
  int64_t heartbeat_ms;              /* COMMIT interval; also the resend interval */
  int64_t max_batch;                 /* operations per PREPARE (1 = no batching) */
  int64_t max_inflight;              /* PREPARE batches beyond the commit-number */
  int durable; /* 1: log and view on disk; 0: nothing but a boot marker, RECOVERY on restart */
  int64_t snapshot_every;       /* committed ops between checkpoints, 0 = never */
  int64_t snapshot_keep;        /* ops kept in the log behind a checkpoint, for lagging backups */
  int64_t snapshot_chunk_bytes; /* bytes of a checkpoint per message */
} ctk_vr_options;

extern const ctk_protocol_def ctk_vr_protocol;

#endif /* CTK_VR_H */
