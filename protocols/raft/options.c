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
    {"adaptive_timeout", CTK_OPTION_BOOL, offsetof(ctk_raft_options, adaptive_timeout), 0, 0, 0, 1,
     "the election timeout's lower end follows the longest recent gap between the leader's "
     "messages (+25% and a heartbeat; half-life 10 s), within election_timeout_ms"},
    {"preferred_leader", CTK_OPTION_INT, offsetof(ctk_raft_options, preferred_leader), -1, 0, -1,
     CTK_MAX_NODES - 1,
     "-1: none; else the node that should lead: it times out in the lower half of "
     "election_timeout_ms, the others one whole range later"},
    {"joint_consensus", CTK_OPTION_BOOL, offsetof(ctk_raft_options, joint_consensus), 0, 0, 0, 1,
     "membership changes of voters go through a joint configuration C_old,new that needs "
     "majorities of both (paper section 6); false: one server at a time (thesis 4.1)"},
    {"learner_catchup", CTK_OPTION_INT, offsetof(ctk_raft_options, learner_catchup), 16, 0, 0,
     1000000,
     "an added node is a learner until its log is within this many entries of the leader's, "
     "then it is promoted to voter"},
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
