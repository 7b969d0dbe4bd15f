/* options.c: Raft's options as the experiment file's [raft] table spells them. */
#include <stddef.h>

#include "raft.h"
#include "raft_internal.h"

const ctk_option_spec raft_option_specs[] = {
    {"election_timeout_ms", CTK_OPTION_RANGE, offsetof(ctk_raft_options, election_timeout_ms), 150,
     300, 1, 600000, "election timeout, drawn at random from [lo, hi] at every reset"},
    {"heartbeat_ms", CTK_OPTION_INT, offsetof(ctk_raft_options, heartbeat_ms), 50, 0, 1, 60000,
     "interval between a leader's heartbeats"},
    {"prevote", CTK_OPTION_BOOL, offsetof(ctk_raft_options, prevote), 1, 0, 0, 1,
     "run a pre-vote round before raising the term (thesis 9.6)"},
    {"check_quorum", CTK_OPTION_BOOL, offsetof(ctk_raft_options, check_quorum), 1, 0, 0, 1,
     "a leader steps down when no majority was heard from for an election timeout"},
    {"max_batch", CTK_OPTION_INT, offsetof(ctk_raft_options, max_batch), 64, 0, 1, 4096,
     "entries per AppendEntries (1 turns batching off)"},
    {"max_inflight", CTK_OPTION_INT, offsetof(ctk_raft_options, max_inflight), 8, 0, 1, 1024,
     "AppendEntries in flight per follower (1 turns pipelining off)"},
    {"max_inflight_bytes", CTK_OPTION_INT, offsetof(ctk_raft_options, max_inflight_bytes), 0, 0, 0,
     1 << 30,
     "flow control: command bytes in flight per follower, on top of max_inflight (0: no cap)"},
    {"snapshot_every", CTK_OPTION_INT, offsetof(ctk_raft_options, snapshot_every), 10000, 0, 0,
     1 << 30,
     "ask the host for a snapshot every this many committed entries and compact the log (0: "
     "never)"},
    {"snapshot_keep", CTK_OPTION_INT, offsetof(ctk_raft_options, snapshot_keep), 1000, 0, 0,
     1 << 30,
     "entries kept before a snapshot, so a slightly lagging follower gets entries, not a snapshot"},
    {"snapshot_chunk_bytes", CTK_OPTION_INT, offsetof(ctk_raft_options, snapshot_chunk_bytes),
     262144, 0, 64, 1 << 19, "snapshot bytes per InstallSnapshot message"},
    {"adaptive_timeout", CTK_OPTION_BOOL, offsetof(ctk_raft_options, adaptive_timeout), 0, 0, 0, 1,
     "the election timeout's lower end follows the longest recent gap between the leader's "
     "messages (+25% and a heartbeat; half-life 10 s), within election_timeout_ms"},
    {"preferred_leader", CTK_OPTION_INT, offsetof(ctk_raft_options, preferred_leader), -1, 0, -1,
     CTK_MAX_NODES - 1,
     "-1: none; else the node that should lead: it times out in the lower half of "
     "election_timeout_ms, the others one whole range later"},
    {"bug_commit_by_counting", CTK_OPTION_BOOL, offsetof(ctk_raft_options, bug_commit_by_counting),
     0, 0, 0, 1, "BUG, for labs: commit an earlier term's entry by counting replicas (Figure 8)"},
    {"bug_forget_vote", CTK_OPTION_BOOL, offsetof(ctk_raft_options, bug_forget_vote), 0, 0, 0, 1,
     "BUG, for labs: votedFor is not persisted, so a restarted node votes twice in a term"},
    {"bug_keep_conflicting_suffix", CTK_OPTION_BOOL,
     offsetof(ctk_raft_options, bug_keep_conflicting_suffix), 0, 0, 0, 1,
     "BUG, for labs: a follower keeps a conflicting entry instead of truncating its log there"},
    {"bug_commit_index_backwards", CTK_OPTION_BOOL,
     offsetof(ctk_raft_options, bug_commit_index_backwards), 0, 0, 0, 1,
     "BUG, for labs: a follower takes the leader's commit index even when it is lower"},
};

const size_t raft_n_option_specs = sizeof raft_option_specs / sizeof raft_option_specs[0];
