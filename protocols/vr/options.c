/* options.c: VR's options as the experiment file's [vr] table spells them. */
#include <stddef.h>

#include "vr_internal.h"

const ctk_option_spec vr_option_specs[VR_N_OPTIONS] = {
    {"view_change_timeout_ms", CTK_OPTION_RANGE, offsetof(ctk_vr_options, view_change_timeout_ms),
     150, 300, 1, 600000,
     "silence from the primary before a backup starts a view change, and the time a view change "
     "may take before the next view is tried; drawn at random from [lo, hi] at every reset",
     NULL},
    {"heartbeat_ms", CTK_OPTION_INT, offsetof(ctk_vr_options, heartbeat_ms), 50, 0, 1, 60000,
     "interval between the primary's COMMIT messages; also how often STARTVIEWCHANGE, "
     "DOVIEWCHANGE and RECOVERY are resent",
     NULL},
    {"max_batch", CTK_OPTION_INT, offsetof(ctk_vr_options, max_batch), 64, 0, 1, 4096,
     "operations per PREPARE message (1 turns batching off)", NULL},
    {"max_inflight", CTK_OPTION_INT, offsetof(ctk_vr_options, max_inflight), 8, 0, 1, 1024,
     "PREPARE batches beyond the commit-number (1 turns pipelining off)", NULL},
    {"durable", CTK_OPTION_BOOL, offsetof(ctk_vr_options, durable), 1, 0, 0, 1,
     "true: the log and view are persisted before messages leave; false: nothing is (but a boot "
     "marker) and a restarted replica rejoins through the RECOVERY protocol, which tolerates at "
     "most f replicas down at once",
     NULL},
    {"snapshot_every", CTK_OPTION_INT, offsetof(ctk_vr_options, snapshot_every), 100000, 0, 0,
     1000000000,
     "ask the host for a checkpoint of the state machine every this many committed operations and "
     "truncate the log behind it (section 5.3); replicas too far behind get the checkpoint by "
     "state transfer (0: never, the log grows without bound)",
     NULL},
    {"snapshot_keep", CTK_OPTION_INT, offsetof(ctk_vr_options, snapshot_keep), 1000, 0, 0,
     1000000000,
     "operations kept in the log behind a checkpoint, so that a slightly lagging backup gets "
     "operations, not the checkpoint",
     NULL},
    {"snapshot_chunk_bytes", CTK_OPTION_INT, offsetof(ctk_vr_options, snapshot_chunk_bytes), 262144,
     0, 64, 1 << 19, "checkpoint bytes per SNAPCHUNK message", NULL},
};
