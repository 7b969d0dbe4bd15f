/* options.c: Multi-Paxos's options as the experiment file's [multipaxos] table spells them. */
#include <stddef.h>

#include "mp_internal.h"

const ctk_option_spec mp_option_specs[] = {
    {"election_timeout_ms", CTK_OPTION_RANGE, offsetof(ctk_multipaxos_options, election_timeout_ms),
     150, 300, 1, 600000,
     "silence from the leader before phase 1, drawn at random from [lo, hi] at every reset", NULL},
    {"heartbeat_ms", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, heartbeat_ms), 50, 0, 1,
     60000, "interval between a leader's heartbeats (which carry the commit index)", NULL},
    {"max_batch", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, max_batch), 64, 0, 1, 4096,
     "slots per Accept message (1 turns batching off)", NULL},
    {"max_inflight", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, max_inflight), 8, 0, 1, 1024,
     "Accept batches in flight (1 turns pipelining off)", NULL},
    {"max_inflight_per_acceptor", CTK_OPTION_INT,
     offsetof(ctk_multipaxos_options, max_inflight_per_acceptor), 0, 0, 0, 1000000,
     "flow control: slots sent to one acceptor and not yet acknowledged by it (0: no cap)", NULL},
    {"q1", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, q1), 0, 0, 0, CTK_MAX_NODES,
     "phase 1 (prepare) quorum, 0 = majority; q1 + q2 must exceed the cluster size", NULL},
    {"q2", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, q2), 0, 0, 0, CTK_MAX_NODES,
     "phase 2 (accept) quorum, 0 = majority; q1 + q2 must exceed the cluster size", NULL},
    {"snapshot_every", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, snapshot_every), 100000, 0,
     0, 1000000000,
     "committed slots between state machine snapshots, which replace the slots they cover (0 = "
     "never)",
     NULL},
    {"snapshot_keep", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, snapshot_keep), 1000, 0, 0,
     1000000000,
     "chosen slots kept past a snapshot, so that slightly lagging peers need no snapshot", NULL},
    {"snapshot_chunk_bytes", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, snapshot_chunk_bytes),
     262144, 0, 64, 1000000, "bytes of a snapshot sent per message to a peer that needs it", NULL},
    {"bug_ignore_accepted", CTK_OPTION_BOOL, offsetof(ctk_multipaxos_options, bug_ignore_accepted),
     0, 0, 0, 1, "BUG, for labs: a new leader ignores values accepted by others (breaks P2c)",
     NULL},
    {"read_mode", CTK_OPTION_CHOICE, offsetof(ctk_multipaxos_options, read_mode), 0, 0, 0, 0,
     "how gets are served: log (chosen in a slot like writes) or lease (the leader answers at "
     "once while a lease n - q1 + 1 nodes granted lasts)",
     "log|lease"},
    {"lease_drift_percent", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, lease_drift_percent),
     10, 0, 0, 1000,
     "the clock drift bound leases assume: a lease lasts election_timeout_ms's lower end / "
     "(1 + lease_drift_percent / 100), from when its probe was sent",
     NULL},
    {"learner_catchup", CTK_OPTION_INT, offsetof(ctk_multipaxos_options, learner_catchup), 64, 0, 0,
     1000000,
     "an added node is a learner until its chosen prefix is within this many slots of the "
     "leader's, then it is promoted to voter",
     NULL},
};

const size_t mp_n_option_specs = sizeof mp_option_specs / sizeof mp_option_specs[0];
