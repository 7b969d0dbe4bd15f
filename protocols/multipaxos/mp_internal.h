/* mp_internal.h: what the files of the Multi-Paxos implementation share with each other.
 *
 * Ballots: a ballot is a round r >= 1 owned by node (r - 1) % n, so comparing rounds compares
 * (round, node id) pairs and no two nodes ever lead in the same round (status.term = r). */
#ifndef CTK_MP_INTERNAL_H
#define CTK_MP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/commitlist.h"
#include "../common/outbox.h"
#include "../common/readbox.h"
#include "../common/rng.h"
#include "../common/snapheld.h"
#include "../common/wire.h"
#include "multipaxos.h"

#define MP_N_OPTIONS 14
extern const ctk_option_spec mp_option_specs[MP_N_OPTIONS];
extern const size_t mp_n_option_specs;

#define MP_MAX_SLOT        (1ull << 40) /* slots and rounds above are rejected on the wire */
#define MP_MAX_ROUND       (1ull << 48)
#define MP_MAX_GAP         (1ull << 20) /* a slot this far past our last is implausible */
#define MP_MAX_PER_MSG     4096         /* slots in one Accept or Promise chunk, whatever */
#define MP_MAX_ITEMS_BYTES (CTK_MAX_MESSAGE_BYTES - 64) /* the slots of one message, encoded */
#define MP_MAX_FORWARD     64
#define MP_MAX_UNCOMMITTED 16384
#define MP_NO_NODE         (-1)
#define MP_COMPACT_MIN     (1u << 20)
#define MP_MAX_SNAPSHOT    (1ull << 31) /* bytes of one state machine snapshot */

/* ---- one slot of the acceptor's (and the leader's) log ---- */
enum { MP_KIND_COMMAND = 0, MP_KIND_CONFIG = 1 }; /* a client command (or no-op), a configuration */
typedef struct mp_slot {
  uint64_t ballot; /* accepted ballot, 0: nothing accepted */
  uint64_t epoch;  /* membership.c: the configuration its proposer ran it in (a slot number) */
  uint32_t len;
  uint8_t kind;  /* MP_KIND_*; a configuration's data is MP_CONFIG_BYTES (voters, learners) */
  uint8_t *data; /* owned; NULL when len == 0 (a no-op) */
  uint32_t acks; /* leader: nodes that accepted it in the current ballot */
} mp_slot;

/* membership.c: a configuration: the voting acceptors, the learners that receive the log, and
 * its epoch, the slot of the configuration command that made it (0: the initial one). */
typedef struct mp_config {
  uint32_t voters, learners;
  uint64_t epoch;
} mp_config;
#define MP_CONFIG_BYTES 8

/* ---- codec.c ---- */
#define MP_WIRE_VERSION 4
typedef enum mp_msg_type {
  MP_MSG_PREPARE = 1,
  MP_MSG_PROMISE = 2,
  MP_MSG_ACCEPT = 3,
  MP_MSG_ACCEPTED = 4,
  MP_MSG_FORWARD = 5,
  MP_MSG_LEASE_PROBE = 6, /* lease.c: read_mode = "lease" only; round in `first` */
  MP_MSG_LEASE_PROBE_REPLY = 7,
  MP_MSG_SNAP_CHUNK = 8, /* snapshot.c */
  MP_MSG_SNAP_PULL = 9,
  MP_MSG_TIMEOUT_NOW = 10, /* membership.c: the leader asks a voter to run phase 1 at once */
} mp_msg_type;

typedef struct mp_msg {
  uint8_t type;
  uint64_t ballot;   /* all but FORWARD */
  uint64_t promised; /* PROMISE, ACCEPTED: the acceptor's promise (a nack when > ballot) */
  int ok;            /* PROMISE, ACCEPTED */
  uint64_t first;    /* PREPARE: first open slot; ACCEPT, ACCEPTED: first slot */
  uint64_t commit;   /* ACCEPT: leader's commit index; ACCEPTED: acceptor's chosen prefix */
  uint64_t next;     /* PROMISE: 0 when it holds every entry, else the slot its next chunk
                        starts at (ask again with a Prepare of the same ballot from there) */
  uint64_t snap;     /* PROMISE: nonzero when the acceptor discarded slots the Prepare asked for:
                        the index of its snapshot, which the candidate must fetch first.
                        SNAP_CHUNK, SNAP_PULL: the snapshot's index */
  uint64_t total;    /* SNAP_CHUNK: the snapshot's size in bytes */
  uint64_t offset;   /* SNAP_CHUNK: where its bytes start; SNAP_PULL: the bytes held so far */
  uint64_t epoch;    /* ACCEPT: the configuration of its slots */
  mp_config conf;    /* SNAP_CHUNK: the configuration after the snapshot's last slot */
  uint32_t n;        /* values (ACCEPT, FORWARD), entries (PROMISE), slots acked (ACCEPTED) */
  const uint8_t *items;
  size_t items_len;
} mp_msg;

int mp_msg_decode(const uint8_t *bytes, size_t len, mp_msg *m);
/* Walks items: PROMISE entries (slot, ballot, epoch, kind, value), ACCEPT values (kind, value),
 * FORWARD commands; what a message does not carry is 0. */
typedef struct mp_item {
  uint64_t slot, ballot, epoch;
  uint8_t kind;
  const uint8_t *data;
  size_t len;
} mp_item;
typedef struct mp_item_iter {
  wire_reader r;
  uint8_t type;
} mp_item_iter;
void mp_item_iter_init(mp_item_iter *it, const mp_msg *m);
void mp_item_next(mp_item_iter *it, mp_item *item);

void mp_encode_prepare(wire_writer *w, uint64_t ballot, uint64_t first);
/* Promise header; entries appended with mp_encode_promise_entry, the slot of the next chunk (0:
 * none) and the count patched at the end. */
size_t mp_encode_promise_begin(wire_writer *w, uint64_t ballot, int ok, uint64_t promised);
void mp_encode_promise_entry(wire_writer *w, uint64_t slot, const mp_slot *s);
void mp_encode_promise_end(wire_writer *w, size_t pos, uint64_t next, uint32_t n);
/* A Promise that asks the candidate to fetch the acceptor's snapshot `snap` first. */
void mp_encode_promise_snap(wire_writer *w, uint64_t ballot, uint64_t promised, uint64_t snap);
#define MP_PROMISE_ENTRY_BYTES(len) (29 + (size_t)(len))
/* The slots must share one epoch (mp_batch_len cuts batches so). */
void mp_encode_accept(wire_writer *w, uint64_t ballot, uint64_t commit, uint64_t first,
                      const mp_slot *slots, uint32_t n);
void mp_encode_accepted(wire_writer *w, uint64_t ballot, int ok, uint64_t promised, uint64_t first,
                        uint32_t n, uint64_t commit);
void mp_encode_forward(wire_writer *w, const uint8_t *data, size_t len);
/* LeaseProbe (reply 0) or its reply (reply 1, with ok) of round `round` >= 1. */
void mp_encode_lease_probe(wire_writer *w, int reply, uint64_t ballot, uint64_t round, int ok);
void mp_encode_snap_chunk(wire_writer *w, uint64_t index, const mp_config *conf, uint64_t total,
                          uint64_t offset, const uint8_t *data, size_t len);
void mp_encode_timeout_now(wire_writer *w, uint64_t ballot);
void mp_encode_snap_pull(wire_writer *w, uint64_t index, uint64_t offset, uint64_t commit);
int mp_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len);

/* ---- the instance ---- */
typedef enum mp_role { MP_FOLLOWER = 0, MP_CANDIDATE, MP_LEADER } mp_role;

/* lease.c */
enum { MP_READ_LOG = 0, MP_READ_LEASE = 1 };
typedef struct mp_lease_state {
  uint64_t contact_us;     /* acceptor: when it last heard from the leader it promised */
  uint64_t quiet_until_us; /* no Prepare granted before then, after a (re)start */
  uint64_t round, round_ballot, round_sent_us;
  uint32_t round_acks;
  uint64_t until_us, ballot; /* the leader's lease and the ballot it holds it in */
  uint64_t ready_slot;       /* leader: reads wait until every slot up to it is chosen */
  ctk_readbox served;        /* this step's reads */
} mp_lease_state;

typedef struct mp_peer {
  uint64_t commit;      /* its chosen prefix, as it last reported */
  uint64_t catchup_end; /* last slot of the catch-up Accept in flight, 0: none */
  uint64_t last_heard_us;
  uint64_t snap_offset;  /* snapshot.c: the bytes of our snapshot it said it holds */
  uint64_t snap_pull_us; /* when it last asked for some of it */
  int heard;             /* an Accepted of the current ballot arrived from it */
  /* Flow control (max_inflight_per_acceptor > 0): the highest slot sent to it in the broadcast
   * stream, and the highest it acknowledged; sent - acked slots are in flight to it. */
  uint64_t sent, acked;
} mp_peer;

/* snapshot.c: the state machine snapshot that replaces slots 1..held.index, and one being
 * received. */
typedef struct mp_snapshot {
  ctk_snap_held held;
  mp_config conf;     /* the configuration after slot held.index */
  uint64_t pushed_us; /* when we last pushed it to a leader behind it */
  ctk_snap_rx rx;     /* a transfer in progress */
  mp_config rx_conf;
} mp_snapshot;

struct ctk_proto {
  int id, n, q1, q2;
  int flexible; /* q1 or q2 given: fixed quorum sizes over all n nodes, no membership changes */
  ctk_multipaxos_options opt;
  uint64_t election_lo_us, election_hi_us, heartbeat_us;
  ctk_rng rng;
  int started;

  /* Acceptor state, durable. Slots 1..base were discarded (chosen, executed and covered by
   * snap); slots[i - base - 1] is slot i, for base < i <= n_slots. */
  uint64_t promised;
  mp_slot *slots;
  uint64_t base, n_slots, cap_slots;
  mp_snapshot snap;
  uint64_t live_bytes;
  /* membership.c, durable: the configuration in effect after slot base_at (the initial one, a
   * snapshot's, or one forced), which configuration commands chosen past base_at replace. */
  mp_config base_conf;
  uint64_t base_at;
  int forced; /* base_conf was forced (force N,M,...) and not yet folded into a snapshot */
  uint64_t durable_commit; /* a chosen prefix persisted when it passed a configuration command */

  /* Volatile. */
  mp_role role;
  int leader_id;
  uint64_t ballot;       /* candidate or leader: our own ballot */
  uint64_t commit_index; /* chosen prefix 1..commit_index */
  uint64_t emitted_index;
  uint64_t election_deadline_us;
  /* membership.c: the configuration that governs slot commit_index + 1 (the last configuration
   * command chosen, else base_conf), folded in through conf_synced. */
  mp_config conf;
  uint64_t conf_synced;

  /* Candidate: phase 1. best[i] is slot first_open + i, the highest-ballot value promised. */
  uint32_t promises;                    /* acceptors whose whole Promise arrived */
  uint64_t promise_next[CTK_MAX_NODES]; /* chunked Promise: the next chunk asked for */
  uint64_t first_open;
  mp_slot *best;
  uint64_t n_best, cap_best; /* slots in use, slots allocated */

  /* Leader: phase 2. */
  uint64_t sent_upto; /* highest slot broadcast */
  uint64_t *inflight; /* ring of the last slot of each broadcast batch */
  uint32_t inflight_start, inflight_count;
  mp_peer peers[CTK_MAX_NODES];
  uint64_t heartbeat_deadline_us;
  /* membership.c, leader: a configuration command proposed and not yet chosen (0: none): no
   * slot past it is proposed until it is. recovered: phase 1 found it, and the leader runs phase
   * 1 again once it is chosen. removed/removed_until_us: nodes the last change took out, still
   * sent the log for a while so that they learn it. */
  uint64_t conf_pending;
  int conf_recovered;
  uint32_t removed;
  uint64_t removed_until_us;
  uint64_t leave_deadline_us; /* removed leader: steps down by then, handed over or not */
  /* multipaxos.c, leader: it counted a quorum it formed alone (a lone voter, q1 or q2 of 1) in
   * ballot solo_ballot (0: none since) when its log ended at slot solo_upto; its Accepts wait
   * for its syncs until a peer acknowledges a slot past solo_upto (mp_note_solo). */
  uint64_t solo_ballot, solo_upto;

  /* Output. */
  uint64_t now_us;
  wire_writer persist;
  int persist_replace;
  uint64_t durable_bytes;
  ctk_outbox out;          /* this step's messages */
  ctk_commit_list commits; /* this step's */
  int out_of_memory;
  mp_lease_state lease; /* lease.c */
};
typedef struct ctk_proto mp;

static inline int mp_owner(const mp *p, uint64_t ballot) {
  return (int)((ballot - 1) % (uint64_t)p->n);
}
#define MP_SLOT(p, s) (&(p)->slots[(s) - (p)->base - 1])
static inline const mp_slot *mp_slot_at(const mp *p, uint64_t slot) {
  return slot > p->base && slot <= p->n_slots ? MP_SLOT(p, slot) : NULL;
}

/* multipaxos.c: output and slots */
/* How many slots from `first` (at most max, none past the last) fit in one Accept. */
uint32_t mp_batch_len(const mp *p, uint64_t first, uint64_t max);
wire_writer *mp_send_begin(mp *p, int to);
void mp_send_end(mp *p);
/* Makes room for slots up to `slot` (above base); 0 or -1 when out of memory. */
int mp_slots_reserve(mp *p, uint64_t slot);
/* Stores an accepted value (copying it). 0 or -1 when out of memory. */
int mp_slot_set(mp_slot *s, uint64_t ballot, const uint8_t *data, size_t len);
/* The same, with its kind and epoch. */
int mp_slot_put(mp_slot *s, uint64_t ballot, uint64_t epoch, uint8_t kind, const uint8_t *data,
                size_t len);
void mp_reset_election_timer(mp *p);
/* The leader just counted a phase 1 or phase 2 quorum that its own vote alone formed. */
void mp_note_solo(mp *p);
/* The leader took a peer's Accepted of its ballot for slots up to `last`. */
void mp_note_acked(mp *p, uint64_t last);

/* durable.c */
void mp_persist_promise(mp *p);
void mp_persist_accepted(mp *p, uint64_t first, uint64_t n);
void mp_persist_replace_all(mp *p);
void mp_persist_base(mp *p);   /* the BASE record: base_conf, base_at, forced */
void mp_persist_commit(mp *p); /* the COMMIT record: the chosen prefix */
void mp_persist_maybe_compact(mp *p);
int mp_recover(mp *p, const uint8_t *bytes, size_t len, int *torn_tail);

/* phase1.c: elections */
void mp_start_phase1(mp *p);
void mp_recv_prepare(mp *p, int from, const mp_msg *m);
void mp_recv_promise(mp *p, int from, const mp_msg *m);
void mp_become_follower(mp *p, uint64_t promised);
/* A message of ballot (>= promised) from its leader: promises it (durably when it is new) and
 * follows `from`, election timer restarted. */
void mp_follow(mp *p, int from, uint64_t ballot);

/* phase2.c: replication */
void mp_recv_accept(mp *p, int from, const mp_msg *m);
void mp_recv_accepted(mp *p, int from, const mp_msg *m);
void mp_heartbeat(mp *p);
void mp_flush(mp *p); /* broadcasts unsent slots while the pipeline has room */
void mp_maybe_commit(mp *p);
int mp_check_command(const mp *p, size_t len);
void mp_client_command(mp *p, const uint8_t *data, size_t len);
void mp_recv_forward(mp *p, const mp_msg *m);

/* lease.c */
void mp_lease_started(mp *p);
void mp_lease_note_leader(mp *p); /* an acceptor took an Accept of the ballot it promised */
/* 1 when a Prepare must be ignored: this node promised a current leader its lease. */
int mp_lease_refuses_prepare(const mp *p, const mp_msg *m);
void mp_lease_leader_init(mp *p); /* phase 1 done */
void mp_lease_tick(mp *p);        /* after every leader step: a round once per heartbeat */
void mp_lease_recv_probe(mp *p, int from, const mp_msg *m);
void mp_lease_recv_probe_reply(mp *p, int from, const mp_msg *m);
/* A client command at the leader: 1 when answered as a lease read (output.reads). */
int mp_lease_read(mp *p, const uint8_t *data, size_t len);
void mp_lease_output_reset(mp *p);
void mp_lease_output(mp *p, ctk_output *out);
void mp_lease_free(mp *p);
/* membership.c */
void mp_conf_init(mp *p, uint32_t members);
int mp_conf_decode(const uint8_t *data, size_t len, int n, mp_config *c);
void mp_conf_encode(const mp_config *c, uint8_t out[MP_CONFIG_BYTES]);
/* The configuration in effect after slot k (governing k + 1), for k <= commit_index. */
mp_config mp_conf_at(const mp *p, uint64_t k);
void mp_conf_sync(mp *p);    /* folds in configuration commands chosen through commit_index */
void mp_conf_refresh(mp *p); /* recomputes conf from base_conf (after a restore or a force) */
/* A phase 1 (phase == 1) or phase 2 quorum of c among the nodes in `have`. */
int mp_quorum(const mp *p, const mp_config *c, uint32_t have, int phase);
int mp_is_voter(const mp *p, int node);
/* The nodes the leader sends the log to (never itself). */
uint32_t mp_audience(const mp *p);
int mp_admin(mp *p, const uint8_t *data, size_t len);
void mp_membership_tick(mp *p); /* the leader, after every step */
void mp_recv_timeout_now(mp *p, int from, const mp_msg *m);
int mp_conf_check_options(const ctk_multipaxos_options *o, uint32_t members, int n, char *what,
                          size_t len);

/* snapshot.c */
void mp_snap_free(mp *p);
int mp_snap_taken(mp *p, const ctk_event *ev); /* step(SNAPSHOT) */
void mp_snap_output(mp *p, ctk_output *out);   /* snapshot_wanted, restore */
void mp_snap_persist(mp *p);                   /* the SNAPSHOT record, in a full rewrite */
int mp_snap_apply_record(mp *p, wire_reader *r);
void mp_snap_recovered(mp *p); /* after replay: commit index and restore from the snapshot */
/* Leader: a peer needs slots at or below base: pushes it our snapshot instead. */
void mp_snap_push(mp *p, int to);
void mp_snap_recv_chunk(mp *p, int from, const mp_msg *m);
void mp_snap_recv_pull(mp *p, int from, const mp_msg *m);
/* Asks `from` for its snapshot `index` (continuing a transfer of the same one). */
void mp_snap_pull(mp *p, int from, uint64_t index);
/* Drops slots 1..upto (upto <= n_slots or not): they are covered by a snapshot. */
void mp_discard_through(mp *p, uint64_t upto);

#endif /* CTK_MP_INTERNAL_H */
