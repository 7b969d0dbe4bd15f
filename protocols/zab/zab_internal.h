/* zab_internal.h: what the files of the ZAB implementation share with each other.
 *
 * Words as ZooKeeper uses them. A node is LOOKING (leader election), FOLLOWING or LEADING. A zxid
 * numbers a proposal: the epoch of the leader that made it in the high 32 bits, a counter in the
 * low 32. A node's history is its accepted proposals in zxid order; position i of the history is
 * ctk commit index i. A proposal is a client command or a configuration (reconfig.c). Durable:
 * the accepted epoch (the last NEWEPOCH acked, and from whom), the current epoch (the last
 * NEWLEADER acked), the history, and what reconfiguration keeps beside it.
 *
 * ZAB relies on FIFO links (TCP). ctk's networks lose, duplicate and reorder messages, so every
 * message from a leader to a follower belongs to a session (a connection the follower opened
 * with FOLLOWERINFO) and carries a sequence number: a follower drops duplicates, puts messages
 * that overtook others back in order as TCP would (for up to reorder_window_ms), and treats a
 * gap that stays open (a lost message) as a broken connection, which sends it through
 * synchronization again. */
#ifndef CTK_ZAB_INTERNAL_H
#define CTK_ZAB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/commitlist.h"
#include "../common/outbox.h"
#include "../common/readbox.h"
#include "../common/rng.h"
#include "../common/wire.h"
#include "zab.h"

#define ZAB_N_OPTIONS 10
extern const ctk_option_spec zab_option_specs[ZAB_N_OPTIONS];
extern const size_t zab_n_option_specs;

#define ZAB_MAX_POSITION    (1ull << 40) /* history positions above are rejected everywhere */
#define ZAB_MAX_EPOCH       0xFFFFFFFFull
#define ZAB_MAX_COUNTER     0xFFFFFFFFull
#define ZAB_MAX_PER_MSG     4096       /* proposals in one DIFF, SNAP or PROPOSAL message */
#define ZAB_CHUNK_BYTES     (1u << 19) /* DIFF and SNAP chunks stop growing past this */
#define ZAB_MAX_FORWARD     64
#define ZAB_MAX_UNCOMMITTED 16384
#define ZAB_COMPACT_MIN     (1u << 20)
#define ZAB_HOLD_MAX        256 /* session messages a follower holds ahead of a gap */
#define ZAB_HOLD_MAX_BYTES  (8u << 20)
#define ZAB_NO_NODE         (-1)
#define ZAB_MAX_SNAPSHOT    (1ull << 32) /* bytes of one state machine snapshot */

static inline uint64_t zab_zxid(uint64_t epoch, uint64_t counter) { return epoch << 32 | counter; }
static inline uint64_t zab_zxid_epoch(uint64_t zxid) { return zxid >> 32; }
static inline uint64_t zab_zxid_counter(uint64_t zxid) { return zxid & 0xFFFFFFFFull; }

/* ---- history.c: the accepted proposals, positions 1 .. n, zxids strictly increasing; positions
 * 1 .. base are compacted away (folded into a snapshot), only the zxid at base is kept ---- */

/* A proposal is a client command or, for reconfiguration (reconfig.c), a configuration. */
enum { ZAB_ENTRY_COMMAND = 0, ZAB_ENTRY_CONFIG = 1 };

typedef struct zab_entry {
  uint64_t zxid;
  uint32_t len;
  uint8_t type;  /* ZAB_ENTRY_* */
  uint8_t *data; /* owned */
} zab_entry;

typedef struct zab_history {
  zab_entry *e; /* e[i - base - 1] is position i, for base < i <= n */
  uint64_t n, cap;
  uint64_t base, base_zxid;
  uint64_t bytes; /* what the entries weigh in durable records: sum of (13 + len) */
} zab_history;

void zab_history_free(zab_history *h);
/* The zxid at pos: 0 when pos is 0, past n, or compacted (except base itself). */
static inline uint64_t zab_history_zxid(const zab_history *h, uint64_t pos) {
  if (pos == h->base) return h->base_zxid;
  return pos > h->base && pos <= h->n ? h->e[pos - h->base - 1].zxid : 0;
}
/* The entry at pos, base < pos <= n. */
static inline const zab_entry *zab_history_at(const zab_history *h, uint64_t pos) {
  return &h->e[pos - h->base - 1];
}
static inline uint64_t zab_history_last(const zab_history *h) { return zab_history_zxid(h, h->n); }
/* Appends a copy of data. 0, or -1 when out of memory (history unchanged). */
int zab_history_append(zab_history *h, uint64_t zxid, uint8_t type, const uint8_t *data,
                       size_t len);
struct zab_msg;
/* Appends the entries of a DIFF, SNAP or PROPOSAL message (validated by the codec). Returns how
 * many of them are configurations (>= 0), or -1 when out of memory (some may be appended). */
int zab_history_append_msg(zab_history *h, const struct zab_msg *m);
void zab_history_truncate(zab_history *h, uint64_t n); /* keeps positions 1 .. n (n >= base) */
/* Drops the entries of positions up to base (at most n); their last zxid stays known. */
void zab_history_compact(zab_history *h, uint64_t base);
/* Empties h and makes it start after position base, whose zxid is base_zxid. */
void zab_history_rebase(zab_history *h, uint64_t base, uint64_t base_zxid);
/* Position of zxid, or 0 when absent or compacted (base's own zxid is found). */
uint64_t zab_history_find(const zab_history *h, uint64_t zxid);
/* How many entries have a zxid below zxid; 0 when zxid is not above the compacted prefix. */
uint64_t zab_history_count_below(const zab_history *h, uint64_t zxid);
/* Takes over src's entries (src is left empty). */
void zab_history_move(zab_history *dst, zab_history *src);

/* ---- codec.c: the wire format ---- */

#define ZAB_WIRE_VERSION 3
typedef enum zab_msg_type {
  ZAB_MSG_NOTIFICATION = 1, /* fast leader election */
  ZAB_MSG_FOLLOWERINFO = 2, /* follower -> leader: opens a session */
  ZAB_MSG_NEWEPOCH = 3,     /* leader -> follower (ZooKeeper's LEADERINFO) */
  ZAB_MSG_ACKEPOCH = 4,     /* follower -> leader */
  ZAB_MSG_DIFF = 5,         /* leader -> follower: the proposals it misses */
  ZAB_MSG_TRUNC = 6,        /* leader -> follower: drop the proposals past a position */
  ZAB_MSG_SNAP = 7,         /* leader -> follower: a chunk of the leader's snapshot */
  ZAB_MSG_NEWLEADER = 8,    /* leader -> follower: you are in sync, adopt the epoch */
  ZAB_MSG_PROPOSAL = 9,     /* leader -> follower */
  ZAB_MSG_ACK = 10,         /* follower -> leader: cumulative, everything up to a zxid */
  ZAB_MSG_COMMIT = 11,      /* leader -> follower: cumulative, everything up to a zxid */
  ZAB_MSG_PING = 12,        /* leader -> follower: carries the commit; answered with an ACK */
  ZAB_MSG_FORWARD = 13,     /* follower -> leader: client commands (ZooKeeper's REQUEST) */
  ZAB_MSG_SYNC = 14,        /* read.c, follower -> leader: sync request `pos` (an id) */
  ZAB_MSG_SYNC_REPLY = 15,  /* read.c, leader -> follower: id `pos`, the leader's last zxid */
} zab_msg_type;

typedef enum zab_state { ZAB_LOOKING = 0, ZAB_FOLLOWING = 1, ZAB_LEADING = 2 } zab_state;

/* A configuration: the voting members and the learners (bitmasks of node ids, disjoint). */
typedef struct zab_conf {
  uint32_t voters, learners;
} zab_conf;
#define ZAB_CONF_BYTES 9 /* a configuration entry's data: version u8, voters u32, learners u32 */

/* A vote of fast leader election, ranked on (epoch, zxid, leader). */
typedef struct zab_vote {
  int leader;
  uint64_t zxid;  /* the last zxid of the proposed leader's history */
  uint64_t epoch; /* its current epoch */
} zab_vote;

typedef struct zab_msg {
  uint8_t type;
  /* Session messages (leader -> follower): session, seq, epoch. FOLLOWERINFO, ACKEPOCH and ACK
   * carry the session too. */
  uint64_t session, seq, epoch;
  /* NOTIFICATION */
  uint64_t round;
  uint8_t state;
  zab_vote vote;
  /* NOTIFICATION: the sender's active (committed) configuration and its version (the zxid of
   * its entry). SNAP: the configuration in effect at the snapshot's index. */
  zab_conf conf;
  uint64_t conf_zxid;
  /* FOLLOWERINFO: accepted epoch in epoch; want_snap. ACKEPOCH: counts. */
  int want_snap, counts;
  /* ACKEPOCH: current epoch, last zxid, history length. NEWLEADER: zxid and length the
   * follower's history must now end with. */
  uint64_t current_epoch, zxid, length;
  /* DIFF: pos = the position the entries follow, zxid = the zxid expected there;
   * TRUNC: pos = the length to keep, zxid = the zxid expected there;
   * SNAP: pos = the snapshot's index, zxid = the zxid there, length = its total bytes, offset =
   * where this chunk (items, items_len) goes;
   * PROPOSAL: pos = first position. ACK, COMMIT, PING: zxid. */
  uint64_t pos, offset;
  uint32_t n; /* entries (DIFF, SNAP, PROPOSAL) or commands (FORWARD) */
  const uint8_t *items;
  size_t items_len;
} zab_msg;

int zab_msg_decode(const uint8_t *bytes, size_t len, zab_msg *m);
/* One entry of DIFF, SNAP or PROPOSAL, or one command of FORWARD (zxid 0, type command). */
typedef struct zab_item {
  uint64_t zxid;
  uint8_t type;
  const uint8_t *data;
  size_t len;
} zab_item;
/* Walks the m->n items of a message already validated by zab_msg_decode:
 *   for (zab_item_iter_init(&it, m); zab_item_next(&it, &item);) ... */
typedef struct zab_item_iter {
  wire_reader r;
  int with_zxid;
  uint32_t left;
} zab_item_iter;
void zab_item_iter_init(zab_item_iter *it, const zab_msg *m);
/* Reads the next item into *item: 1, or 0 (item untouched) after the last. */
int zab_item_next(zab_item_iter *it, zab_item *item);

void zab_encode_notification(wire_writer *w, uint64_t round, zab_state state, zab_vote vote,
                             zab_conf conf, uint64_t conf_zxid);
/* 0 when every configuration m carries (entries of DIFF, SNAP, PROPOSAL; NOTIFICATION; SNAP)
 * names only nodes below n. */
int zab_msg_check_nodes(const zab_msg *m, int n);
void zab_encode_followerinfo(wire_writer *w, uint64_t session, uint64_t accepted_epoch,
                             int want_snap);
/* counts: 0 when the follower acked this epoch to another node already (a failed leader: itself),
 * so that the leader may synchronize it but not count it toward establishing the epoch. */
void zab_encode_ackepoch(wire_writer *w, uint64_t session, uint64_t epoch, uint64_t current_epoch,
                         uint64_t last_zxid, uint64_t length, int counts);
void zab_encode_ack(wire_writer *w, uint64_t session, uint64_t epoch, uint64_t zxid);
/* A session message's header; the type's fields follow. */
void zab_encode_session(wire_writer *w, zab_msg_type type, uint64_t session, uint64_t seq,
                        uint64_t epoch);
/* Entries first .. first+n-1 of h, for DIFF, SNAP and PROPOSAL (after their fields and n). */
void zab_encode_entries(wire_writer *w, const zab_history *h, uint64_t first, uint32_t n);
void zab_encode_forward(wire_writer *w, const uint8_t *data, size_t len);
/* SYNC (reply 0) or SYNC_REPLY (reply 1, with the leader's last zxid) of request id >= 1. */
void zab_encode_sync(wire_writer *w, int reply, uint64_t id, uint64_t zxid);
int zab_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len);

/* ---- the instance ---- */

typedef struct zab_held {
  uint64_t seq;
  uint8_t *bytes; /* owned copy */
  size_t len;
} zab_held;

typedef enum zab_phase { ZAB_DISCOVERY = 0, ZAB_SYNC, ZAB_BROADCAST } zab_phase;

/* A leader's view of one follower's session. */
typedef enum zab_peer_stage {
  ZAB_PEER_NONE = 0,
  ZAB_PEER_INFO,      /* FOLLOWERINFO received; NEWEPOCH sent once the epoch is known */
  ZAB_PEER_EPOCH_ACK, /* ACKEPOCH received; synchronized once the epoch is established */
  ZAB_PEER_SYNCED,    /* DIFF/TRUNC/SNAP and NEWLEADER sent; proposals follow */
  ZAB_PEER_ACTIVE,    /* acknowledged NEWLEADER: its ACKs count */
} zab_peer_stage;

typedef struct zab_peer {
  zab_peer_stage stage;
  uint64_t session, next_seq;
  uint64_t accepted_epoch; /* from its FOLLOWERINFO */
  int want_snap;
  int epoch_sent;
  uint64_t current_epoch, last_zxid, length; /* from its ACKEPOCH */
  uint64_t acked;                            /* highest zxid it acknowledged in this session */
  /* Flow control (max_inflight > 0 only): positions sent as PROPOSAL (or DIFF) up to sent, its
   * ACKs reached position acked_pos, COMMIT sent up to commit_sent (never past sent). resync: it
   * fell too far behind and is told to open a new session (which synchronizes it by SNAP). */
  uint64_t sent, acked_pos, commit_sent;
  int resync;
  uint64_t last_heard_us;
} zab_peer;

typedef struct zab_notice {
  int have;
  uint64_t round;
  uint8_t state;
  zab_vote vote;
} zab_notice;

struct ctk_proto {
  int id, n;
  ctk_zab_options opt;
  uint64_t election_lo_us, election_hi_us, heartbeat_us, finalize_us;
  ctk_rng rng;
  int started;

  /* Durable. */
  uint64_t accepted_epoch;
  int accepted_leader; /* who the accepted epoch was acked to (a node acks an epoch once) */
  uint64_t current_epoch;
  zab_history hist;
  uint64_t durable_bytes;

  /* reconfig.c: durable */
  zab_conf base_conf;  /* in effect at hist.base (with the snapshot records) */
  int forced;          /* a FORCE record: forced_conf overrides every config through */
  uint64_t forced_pos; /* forced_pos */
  zab_conf forced_conf;
  uint64_t conf_committed_pos; /* the configuration at this position is known committed */
  /* reconfig.c: volatile; derived by zab_conf_refresh */
  zab_conf adopted; /* a committed configuration learned from a NOTIFICATION */
  uint64_t adopted_zxid;
  zab_conf conf, prev; /* the last configuration seen, and the one before it */
  uint64_t conf_pos;   /* conf's position in the history (0: not an entry) */
  uint64_t conf_zxid;  /* its version */
  uint64_t prev_zxid;

  /* Volatile. */
  zab_state state;
  zab_phase phase;
  int leader_id;
  uint64_t commit_index, emitted_index;

  /* election.c: fast leader election */
  uint64_t round;                 /* ZooKeeper's logicalclock */
  zab_vote vote;                  /* while LOOKING: the current proposal; after: the decided vote */
  zab_notice recv[CTK_MAX_NODES]; /* this round's votes */
  zab_notice outof[CTK_MAX_NODES]; /* votes of FOLLOWING and LEADING nodes */
  uint64_t renotify_deadline_us, finalize_deadline_us;

  /* leader.c: LEADING */
  uint64_t epoch;                             /* the epoch being established or led */
  int epoch_chosen;                           /* NEWEPOCH computed and sent */
  int epoch_acks;                             /* nodes that acked it (bit set), self included */
  uint64_t counter;                           /* low 32 bits of the last zxid proposed in epoch */
  uint64_t own_epoch_before, own_zxid_before; /* (current epoch, last zxid) at election */
  zab_peer peers[CTK_MAX_NODES];
  uint64_t heartbeat_deadline_us, init_deadline_us;
  uint64_t sent_upto; /* highest position sent to synced followers */

  /* snapshot.c: the durable snapshot (positions 1 .. snap_index) and one being received */
  uint8_t *snap_bytes;
  uint64_t snap_len, snap_index, snap_zxid;
  uint64_t snapshot_asked; /* the index last asked of the host, this incarnation */
  int restore_pending;     /* output.restore = the snapshot, this step */
  uint8_t *in_bytes;       /* SNAP: the chunks received so far */
  uint64_t in_len, in_total, in_index, in_zxid;
  zab_conf in_conf; /* SNAP: the configuration at in_index */
  int in_active;
  zab_history in_hist; /* SNAP: the DIFF after it, held until NEWLEADER */

  /* follower.c: FOLLOWING */
  uint64_t session, next_seq;
  int want_snap;
  uint64_t retry_deadline_us, silence_deadline_us;

  /* session.c: session messages that arrived ahead of a missing one */
  zab_held held[ZAB_HOLD_MAX];
  int n_held;
  size_t held_bytes;
  uint64_t gap_deadline_us, reorder_window_us;

  /* Output. */
  uint64_t now_us;
  wire_writer persist;
  int persist_replace;
  ctk_outbox out;          /* this step's messages */
  ctk_commit_list commits; /* this step's */
  int out_of_memory;
  /* read.c: this step's reads answered locally */
  ctk_readbox reads;
  /* read.c, sync mode: reads waiting for their SYNC_REPLY, then for the commit to reach it */
  struct zab_sync_read *sync_reads;
  size_t n_sync, cap_sync;
  uint64_t sync_id;
};
typedef struct ctk_proto zab;

/* reconfig.c: configurations, quorums over them, operator requests */
void zab_conf_encode(uint8_t out[ZAB_CONF_BYTES], zab_conf c);
int zab_conf_decode(const uint8_t *data, size_t len, int n, zab_conf *c); /* 0 or -1 */
int zab_conf_valid(zab_conf c, int n);
void zab_conf_refresh(zab *z);                    /* recomputes conf and prev from the history */
zab_conf zab_conf_at(const zab *z, uint64_t pos); /* in effect at pos >= hist.base */
int zab_conf_pending(const zab *z);               /* conf is proposed, not known committed */
/* The active (committed) configuration and its version, as NOTIFICATIONs carry it. */
zab_conf zab_conf_active(const zab *z, uint64_t *zxid);
void zab_conf_adopt(zab *z, zab_conf c, uint64_t zxid); /* from a NOTIFICATION */
int zab_conf_votes(const zab *z, int node);             /* a voter of conf */
int zab_conf_may_lead(const zab *z, int node); /* a voter of conf, or of prev while pending */
uint32_t zab_conf_nodes(const zab *z);         /* voters and learners, prev's too */
/* A quorum of conf's voters among `have`, and of prev's too while conf is pending. */
int zab_conf_quorum(const zab *z, uint32_t have);
/* The leader: whether `have` (acks of the proposal at pos) is enough to commit it. */
int zab_conf_commit_quorum(const zab *z, uint64_t pos, uint32_t have);
int zab_admin(zab *z, const uint8_t *data, size_t len);
void zab_conf_step_end(zab *z); /* commit hints, promotions, a removed leader's step down */

/* zab.c: output */
wire_writer *zab_send_begin(zab *z, int to);
void zab_send_end(zab *z);
uint64_t zab_random_timeout(zab *z);

/* durable.c */
void zab_persist_epochs(zab *z);
void zab_persist_append(zab *z, uint64_t first, uint64_t n);
void zab_persist_truncate(zab *z);
void zab_persist_replace_all(zab *z);
void zab_persist_maybe_compact(zab *z);
void zab_persist_conf_committed(zab *z);
void zab_persist_force(zab *z);
int zab_recover(zab *z, const uint8_t *bytes, size_t len, int *torn_tail);

/* election.c */
void zab_start_looking(zab *z);
void zab_recv_notification(zab *z, int from, const zab_msg *m);
void zab_election_timeout(zab *z);

/* leader.c: discovery, the sessions of followers, broadcast */
void zab_lead(zab *z);
void zab_leader_recv(zab *z, int from, const zab_msg *m);
void zab_leader_timeout(zab *z);
void zab_leader_propose(zab *z, uint8_t type, const uint8_t *data, size_t len);
void zab_leader_flush(zab *z);
int zab_leader_has_room(const zab *z);
void zab_leader_note_followerinfo(zab *z, int from, const zab_msg *m);

/* sync.c: the leader brings one follower's history in line with its own */
void zab_sync_follower(zab *z, int to);
/* Sends positions first .. last of the history to a peer as DIFF, SNAP or PROPOSAL messages, in
 * as many chunks as bounds require (one empty DIFF or SNAP when first > last). */
void zab_send_entries(zab *z, int to, zab_msg_type type, uint64_t first, uint64_t last);

/* leader.c: starts a session message to a peer; zab_send_end finishes it. */
wire_writer *zab_session_begin(zab *z, int to, zab_msg_type type);

/* session.c: the follower's end of a session, delivering the leader's messages in order */
void zab_session_clear(zab *z);
/* Takes a message for this session (already decoded into m): drops it when stale, holds it when
 * early, hands it and whatever it unblocks to zab_follower_deliver when in order. */
void zab_session_recv(zab *z, const zab_msg *m, const uint8_t *bytes, size_t len);
void zab_session_timeout(zab *z); /* a gap open for the whole window: the connection broke */

/* snapshot.c: snapshots of the state machine and the compaction of the history */
void zab_snapshot_maybe_ask(zab *z, ctk_output *out); /* output.snapshot_wanted */
void zab_snapshot_output(zab *z, ctk_output *out);    /* output.restore */
int zab_snapshot_taken(zab *z, const ctk_event *ev);  /* step(SNAPSHOT) */
void zab_snapshot_free(zab *z);
/* Leader: SNAP (the snapshot in chunks, then DIFF of the rest of the history) to a follower. */
void zab_snapshot_send(zab *z, int to);
/* Follower: SNAP chunks and the DIFF after them are held; NEWLEADER installs them (0), or -1
 * when they would change what this node committed. */
void zab_snapshot_recv_chunk(zab *z, const zab_msg *m);
int zab_snapshot_receiving(const zab *z);
void zab_snapshot_recv_diff(zab *z, const zab_msg *m);
int zab_snapshot_install(zab *z); /* 0, -1 (a conflict: look again), 1 (incomplete) */
void zab_snapshot_abort(zab *z);
/* durable.c's view: the snapshot records of a fresh encoding, and recovery from them. */
void zab_persist_snapshot(zab *z, wire_writer *w, uint8_t version, uint8_t type);
int zab_snapshot_recover_record(zab *z, wire_reader *r, uint8_t version);
int zab_snapshot_recover_done(zab *z);

/* follower.c */
void zab_follow(zab *z, int leader);
void zab_follower_recv(zab *z, int from, const zab_msg *m, const uint8_t *bytes, size_t len);
void zab_follower_deliver(zab *z, const zab_msg *m);
void zab_follower_reconnect(zab *z); /* a broken connection: a new session */
void zab_follower_timeout(zab *z);
void zab_follower_forward(zab *z, const uint8_t *data, size_t len);

/* read.c */
enum { ZAB_READ_LOG = 0, ZAB_READ_LOCAL = 1, ZAB_READ_SYNC = 2 };
#define ZAB_MAX_SYNC_READS 4096
typedef struct zab_sync_read {
  uint64_t id;       /* its SYNC request; 0 at the leader */
  uint64_t zxid;     /* served once the committed prefix reaches it */
  int have_zxid;     /* the SYNC_REPLY arrived (always at the leader) */
  int leader;        /* the leader it asked; dropped when that changes */
  uint64_t since_us; /* dropped after a maximum election timeout (the client retried) */
  uint8_t *data;     /* owned */
  size_t len;
} zab_sync_read;
void zab_read_reset(zab *z);
void zab_read_free(zab *z);
/* A client command: 1 when it was answered as a local read (this step's output.reads). */
int zab_read_command(zab *z, const uint8_t *data, size_t len);
void zab_read_output(zab *z, ctk_output *out);
void zab_read_recv_sync(zab *z, int from, const zab_msg *m);
void zab_read_recv_sync_reply(zab *z, int from, const zab_msg *m);
void zab_read_step_end(zab *z); /* serves the sync reads whose zxid is committed */

#endif /* CTK_ZAB_INTERNAL_H */
