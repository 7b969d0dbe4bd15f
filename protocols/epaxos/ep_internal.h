/* ep_internal.h: what the files of the EPaxos implementation share with each other.
 *
 *   epaxos.c    the instance: create, step dispatch, output, status, counters
 *   codec.c     the wire format of the messages
 *   batch.c     the commands of one instance (a batch), and the keys and sessions they touch
 *   conflicts.c which known instances a batch interferes with (its seq and deps)
 *   replica.c   every node's replies: PreAccept, Accept, Commit, Prepare, catch-up
 *   leader.c    the command leader: client commands, fast and slow path, commit
 *   recovery.c  explicit prepare of instances whose leader went quiet, and the recovery rules
 *   execute.c   the dependency graph of committed commands, executed by Tarjan's SCCs
 *   durable.c   the persisted instance records and recovery from them
 *   prune.c     snapshots of the state machine, and which executed instances may be dropped
 *   transfer.c  a snapshot sent to a peer that lacks what was dropped, and installing one
 */
#ifndef CTK_EP_INTERNAL_H
#define CTK_EP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/outbox.h"
#include "../common/rng.h"
#include "../common/snapheld.h"
#include "../common/wire.h"
#include "epaxos.h"

#define EP_N_OPTIONS 12
extern const ctk_option_spec ep_option_specs[EP_N_OPTIONS];

/* Bounds. Instance numbers of one command leader further than EP_WINDOW past what this node has
 * committed of it are refused. A ballot is (round, node id) packed as round << 8 | id; ballot 0 is
 * the command leader's own, the "default ballot" of the paper. */
#define EP_WINDOW         (1u << 16)
#define EP_MAX_INST       (1ull << 40)
#define EP_MAX_ROUND      (1ull << 48)
#define EP_MAX_QUEUE      1024
#define EP_MAX_RECOVERIES 64         /* explicit prepares in flight at once */
#define EP_CATCHUP_BATCH  512        /* commits per CATCHUP answer (a restarted node lacks 10^4s) */
#define EP_CHUNK          256        /* instances allocated at once */
#define EP_MAX_CUT_EXTRA  (1u << 16) /* instances executed above the floors, in a snapshot */
#define EP_MAX_SNAPSHOT   (1ull << 32)                     /* bytes of one state machine snapshot */
#define EP_MAX_IMAGE      (EP_MAX_SNAPSHOT + (1ull << 20)) /* a snapshot with its cut (transfer.c) */
#define EP_SNAP_CHUNK     (256u << 10) /* bytes of a snapshot image per SnapChunk */
#define EP_EXEC_EAGER     1024 /* a backlog up to it is executed after every step (execute.c) */
#define EP_EXEC_RATE      4    /* above it, one pass per backlog / EP_EXEC_RATE microseconds */
#define EP_MAX_BATCH      1024 /* commands in one instance */
#define EP_MAX_PAYLOAD    (1u << 18) /* bytes of one instance's batch (batch.c) */
#define EP_BUNDLE_MAX     4096       /* messages in one bundle (codec.c) */

static inline uint64_t ep_ballot(uint64_t round, int id) { return round << 8 | (uint64_t)id; }
static inline uint64_t ep_round(uint64_t ballot) { return ballot >> 8; }
static inline int ep_ballot_node(uint64_t ballot) { return (int)(ballot & 0xff); }

/* Status of an instance at one node; only ever moves forward, except that a recovery's PreAccept
 * may replace preaccepted attributes. */
enum { EP_NONE = 0, EP_PREACCEPTED, EP_ACCEPTED, EP_COMMITTED };

/* ---- codec.c ---- */

#define EP_WIRE_VERSION 5
/* prune.c: catch-up rounds of the whole cluster without a word from a peer that make it silent */
#define EP_SILENT_ROUNDS 3

typedef enum ep_msg_type {
  EP_MSG_PREACCEPT = 1, /* ballot, cmd, seq, deps */
  EP_MSG_PREACCEPT_OK,  /* ballot, ok, eq, promised, seq, deps */
  EP_MSG_ACCEPT,        /* ballot, cmd, seq, deps */
  EP_MSG_ACCEPT_OK,     /* ballot, ok, promised */
  EP_MSG_COMMIT,        /* cmd, seq, deps; without cmd: "the command you took at ballot 0" */
  EP_MSG_PREPARE,       /* ballot */
  EP_MSG_PREPARE_OK,    /* ballot, ok, promised, status, eq, vballot, cmd, seq, deps */
  EP_MSG_CATCHUP,       /* deps: the sender's committed prefix of every command leader;
                           floors: its executed prefix (prune.c) */
  EP_MSG_SNAP_CHUNK,    /* inst: snapshot index; total, offset; cmd: bytes of the image (prune.c) */
  EP_MSG_SNAP_PULL,     /* inst: snapshot index; offset: the bytes of it the sender holds */
  EP_MSG_BUNDLE,        /* several messages to one node, sent in one (codec.c) */
  EP_MSG_LAST = EP_MSG_BUNDLE,
} ep_msg_type;

/* Every message has the same fields; each type uses some of them. */
typedef struct ep_msg {
  uint8_t type;
  uint8_t leader; /* the instance's command leader */
  uint64_t inst;  /* its number at that leader (0 only in CATCHUP) */
  uint64_t ballot;
  int ok, eq, has_cmd;
  uint8_t status;
  uint64_t promised, vballot, seq;
  int n_deps; /* 0 or the cluster size */
  uint64_t deps[CTK_MAX_NODES];
  uint64_t floors[CTK_MAX_NODES]; /* CATCHUP only: n_deps of them */
  uint64_t echo[CTK_MAX_NODES];   /* CATCHUP only: the receiver's floors as the sender heard them */
  uint64_t total, offset;         /* SNAP_CHUNK and SNAP_PULL only */
  const uint8_t *cmd; /* a batch (batch.c), borrowed from the input; has_cmd with length 0 is a
                         no-op */
  size_t cmd_len;
} ep_msg;

/* One message, not a bundle; the batch is checked (ep_batch_check). */
int ep_msg_decode(const uint8_t *bytes, size_t len, ep_msg *m);
void ep_msg_encode(wire_writer *w, const ep_msg *m);
/* A bundle: the messages it carries, each one encoded message; 1 when bytes are a bundle, 0 when
 * they are one message, negative when malformed. */
typedef struct ep_bundle_iter {
  wire_reader r;
} ep_bundle_iter;
int ep_bundle_begin(ep_bundle_iter *it, const uint8_t *bytes, size_t len);
/* The next message of the bundle: 1, 0 at the end, negative when malformed. */
int ep_bundle_next(ep_bundle_iter *it, const uint8_t **bytes, size_t *len);
/* Writes a bundle of the messages in[0..n) into w. */
void ep_bundle_encode(wire_writer *w, const ctk_bytes *in, size_t n);
int ep_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len);

/* ---- the instance ---- */

/* ---- batch.c ---- */

/* 0 when payload is a well-formed batch (or empty: a no-op), -1 otherwise. */
int ep_batch_check(const uint8_t *payload, size_t len);
uint32_t ep_batch_count(const uint8_t *payload, size_t len); /* of a checked batch */
typedef struct ep_batch_iter {
  const uint8_t *payload;
  size_t len, pos;
  uint32_t left;
} ep_batch_iter;
void ep_batch_begin(ep_batch_iter *it, const uint8_t *payload, size_t len);
/* The next command of a checked batch: 1, or 0 at the end. */
int ep_batch_next(ep_batch_iter *it, const uint8_t **cmd, size_t *len);
/* Appends a command to the batch being written in payload (pos 0: the first); returns the new
 * length. The caller makes room: 2 + 2 + len bytes for the first, 2 + len for the others. */
size_t ep_batch_put(uint8_t *payload, size_t pos, const uint8_t *cmd, size_t len);

/* What a batch touches: noop (an empty batch) interferes with nothing, unknown (a command without
 * a footprint) with everything; otherwise the hashes of its sessions, written keys and read
 * keys, in that order, in small or heap: as the commands come, or each set sorted and distinct
 * once `sorted` (ep_fp_interfere sorts them on first use). */
typedef struct ep_fp {
  uint8_t noop, unknown;
  uint8_t sorted; /* each set sorted, without repeats (batch.c sorts on first use) */
  uint32_t n_sessions, n_writes, n_reads;
  uint64_t *heap; /* owned; NULL: the hashes fit in small */
  uint64_t small[3];
} ep_fp;

/* Fills fp for a checked batch; 0, or -1 out of memory. Free it with ep_fp_free. */
int ep_fp_build(ep_fp *fp, const uint8_t *payload, size_t len, int has_cmd);
void ep_fp_free(ep_fp *fp);
const uint64_t *ep_fp_hashes(const ep_fp *fp);
int ep_fp_interfere(ep_fp *a, ep_fp *b);

/* One instance (leader, num) as this node knows it. */
typedef struct ep_inst {
  int leader;
  uint64_t num;
  uint8_t status;
  uint8_t eq; /* preaccepted at the default ballot with the leader's attributes unchanged */
  uint8_t has_cmd, executed;
  uint8_t cmd_durable; /* the durable bytes hold a record with this command (durable.c) */
  uint64_t ballot;     /* highest ballot promised for it */
  uint64_t vballot;    /* the ballot its attributes were taken at */
  uint64_t seq;
  uint64_t added_seq; /* its footprint is in conflicts.c's tables with this seq (0: not yet) */
  uint64_t *deps;     /* n entries once has_cmd */
  uint8_t *cmd;       /* the batch, owned; NULL for a no-op */
  uint32_t len;
  ep_fp fp;
  uint64_t recover_at_us; /* not committed by then: recover it; 0: not yet noticed */
  uint64_t committed_us;
  uint64_t blocked_pass; /* execute.c: the pass that found it waiting on an uncommitted one */
  uint64_t visit;        /* execute.c's traversal stamp, index and lowlink */
  uint32_t index, low;
  uint8_t on_stack;
} ep_inst;

/* The highest instance per command leader that interferes with a class of commands, and the
 * highest seq among them (conflicts.c). */
typedef struct ep_frontier {
  uint64_t inst[CTK_MAX_NODES];
  uint64_t seq;
} ep_frontier;

/* An open-addressing table of the keys (or sessions) commands touched, by 64-bit hash: each
 * entry is 1 + 2 * (n + 1) words (conflicts.c), sized for the cluster's n nodes rather than
 * CTK_MAX_NODES, so that an entry of a 3-node cluster takes 72 bytes, not 280. */
typedef struct ep_conflict_table {
  uint64_t *words;
  size_t n, cap;
} ep_conflict_table;

typedef struct ep_conflicts {
  ep_conflict_table keys, sessions;
  ep_frontier unknown; /* commands without a footprint */
  ep_frontier all;     /* every command */
} ep_conflicts;

typedef enum ep_phase { EP_PH_PREACCEPT = 1, EP_PH_ACCEPT, EP_PH_PREPARE } ep_phase;

/* One instance this node drives: its own command, or a recovery of someone else's. */
typedef struct ep_prop {
  int active;
  ep_phase phase;
  int leader;
  uint64_t num;
  uint64_t ballot;
  int fast;         /* the fast path is allowed (own command at the default ballot) */
  uint32_t replies; /* bitmask of nodes that answered this phase */
  uint32_t holders; /* nodes that answered ok at ballot 0: they hold the command (leader.c) */
  int eq_count;     /* PreAccept: answers that left the attributes unchanged */
  uint64_t seq;     /* PreAccept: the merged attributes; Accept: the attributes proposed */
  uint64_t deps[CTK_MAX_NODES];
  int has_cmd;
  uint8_t *cmd; /* owned copy of the command (NULL: none or a no-op) */
  uint32_t len;
  uint64_t deadline_us;
  /* Prepare: the answers that matter to the recovery rules. */
  int leader_answered;
  int best;              /* EP_NONE, or the status of the best answer kept */
  uint64_t best_vballot; /* of the accepted answer kept */
  int acc_noop;          /* the accepted answer kept is a no-op */
  int eq_answers; /* preaccepted at the default ballot, unchanged, from nodes not the leader */
  uint64_t eq_seq, eq_deps[CTK_MAX_NODES]; /* those attributes (the leader's, all equal) */
} ep_prop;

typedef struct ep_counters {
  uint64_t fast_path, slow_path, commits_led, commands_led, deps_total, recoveries, noops;
  uint64_t executed, exec_delay_us_total, exec_delay_us_max, exec_stalls;
  uint64_t exec_scanned; /* execute.c: instances the dependency walk looked at */
  uint64_t snap_offers, snap_installs, snap_rejected; /* prune.c: snapshots sent, installed */
} ep_counters;

struct ctk_proto {
  int id, n;
  ctk_epaxos_options opt;
  ctk_rng rng;
  int started;

  /* Instance k + 1 of leader q is chunks[q][k / EP_CHUNK][k % EP_CHUNK]: chunks never move, so
   * pointers to instances stay valid while others are allocated. */
  ep_inst **chunks[CTK_MAX_NODES];
  size_t n_chunks[CTK_MAX_NODES];
  uint64_t known[CTK_MAX_NODES];      /* highest instance number heard of, per leader */
  uint64_t committed[CTK_MAX_NODES];  /* every instance up to it is committed here */
  uint64_t exec_floor[CTK_MAX_NODES]; /* every instance up to it is executed (or a no-op) */
  uint64_t next_own;                  /* the number of this node's next command */
  uint64_t max_round;
  ep_conflicts conflicts;

  ep_prop *props; /* opt.max_inflight own ones, then EP_MAX_RECOVERIES recoveries */
  size_t n_props;
  size_t props_top; /* props[props_top..n_props) are all inactive: the scans stop there */
  uint8_t **queue;  /* ring of client commands waiting for a free proposal; a slot's buffer stays
                       allocated for the next command (queue_cap bytes): no malloc per command */
  uint32_t *queue_len, *queue_cap;
  size_t queue_head, queue_count;

  /* execute.c */
  int exec_dirty;
  uint64_t visit_stamp, exec_pass;
  uint64_t oldest_waiting_us; /* commit time of the oldest committed, unexecuted command; NONE */
  uint64_t exec_backlog;      /* committed, unexecuted commands the last pass left */
  uint64_t exec_last_us, exec_gap_us; /* when the last pass ran; the wait before the next */
  ep_inst **exec_stack, **dfs_inst;
  uint64_t *dfs_q, *dfs_j;
  size_t exec_cap;
  uint64_t applied; /* commits emitted in this incarnation (or since the snapshot restored) */

  /* prune.c */
  uint64_t pruned[CTK_MAX_NODES];                    /* instances up to it are dropped */
  uint64_t peer_floor[CTK_MAX_NODES][CTK_MAX_NODES]; /* exec floors each peer reported */
  uint32_t floor_heard;                              /* the peers that reported theirs */
  uint64_t echo_floor[CTK_MAX_NODES]
                     [CTK_MAX_NODES]; /* this node's floors as each peer heard them */
  uint64_t heard_us[CTK_MAX_NODES];   /* when each peer was last heard from */
  uint8_t *snap_bytes;                /* the durable snapshot */
  uint64_t snap_len, snap_total, snap_index;
  uint64_t snap_floor[CTK_MAX_NODES];
  uint64_t *snap_extra; /* leader << 56 | num: executed above snap_floor */
  size_t n_snap_extra;
  uint64_t cut_index, cut_floor[CTK_MAX_NODES]; /* the cut asked for */
  uint64_t *cut_extra;
  size_t n_cut_extra;
  int restore_pending;
  /* Instances this node may not hold (pruned, or executed by an installed snapshot): every new
   * command's attributes cover them (deps[q] >= base_inst[q], seq > base_seq), see prune.c. */
  uint64_t base_inst[CTK_MAX_NODES], base_seq;
  uint8_t *image; /* this node's snapshot with its cut, as sent to a peer (built on demand) */
  size_t image_len;
  uint64_t image_index;
  ctk_snap_rx rx;                     /* a peer's image being received */
  uint64_t offered_us[CTK_MAX_NODES]; /* when this node last offered its snapshot to each peer */
  int snap_refresh; /* a peer found the snapshot too old: take the next one at once */

  uint64_t now_us, tick_deadline_us;
  uint64_t catchup_turn; /* replica.c: rotates the leader a catch-up answer serves first */
  ep_counters count;

  wire_writer persist;
  int persist_replace;
  ctk_outbox out;        /* messages to the other nodes */
  ctk_outbox self;       /* messages to itself, handled before the step ends */
  ctk_outbox wire;       /* out as it leaves: one message or bundle per node (epaxos.c) */
  ctk_bytes *bundle_run; /* EP_BUNDLE_MAX messages going into one bundle */
  uint8_t *scratch;      /* drain_self's copy of a message */
  size_t scratch_cap;
  ctk_commit *commits;
  size_t n_commits, cap_commits;
  int out_of_memory;
};

typedef struct ctk_proto epaxos;

static inline int ep_majority(const epaxos *p) { return p->n / 2 + 1; }
/* The optimized fast quorum of the paper, F + floor((F + 1) / 2) with the leader, never below a
 * majority. */
static inline int ep_fast_quorum(const epaxos *p) {
  int f = (p->n - 1) / 2, q = f + (f + 1) / 2;
  return q > ep_majority(p) ? q : ep_majority(p);
}

/* epaxos.c */
void ep_send(epaxos *p, int to, const ep_msg *m);
void ep_broadcast(epaxos *p, const ep_msg *m, int self_too);
/* The instance, allocated on demand (status EP_NONE); NULL out of the window or memory. */
ep_inst *ep_inst_get(epaxos *p, int leader, uint64_t num);
/* The instance if this node holds it (any status), else NULL; never allocates. */
ep_inst *ep_inst_find(const epaxos *p, int leader, uint64_t num);
/* Sets the command and attributes of an instance (copies cmd; has_cmd with len 0 is a no-op).
 * fp: the command's footprint when the caller built it already (taken over when the command is
 * set: *fp is then left empty), or NULL. */
int ep_inst_set(epaxos *p, ep_inst *in, int has_cmd, const uint8_t *cmd, size_t len, ep_fp *fp,
                uint64_t seq, const uint64_t *deps);
void ep_see_ballot(epaxos *p, uint64_t ballot);
void ep_note_known(epaxos *p, int leader, uint64_t num);
uint64_t ep_random_ms(epaxos *p, const int64_t range[2]);

/* conflicts.c */
/* The attributes a batch gets from what this node knows: seq and deps[n], merged into *seq and
 * deps (max). Returns 0 or -1 out of memory. */
int ep_conflicts_attributes(epaxos *p, const ep_fp *fp, uint64_t *seq, uint64_t *deps);
/* Records that instance (leader, num) with this footprint and seq exists. */
int ep_conflicts_add(epaxos *p, const ep_fp *fp, int leader, uint64_t num, uint64_t seq);
void ep_conflicts_free(ep_conflicts *c);
/* Every command's attributes from now on cover instances up to inst[q] and seq (prune.c). */
void ep_conflicts_raise_base(epaxos *p, const uint64_t *inst, uint64_t seq);

/* replica.c */
void ep_recv_preaccept(epaxos *p, int from, const ep_msg *m);
void ep_recv_accept(epaxos *p, int from, const ep_msg *m);
void ep_recv_commit(epaxos *p, const ep_msg *m);
void ep_recv_prepare(epaxos *p, int from, const ep_msg *m);
void ep_recv_catchup(epaxos *p, int from, const ep_msg *m);
/* Commits an instance here (persisted) with final attributes; idempotent. */
void ep_commit_local(epaxos *p, ep_inst *in, int has_cmd, const uint8_t *cmd, size_t len,
                     uint64_t seq, const uint64_t *deps);
/* Sends the committed instance to `to` (or every other node when to < 0); to the nodes in
 * `holders`, without its command. */
void ep_send_commit(epaxos *p, int to, const ep_inst *in, uint32_t holders);

/* leader.c */
int ep_submit(epaxos *p, const uint8_t *cmd, size_t len);
void ep_pump(epaxos *p); /* proposes queued commands while proposals are free */
void ep_recv_preaccept_ok(epaxos *p, int from, const ep_msg *m);
void ep_recv_accept_ok(epaxos *p, int from, const ep_msg *m);
ep_prop *ep_prop_find(epaxos *p, int leader, uint64_t num);
/* After pr, one of p->props, was made active. */
void ep_prop_activated(epaxos *p, const ep_prop *pr);
void ep_prop_free(epaxos *p, ep_prop *pr);
/* Starts the Accept phase of pr with its attributes (pr->seq, pr->deps, pr->cmd). */
void ep_start_accept(epaxos *p, ep_prop *pr);
/* Starts a PreAccept phase of pr at its ballot, for a recovery (no fast path). */
void ep_start_preaccept(epaxos *p, ep_prop *pr);
void ep_props_timeout(epaxos *p);
uint64_t ep_props_deadline(const epaxos *p);

/* recovery.c */
void ep_recv_prepare_ok(epaxos *p, int from, const ep_msg *m);
void ep_recovery_scan(epaxos *p); /* recovers instances not committed in time */

/* execute.c */
void ep_execute(epaxos *p);
uint64_t ep_exec_deadline(const epaxos *p); /* NONE: nothing to execute; 0: at once */
int ep_exec_grow(epaxos *p, size_t need);

/* prune.c */
void ep_prune_note_floors(epaxos *p, int from, const uint64_t *floors, const uint64_t *echo);
void ep_prune_leader(epaxos *p, int q, uint64_t upto);  /* drops (pruned[q], upto] */
void ep_snapshot_maybe_ask(epaxos *p, ctk_output *out); /* output.snapshot_wanted */
void ep_snapshot_output(epaxos *p, ctk_output *out);    /* output.restore */
int ep_snapshot_taken(epaxos *p, const ctk_event *ev);  /* step(SNAPSHOT) */
void ep_snapshot_free(epaxos *p);
void ep_persist_snapshot(epaxos *p, uint8_t version, uint8_t type);
int ep_snapshot_recover_record(epaxos *p, wire_reader *r, uint8_t version);
/* A request about instance (leader, num) this node pruned: the asker lacks its commit. */
int ep_pruned(const epaxos *p, int leader, uint64_t num);

/* transfer.c */
void ep_snap_offer(epaxos *p, int to); /* sends the first chunk of this node's snapshot */
void ep_recv_snap_chunk(epaxos *p, int from, const ep_msg *m);
void ep_recv_snap_pull(epaxos *p, int from, const ep_msg *m);
int ep_snapshot_recover_done(epaxos *p);

/* durable.c */
void ep_persist_inst(epaxos *p, ep_inst *in);
void ep_persist_replace_all(epaxos *p);
int ep_recover(epaxos *p, const uint8_t *bytes, size_t len, int *torn_tail);

#endif /* CTK_EP_INTERNAL_H */
