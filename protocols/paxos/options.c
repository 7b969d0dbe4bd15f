/* options.c: Paxos's options as the experiment file's [paxos] table spells them. */
#include <stddef.h>

#include "paxos.h"
#include "paxos_internal.h"

const ctk_option_spec paxos_option_specs[] = {
    {"backoff_ms", CTK_OPTION_RANGE, offsetof(ctk_paxos_options, backoff_ms), 5, 40, 1, 600000,
     "a proposer beaten by a higher ballot waits a random time in [lo, hi] before retrying", NULL},
    {"retry_timeout_ms", CTK_OPTION_INT, offsetof(ctk_paxos_options, retry_timeout_ms), 100, 0, 1,
     600000, "a phase without a majority by then starts over; also the catch-up period", NULL},
    {"max_inflight_slots", CTK_OPTION_INT, offsetof(ctk_paxos_options, max_inflight_slots), 16, 0,
     1, PAXOS_MAX_INFLIGHT, "own proposals (slots) in flight at once per node", NULL},
    {"snapshot_every", CTK_OPTION_INT, offsetof(ctk_paxos_options, snapshot_every), 100000, 0, 0,
     1000000000,
     "applied slots between state machine snapshots, which replace the slots they cover (0 = "
     "never)",
     NULL},
    {"snapshot_keep", CTK_OPTION_INT, offsetof(ctk_paxos_options, snapshot_keep), 1000, 0, 0,
     1000000000,
     "chosen slots kept past a snapshot, so that slightly lagging peers need no snapshot", NULL},
    {"snapshot_chunk_bytes", CTK_OPTION_INT, offsetof(ctk_paxos_options, snapshot_chunk_bytes),
     262144, 0, 64, 1000000, "bytes of a snapshot sent per message to a peer that needs it", NULL},
    {"bug_ignore_accepted", CTK_OPTION_BOOL, offsetof(ctk_paxos_options, bug_ignore_accepted), 0, 0,
     0, 1, "BUG, for labs: a proposer ignores accepted values in its promises (breaks P2c)", NULL},
};
