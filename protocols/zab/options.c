/* options.c: ZAB's options as the experiment file's [zab] table spells them. */
#include <stddef.h>

#include "zab_internal.h"

const ctk_option_spec zab_option_specs[ZAB_N_OPTIONS] = {
    {"election_timeout_ms", CTK_OPTION_RANGE, offsetof(ctk_zab_options, election_timeout_ms), 150,
     300, 1, 600000,
     "silence from the leader before a follower goes back to leader election, drawn at random "
     "from [lo, hi]; a leader that hears from no quorum for hi steps down",
     NULL},
    {"heartbeat_ms", CTK_OPTION_INT, offsetof(ctk_zab_options, heartbeat_ms), 50, 0, 1, 60000,
     "interval between a leader's PINGs (which carry the commit) and a looking node's "
     "re-notifications",
     NULL},
    {"finalize_wait_ms", CTK_OPTION_INT, offsetof(ctk_zab_options, finalize_wait_ms), 20, 0, 0,
     60000,
     "fast leader election: once a quorum agrees, how long to wait for a better vote before "
     "deciding",
     NULL},
    {"snap_threshold", CTK_OPTION_INT, offsetof(ctk_zab_options, snap_threshold), 500, 0, 0,
     1000000000,
     "a follower missing more proposals than this is synchronized by SNAP (the leader's "
     "snapshot, then the history after it) instead of DIFF",
     NULL},
    {"reorder_window_ms", CTK_OPTION_INT, offsetof(ctk_zab_options, reorder_window_ms), 25, 0, 0,
     60000,
     "how long a follower holds the leader's messages that overtook a missing one (as TCP "
     "would) before it deems the connection broken and synchronizes again; 0: at once",
     NULL},
    {"read_mode", CTK_OPTION_CHOICE, offsetof(ctk_zab_options, read_mode), 0, 0, 0, 0,
     "how gets are served: log (proposed like writes), local (ZooKeeper's: the server a client "
     "talks to answers from its own state; may be stale, FIFO per client) or sync (that server "
     "first asks the leader for its last zxid and answers once it committed that far)",
     "log|local|sync"},
    {"snapshot_every", CTK_OPTION_INT, offsetof(ctk_zab_options, snapshot_every), 100000, 0, 0,
     1000000000,
     "committed proposals between two snapshots of the state machine, after which the history "
     "before the snapshot is dropped from memory and durable bytes; 0: never",
     NULL},
    {"snapshot_keep", CTK_OPTION_INT, offsetof(ctk_zab_options, snapshot_keep), 100, 0, 0,
     1000000000,
     "proposals kept in the history behind a snapshot, so that a follower slightly behind is "
     "synchronized by DIFF rather than SNAP",
     NULL},
    {"max_inflight", CTK_OPTION_INT, offsetof(ctk_zab_options, max_inflight), 0, 0, 0, 1000000000,
     "flow control: proposals the leader sends one follower ahead of its ACKs; a follower at the "
     "cap gets no more (nor their COMMITs) until it acks, and one that falls more than "
     "snap_threshold behind is synchronized again by SNAP; 0: no cap",
     NULL},
    {"learner_catchup", CTK_OPTION_INT, offsetof(ctk_zab_options, learner_catchup), 64, 0, 0,
     1000000,
     "an added node is a learner until it acknowledged within this many proposals of the "
     "leader's history, then it is promoted to voter",
     NULL},
};

const size_t zab_n_option_specs = sizeof zab_option_specs / sizeof zab_option_specs[0];
