/* vr_internal.h: what the files of the Viewstamped Replication implementation share.
 *
 * Terms are the paper's (VR Revisited, Figure 2): view-number (status.term), op-number (the log's
 * length), commit-number, status (normal, view-change, recovering), and the log of client
 * operations at positions 1, 2, 3, ... Views start at 1 and the primary of view v is replica
 * (v - 1) mod n, so the first view's primary is replica 0 and every later one round-robin.
 *
 * The client table of the paper (section 4.1) is not kept here: commands are opaque bytes to a
 * ctk protocol, and the client id and request number live inside them. The state machine layer
 * (harness/kv.h) keeps that table: it applies a request number once per client and answers a
 * retried request with the remembered result. */
#ifndef CTK_VR_INTERNAL_H
#define CTK_VR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/commitlist.h"
#include "../common/outbox.h"
#include "../common/rng.h"
#include "../common/snapheld.h"
#include "../common/wire.h"
#include "vr.h"

#define VR_N_OPTIONS 8
extern const ctk_option_spec vr_option_specs[VR_N_OPTIONS];

#define VR_MAX_VIEW        (1ull << 48) /* views and op-numbers above are rejected on the wire */
#define VR_MAX_OP          (1ull << 40)
#define VR_MAX_PER_MSG     4096                          /* entries in one PREPARE */
#define VR_MAX_ITEMS_BYTES (CTK_MAX_MESSAGE_BYTES - 128) /* the log entries of one message */
#define VR_MAX_FORWARD     64
#define VR_MAX_UNCOMMITTED 16384 /* the primary's ops beyond its commit-number */
#define VR_COMPACT_MIN     (1u << 20)
#define VR_MAX_EARLY       8 /* PREPAREs a backup holds that arrived before earlier ones */
#define VR_NO_NODE         (-1)
#define VR_MAX_SNAPSHOT    (1ull << 31) /* bytes of one state machine checkpoint */

/* ---- log.c: a run of log entries (client operations) ---- */
typedef struct vr_entry {
  uint32_t len;
  uint8_t *data; /* owned, len >= 1 */
} vr_entry;

typedef struct vr_log {
  vr_entry *e; /* e[i] is position first + i */
  uint64_t first, len, cap;
  uint64_t bytes; /* sum of the entries' lengths */
} vr_log;

/* The last position held (first - 1 when empty). */
static inline uint64_t vr_log_end(const vr_log *l) { return l->first + l->len - 1; }
static inline const vr_entry *vr_log_at(const vr_log *l, uint64_t pos) {
  return pos >= l->first && pos <= vr_log_end(l) ? &l->e[pos - l->first] : NULL;
}
void vr_log_init(vr_log *l, uint64_t first);
void vr_log_free(vr_log *l);
/* Drops every position after `end` (none before first). */
void vr_log_truncate(vr_log *l, uint64_t end);
/* Drops every position up to `upto` (a checkpoint holds them): the log then starts at upto + 1,
 * empty when it ended before. Nothing happens when upto < first. */
void vr_log_discard_through(vr_log *l, uint64_t upto);
/* Appends a copy at position end + 1. 0, or -1 when out of memory. */
int vr_log_append(vr_log *l, const uint8_t *data, size_t len);
/* Appends the entries of a message (see codec.c) that lie past the end; m->first <= end + 1.
 * 0, or -1 when out of memory. */
struct vr_msg;
int vr_log_take(vr_log *l, const struct vr_msg *m);
/* How many entries from `from` (at most max, none past the end) fit in one message; 0 when
 * from lies before the first position held. */
uint32_t vr_log_chunk(const vr_log *l, uint64_t from, uint64_t max);

/* ---- codec.c ---- */
#define VR_WIRE_VERSION 1
typedef enum vr_msg_type {
  VR_MSG_PREPARE = 1,
  VR_MSG_PREPARE_OK = 2,
  VR_MSG_COMMIT = 3,
  VR_MSG_START_VIEW_CHANGE = 4,
  VR_MSG_DO_VIEW_CHANGE = 5,
  VR_MSG_START_VIEW = 6,
  VR_MSG_GET_STATE = 7,
  VR_MSG_NEW_STATE = 8,
  VR_MSG_RECOVERY = 9,
  VR_MSG_RECOVERY_RESPONSE = 10,
  VR_MSG_FORWARD = 11,
  VR_MSG_SNAP_CHUNK = 12, /* snapshot.c */
  VR_MSG_SNAP_PULL = 13,
} vr_msg_type;

/* One decoded message. Messages that carry log entries (PREPARE, DOVIEWCHANGE, STARTVIEW,
 * NEWSTATE, RECOVERYRESPONSE, FORWARD) carry n of them, positions first .. first + n - 1. */
typedef struct vr_msg {
  uint8_t type;
  uint64_t view;        /* all but RECOVERY and FORWARD */
  uint64_t op;          /* PREPAREOK, DOVIEWCHANGE, STARTVIEW, NEWSTATE, RECOVERYRESPONSE; GETSTATE:
                           the requester's op-number */
  uint64_t commit;      /* PREPARE, COMMIT, DOVIEWCHANGE, STARTVIEW, NEWSTATE, RECOVERYRESPONSE */
  uint64_t last_normal; /* DOVIEWCHANGE */
  uint64_t nonce;       /* RECOVERY, RECOVERYRESPONSE */
  int primary;          /* RECOVERYRESPONSE: from the primary, with its log */
  uint64_t snap;        /* SNAPCHUNK, SNAPPULL: the checkpoint's op-number */
  uint64_t total;       /* SNAPCHUNK: the checkpoint's size in bytes */
  uint64_t offset;      /* SNAPCHUNK: where its bytes (items) go; SNAPPULL: the bytes held */
  uint64_t first;
  uint32_t n;
  const uint8_t *items; /* n blobs */
  size_t items_len;
} vr_msg;

int vr_msg_decode(const uint8_t *bytes, size_t len, vr_msg *m);
/* Walks the entries of a decoded message (already validated). */
typedef struct vr_item_iter {
  wire_reader r;
} vr_item_iter;
void vr_item_iter_init(vr_item_iter *it, const vr_msg *m);
const uint8_t *vr_item_next(vr_item_iter *it, size_t *len);

void vr_encode_prepare(wire_writer *w, uint64_t view, uint64_t commit, const vr_log *log,
                       uint64_t first, uint32_t n);
void vr_encode_prepare_ok(wire_writer *w, uint64_t view, uint64_t op);
void vr_encode_commit(wire_writer *w, uint64_t view, uint64_t commit);
void vr_encode_start_view_change(wire_writer *w, uint64_t view);
void vr_encode_do_view_change(wire_writer *w, uint64_t view, uint64_t last_normal, uint64_t commit,
                              const vr_log *log, uint64_t first, uint32_t n);
void vr_encode_start_view(wire_writer *w, uint64_t view, uint64_t commit, const vr_log *log,
                          uint64_t first, uint32_t n);
void vr_encode_get_state(wire_writer *w, uint64_t view, uint64_t op);
void vr_encode_new_state(wire_writer *w, uint64_t view, uint64_t commit, const vr_log *log,
                         uint64_t first, uint32_t n);
void vr_encode_recovery(wire_writer *w, uint64_t nonce);
/* A backup's answer has no log (log NULL); the primary's carries n entries from its log's first
 * position (past its checkpoint). */
void vr_encode_recovery_response(wire_writer *w, uint64_t view, uint64_t nonce, uint64_t commit,
                                 const vr_log *log, uint32_t n);
void vr_encode_snap_chunk(wire_writer *w, uint64_t index, uint64_t total, uint64_t offset,
                          const uint8_t *bytes, size_t len);
void vr_encode_snap_pull(wire_writer *w, uint64_t index, uint64_t offset);
void vr_encode_forward(wire_writer *w, const uint8_t *data, size_t len);
int vr_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len);

/* ---- the instance ---- */

/* snapshot.c: the checkpoint (section 5.3): the state machine through op-number held.index,
 * which replaces the log's positions up to log.first - 1 (at most held.index); and one being
 * received. */
/* An earlier checkpoint, kept while a replica is still pulling it (volatile). */
typedef struct vr_old_snap {
  uint64_t index, pulled_us;
  uint8_t *data; /* owned; NULL: a free place */
  size_t len;
} vr_old_snap;

typedef struct vr_snapshot {
  ctk_snap_held held;
  uint64_t pulled_us; /* when a replica last pulled a chunk of it (or was offered it) */
  vr_old_snap old[CTK_MAX_NODES - 1]; /* one for each other replica, the most that pull at once */
  ctk_snap_rx rx;                     /* a transfer in progress */
  int rx_from;                        /* whom it pulls from */
  uint64_t repull_us; /* when its last pull is sent again if nothing came (0: none pending) */
} vr_snapshot;

typedef enum vr_status { VR_NORMAL = 0, VR_VIEW_CHANGE, VR_RECOVERING } vr_status;

typedef struct vr_peer {
  uint64_t acked;      /* highest op-number it reported holding in this view */
  int heard;           /* it answered in this view */
  uint64_t resend_end; /* last op of the PREPARE resent to it, 0: none */
} vr_peer;

/* A PREPARE that arrived before an earlier one: its entries, kept until the gap is filled. */
typedef struct vr_early {
  uint64_t view, first, commit;
  uint32_t n;
  uint8_t *items; /* owned copy of the message's entries */
  size_t items_len;
} vr_early;

struct ctk_proto {
  int id, n;
  int q;  /* a majority: f + 1 of 2f + 1 (commit, view change) */
  int rq; /* RECOVERYRESPONSEs needed: n - q + 1, so they meet every view change quorum */
  ctk_vr_options opt;
  uint64_t vc_lo_us, vc_hi_us, heartbeat_us;
  ctk_rng rng;
  int started;

  /* Replica state (Figure 2). Durable in durable mode: view, last_normal_view, status, log. */
  uint64_t view, last_normal_view;
  vr_status status;
  vr_log log; /* op-number = vr_log_end(&log); positions before log.first are in snap */
  vr_snapshot snap;
  uint64_t commit;
  uint64_t emitted; /* commits handed to the host */

  uint64_t vc_deadline_us;     /* backup: primary silent; view change: give this view up */
  uint64_t resend_deadline_us; /* primary: heartbeat; otherwise: resend SVC/DVC/RECOVERY */
  uint64_t get_state_next_us;  /* no GETSTATE before then, unless progress was made */
  uint64_t gap_since_us;       /* backup: since when it has seen operations it lacks, 0: none */
  vr_early early[VR_MAX_EARLY];
  int n_early;

  /* Catching up (state_transfer.c): normal in `view` but without that view's log yet. */
  int catching_up;
  uint64_t catchup_target; /* op-number the primary reported; UINT64_MAX: none yet */

  /* Primary. */
  uint64_t sent_upto;      /* highest op broadcast in a PREPARE */
  uint64_t inflight[1024]; /* ring: the last op of each PREPARE batch not yet committed */
  uint32_t inflight_start, inflight_count;
  vr_peer peers[CTK_MAX_NODES];

  /* View change (section 4.2). */
  uint32_t svc_from; /* STARTVIEWCHANGE(view) received, own bit included */
  int dvc_sent;      /* our DOVIEWCHANGE left (resent on the timer) */
  uint32_t dvc_from; /* new primary: DOVIEWCHANGEs counted, own included */
  uint64_t dvc_commit[CTK_MAX_NODES];
  int best; /* sender of the best DOVIEWCHANGE so far */
  uint64_t best_last_normal, best_op, max_commit;
  uint64_t keep; /* new primary: own log prefix known to agree with the best log */
  int fetching;  /* new primary: the rest of the best log is being fetched */
  vr_log stash;  /* the best log (view change), the view's log (catching up), or the
                    primary's (recovery), gathered before it replaces the log */

  /* Recovery (section 4.3). */
  uint64_t nonce;
  uint32_t rr_from;
  uint64_t rr_view[CTK_MAX_NODES];
  int rr_primary; /* sender of the primary's response kept in stash, or -1 */
  uint64_t rr_primary_view, rr_op, rr_commit;

  /* Output. */
  uint64_t now_us;
  wire_writer persist;
  int persist_replace;
  uint64_t durable_bytes;
  ctk_outbox out;          /* this step's messages */
  ctk_commit_list commits; /* this step's */
  int out_of_memory;
};
typedef struct ctk_proto vr;

static inline int vr_primary_of(const vr *p, uint64_t view) {
  return (int)((view - 1) % (uint64_t)p->n);
}
static inline uint64_t vr_op(const vr *p) { return vr_log_end(&p->log); }
static inline int vr_is_primary(const vr *p) {
  return p->status == VR_NORMAL && vr_primary_of(p, p->view) == p->id;
}

/* vr.c: output */
wire_writer *vr_send_begin(vr *p, int to);
void vr_send_end(vr *p);
void vr_reset_vc_timer(vr *p);
/* Raises the commit-number to min(commit, op-number). */
void vr_advance_commit(vr *p, uint64_t commit);
/* Keeps the log to `keep` and appends the message's entries past it (first <= keep + 1). */
void vr_log_splice(vr *p, uint64_t keep, const vr_msg *m);

/* durable.c: nothing is written in non-durable mode but the boot marker */
void vr_persist_state(vr *p);
void vr_persist_entries(vr *p, uint64_t first); /* log from first on replaces what followed */
void vr_persist_boot(vr *p);
void vr_persist_replace_all(vr *p);
void vr_persist_maybe_compact(vr *p);
/* Rebuilds the state; *booted_before says a non-durable replica restarted. */
int vr_recover(vr *p, const uint8_t *bytes, size_t len, int *torn_tail, int *booted_before);

/* normal.c: normal operation (section 4.1) */
void vr_early_clear(vr *p);
void vr_recv_prepare(vr *p, int from, const vr_msg *m);
void vr_recv_prepare_ok(vr *p, int from, const vr_msg *m);
void vr_recv_commit(vr *p, int from, const vr_msg *m);
void vr_heartbeat(vr *p);
void vr_flush(vr *p);
void vr_primary_commit(vr *p);
void vr_become_primary(vr *p); /* resets the primary's view of its backups */
int vr_check_command(const vr *p, size_t len);
void vr_client_command(vr *p, const uint8_t *data, size_t len);
void vr_recv_forward(vr *p, const vr_msg *m);

/* view_change.c: view changes (section 4.2) */
void vr_start_view_change(vr *p, uint64_t view);
void vr_resume_view_change(vr *p); /* after a restart in view-change status */
void vr_view_change_timeout(vr *p);
void vr_recv_start_view_change(vr *p, int from, const vr_msg *m);
void vr_recv_do_view_change(vr *p, int from, const vr_msg *m);
void vr_recv_start_view(vr *p, int from, const vr_msg *m);
void vr_send_start_view(vr *p, int to);
void vr_view_change_new_state(vr *p, int from, const vr_msg *m);
/* A checkpoint was installed in view-change status: a new primary fetching the best log carries
 * on past it. */
void vr_view_change_snapshot_installed(vr *p);

/* state_transfer.c: state transfer (section 5.2) */
/* Asks `to` for the log of `view` past what is held (the log, or the stash when catching up or
 * recovering); at most once per heartbeat unless force. */
void vr_request_state(vr *p, int to, uint64_t view, int force);
/* Joins `view` (normal status) before holding its log: see state_transfer.c. */
void vr_catch_up_begin(vr *p, uint64_t view);
/* A chunk of the view's log from its primary (STARTVIEW, NEWSTATE) for a replica catching up. */
void vr_catch_up_chunk(vr *p, int from, const vr_msg *m);
void vr_recv_get_state(vr *p, int from, const vr_msg *m);
void vr_recv_new_state(vr *p, int from, const vr_msg *m);
/* A checkpoint was installed in normal status: fetch the view's log past it. */
void vr_catch_up_snapshot_installed(vr *p);

/* snapshot.c: checkpoints and log truncation (section 5.3) */
void vr_snap_free(vr *p);
int vr_snap_taken(vr *p, const ctk_event *ev); /* step(SNAPSHOT) */
void vr_snap_output(vr *p, ctk_output *out);   /* snapshot_wanted, restore */
void vr_snap_persist(vr *p);                   /* the SNAPSHOT record's payload */
int vr_snap_apply_record(vr *p, wire_reader *r);
void vr_snap_recovered(vr *p); /* after replay: commit-number and restore from the checkpoint */
/* Sends `to` the first chunk of the checkpoint (it lacks positions before log.first). */
void vr_snap_send(vr *p, int to);
/* The transfer in progress: its last pull again, when nothing came for half a heartbeat. */
void vr_snap_tick(vr *p);
void vr_recv_snap_chunk(vr *p, int from, const vr_msg *m);
void vr_recv_snap_pull(vr *p, int from, const vr_msg *m);

/* recovery.c: recovery without durable state (section 4.3) */
void vr_start_recovery(vr *p);
void vr_recovery_timeout(vr *p);
void vr_recv_recovery(vr *p, int from, const vr_msg *m);
void vr_recv_recovery_response(vr *p, int from, const vr_msg *m);
void vr_recovery_new_state(vr *p, int from, const vr_msg *m);
/* A checkpoint was installed while recovering: carry on with the primary's log past it. */
void vr_recovery_snapshot_installed(vr *p);

#endif /* CTK_VR_INTERNAL_H */
