/* options.c: Raft's options as the experiment file's [raft] table spells them. */
#include <stddef.h>

#include "raft.h"
#include "raft_internal.h"

const ctk_option_spec raft_option_specs[] = {
    {"election_timeout_ms", CTK_OPTION_RANGE, offsetof(ctk_raft_options, election_timeout_ms), 150,
     300, 1, 600000, "election timeout, drawn at random from [lo, hi] at every reset", NULL},
    {"heartbeat_ms", CTK_OPTION_INT, offsetof(ctk_raft_options, heartbeat_ms), 50, 0, 1, 60000,
     "interval between a leader's heartbeats", NULL},
    {"prevote", CTK_OPTION_BOOL, offsetof(ctk_raft_options, prevote), 1, 0, 0, 1,
     "run a pre-vote round before raising the term (thesis 9.6)", NULL},
    {"check_quorum", CTK_OPTION_BOOL, offsetof(ctk_raft_options, check_quorum), 1, 0, 0, 1,
     "a leader steps down when no majority was heard from for an election timeout", NULL},
    {"max_batch", CTK_OPTION_INT, offsetof(ctk_raft_options, max_batch), 64, 0, 1, 4096,
     "entries per AppendEntries (1 turns batching off)", NULL},
    {"max_inflight", CTK_OPTION_INT, offsetof(ctk_raft_options, max_inflight), 8, 0, 1, 1024,
     "AppendEntries in flight per follower (1 turns pipelining off)", NULL},
    {"max_inflight_bytes", CTK_OPTION_INT, offsetof(ctk_raft_options, max_inflight_bytes), 0, 0, 0,
     1 << 30,
     "flow control: command bytes in flight per follower, on top of max_inflight (0: no cap)",
     NULL},
    {"snapshot_every", CTK_OPTION_INT, offsetof(ctk_raft_options, snapshot_every), 100000, 0, 0,
     1 << 30,
     "ask the host for a snapshot every this many committed entries and compact the log (0: "
     "never)",
     NULL},
    {"snapshot_keep", CTK_OPTION_INT, offsetof(ctk_raft_options, snapshot_keep), 1000, 0, 0,
     1 << 30,
     "entries kept before a snapshot, so a slightly lagging follower gets entries, not a snapshot",
     NULL},
    {"snapshot_chunk_bytes", CTK_OPTION_INT, offsetof(ctk_raft_options, snapshot_chunk_bytes),
     262144, 0, 64, 1 << 19, "snapshot bytes per InstallSnapshot message", NULL},
    {"eager_commit", CTK_OPTION_BOOL, offsetof(ctk_raft_options, eager_commit), 0, 0, 0, 1,
     "tell every follower of each new commit index at once (an AppendEntries and its reply per "
     "follower per commit), not only those that need it",
     NULL},
    {"adaptive_timeout", CTK_OPTION_BOOL, offsetof(ctk_raft_options, adaptive_timeout), 0, 0, 0, 1,
     "the election timeout's lower end follows the longest recent gap between the leader's "
     "messages (+25% and a heartbeat; half-life 10 s), within election_timeout_ms",
     NULL},
    {"preferred_leader", CTK_OPTION_INT, offsetof(ctk_raft_options, preferred_leader), -1, 0, -1,
     CTK_MAX_NODES - 1,
     "-1: none; else the node that should lead: it times out in the lower half of "
     "election_timeout_ms, the others one whole range later",
     NULL},
    {"joint_consensus", CTK_OPTION_BOOL, offsetof(ctk_raft_options, joint_consensus), 0, 0, 0, 1,
     "membership changes of voters go through a joint configuration C_old,new that needs "
     "majorities of both (paper section 6); false: one server at a time (thesis 4.1)",
     NULL},
    {"learner_catchup", CTK_OPTION_INT, offsetof(ctk_raft_options, learner_catchup), 16, 0, 0,
     1000000,
     "an added node is a learner until its log is within this many entries of the leader's, "
     "then it is promoted to voter",
     NULL},
    {"bug_commit_by_counting", CTK_OPTION_BOOL, offsetof(ctk_raft_options, bug_commit_by_counting),
     0, 0, 0, 1, "BUG, for labs: commit an earlier term's entry by counting replicas (Figure 8)",
     NULL},
    {"bug_forget_vote", CTK_OPTION_BOOL, offsetof(ctk_raft_options, bug_forget_vote), 0, 0, 0, 1,
     "BUG, for labs: votedFor is not persisted, so a restarted node votes twice in a term", NULL},
    {"bug_keep_conflicting_suffix", CTK_OPTION_BOOL,
     offsetof(ctk_raft_options, bug_keep_conflicting_suffix), 0, 0, 0, 1,
     "BUG, for labs: a follower keeps a conflicting entry instead of truncating its log there",
     NULL},
    {"bug_commit_index_backwards", CTK_OPTION_BOOL,
     offsetof(ctk_raft_options, bug_commit_index_backwards), 0, 0, 0, 1,
     "BUG, for labs: a follower takes the leader's commit index even when it is lower", NULL},
    {"read_mode", CTK_OPTION_CHOICE, offsetof(ctk_raft_options, read_mode), 0, 0, 0, 0,
     "how gets are served: log (through the log), readindex (thesis 6.4: confirm leadership "
     "with a round of probes, then read at the commit index), lease (thesis 6.4.1: no round "
     "while a lease lasts; needs prevote and check_quorum), follower (any node reads its own "
     "state: stale reads)",
     "log|readindex|lease|follower"},
    {"lease_drift_percent", CTK_OPTION_INT, offsetof(ctk_raft_options, lease_drift_percent), 10, 0,
     0, 1000,
     "the clock drift bound leases assume: a lease lasts election_timeout_ms's lower end / "
     "(1 + lease_drift_percent / 100), from when its round of probes was sent",
     NULL},
    {"bug_deposed_leader_reads", CTK_OPTION_BOOL,
     offsetof(ctk_raft_options, bug_deposed_leader_reads), 0, 0, 0, 1,
     "BUG, for labs: a leader answers reads from its own state at once, without confirming it "
     "still leads, so a deposed leader serves stale values",
     NULL},
};

const size_t raft_n_option_specs = sizeof raft_option_specs / sizeof raft_option_specs[0];
