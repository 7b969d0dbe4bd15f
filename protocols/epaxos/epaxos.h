/* epaxos.h: Egalitarian Paxos (Moraru, Andersen, Kaminsky, "There Is More Consensus in Egalitarian
 * Parliaments", SOSP 2013) behind the ctk protocol contract: every node leads the commands its
 * clients submit, interfering commands are ordered by dependencies, and commands commit in one
 * round trip to a fast quorum when no concurrent command interferes. */
#ifndef CTK_EPAXOS_H
#define CTK_EPAXOS_H

#include <stdint.h>

#include "../protocol.h"

typedef struct ctk_epaxos_options {
  int fast_path;                  /* 0: every command takes the slow path (Accept) */
  int64_t retry_timeout_ms;       /* a phase without its quorum by then sends again */
  int64_t recovery_timeout_ms[2]; /* an instance not committed that long is recovered */
  int64_t catchup_ms;             /* period of the catch-up exchange and the recovery scan */
  int64_t max_inflight;           /* own instances being agreed on at once */
  int64_t batch_size;             /* client commands in one instance at most (1: no batching) */
  int64_t batch_bytes;            /* bytes of one instance's batch at most */
  int thrifty;                    /* PreAccept goes to a fast quorum only, the others on retry */
  int64_t exec_stall_ms;          /* new commands wait while a committed one waits this long */
  int64_t snapshot_every;         /* executions between snapshots (and pruning): 0 = never */
  int64_t snapshot_lag; /* a node further behind on a leader's instances stops holding their
                           pruning back (it takes a snapshot instead); 0 = wait for every node */
  /* Deliberately broken mode, for labs and for proving the checkers (off by default): commit on
   * the fast path once a fast quorum replied, even when their seq and deps differ from the
   * leader's, with the leader's own attributes. */
  int bug_fast_path_mismatched;
} ctk_epaxos_options;

extern const ctk_protocol_def ctk_epaxos_protocol;

#endif /* CTK_EPAXOS_H */
