/* options.c: EPaxos's options as the experiment file's [epaxos] table spells them. */
#include <stddef.h>

#include "ep_internal.h"

const ctk_option_spec ep_option_specs[EP_N_OPTIONS] = {
    {"fast_path", CTK_OPTION_BOOL, offsetof(ctk_epaxos_options, fast_path), 1, 0, 0, 1,
     "commit in one round trip when a fast quorum leaves a command's attributes unchanged", NULL},
    {"retry_timeout_ms", CTK_OPTION_INT, offsetof(ctk_epaxos_options, retry_timeout_ms), 100, 0, 1,
     600000, "a phase (PreAccept, Accept, Prepare) without its quorum by then sends again", NULL},
    {"recovery_timeout_ms", CTK_OPTION_RANGE, offsetof(ctk_epaxos_options, recovery_timeout_ms),
     300, 600, 1, 600000,
     "an instance known here but not committed for a random time in [lo, hi] is recovered "
     "(explicit prepare)",
     NULL},
    {"catchup_ms", CTK_OPTION_INT, offsetof(ctk_epaxos_options, catchup_ms), 50, 0, 1, 600000,
     "period of the catch-up exchange with a random peer and of the scan for stuck instances",
     NULL},
    {"max_inflight", CTK_OPTION_INT, offsetof(ctk_epaxos_options, max_inflight), 2, 0, 1, 1024,
     "own instances being agreed on at once per node; commands that arrive meanwhile wait in a "
     "queue and go together in the next instance (up to batch_size)",
     NULL},
    {"batch_size", CTK_OPTION_INT, offsetof(ctk_epaxos_options, batch_size), 64, 0, 1, 1024,
     "client commands one instance carries at most (1 turns batching off: one instance per "
     "command)",
     NULL},
    {"batch_bytes", CTK_OPTION_INT, offsetof(ctk_epaxos_options, batch_bytes), 65536, 0, 8192,
     262144, "bytes of one instance's batch at most (a single command always fits)", NULL},
    {"thrifty", CTK_OPTION_BOOL, offsetof(ctk_epaxos_options, thrifty), 0, 0, 0, 1,
     "send PreAccept only to the nodes a fast quorum needs, the next ones by node id (the others "
     "get it on a retry): fewer messages, but a slow or paused node among them delays every "
     "command, where otherwise the fastest answers make the quorum",
     NULL},
    {"exec_stall_ms", CTK_OPTION_INT, offsetof(ctk_epaxos_options, exec_stall_ms), 500, 0, 1,
     600000,
     "new commands wait while a committed command has waited this long to execute, so that "
     "dependency chains stop growing",
     NULL},
    {"snapshot_every", CTK_OPTION_INT, offsetof(ctk_epaxos_options, snapshot_every), 100000, 0, 0,
     1000000000,
     "executed commands between two snapshots of the state machine; each drops the instances "
     "executed at every node and covered by the snapshot from memory and durable bytes; 0: never",
     NULL},
    {"snapshot_lag", CTK_OPTION_INT, offsetof(ctk_epaxos_options, snapshot_lag), 10000, 0, 0,
     1000000000,
     "a node whose executed prefix of a command leader's instances is more than this many "
     "instances behind a node's snapshot, and not ahead of it on any leader, no longer holds "
     "back their pruning there: it is caught up from that node's snapshot instead; 0: pruning "
     "waits for every node",
     NULL},
    {"bug_fast_path_mismatched", CTK_OPTION_BOOL,
     offsetof(ctk_epaxos_options, bug_fast_path_mismatched), 0, 0, 0, 1,
     "BUG, for labs: commit on the fast path even when the replies' seq and deps differ", NULL},
};
