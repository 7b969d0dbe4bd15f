/* paxos_internal.h: what the files of the Paxos implementation share with each other. */
#ifndef CTK_PAXOS_INTERNAL_H
#define CTK_PAXOS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/commitlist.h"
#include "../common/outbox.h"
#include "../common/rng.h"
#include "../common/snapheld.h"
#include "../common/wire.h"
#include "paxos.h"

#define PAXOS_N_OPTIONS 7
extern const ctk_option_spec paxos_option_specs[PAXOS_N_OPTIONS];

/* Bounds. A ballot is (round, node id) packed as round << 8 | id, so ballots of different nodes
 * never tie and compare as integers. Slots beyond the applied position plus PAXOS_WINDOW are
 * refused (a node that far behind catches up first). */
#define PAXOS_MAX_ROUND     (1ull << 48)
#define PAXOS_MAX_SLOT      (1ull << 40)
#define PAXOS_WINDOW        (1u << 16)
#define PAXOS_MAX_QUEUE     1024 /* client commands waiting for a slot */
#define PAXOS_MAX_INFLIGHT  256
#define PAXOS_CATCHUP_BATCH 64 /* chosen values sent for one catch-up request */
#define PAXOS_NO_NODE       (-1)
#define PAXOS_MAX_SNAPSHOT  (1ull << 31) /* bytes of one state machine snapshot */

static inline uint64_t paxos_ballot(uint64_t round, int id) { return round << 8 | (uint64_t)id; }
static inline uint64_t paxos_round(uint64_t ballot) { return ballot >> 8; }

/* ---- codec.c ---- */

#define PAXOS_WIRE_VERSION 2

typedef enum paxos_msg_type {
  PAXOS_MSG_PREPARE = 1,    /* slot, ballot */
  PAXOS_MSG_PROMISE = 2,    /* slot, ballot, ok, promised, accepted ballot, value */
  PAXOS_MSG_ACCEPT = 3,     /* slot, ballot, value */
  PAXOS_MSG_ACCEPTED = 4,   /* slot, ballot, ok, promised */
  PAXOS_MSG_DECIDED = 5,    /* slot, value */
  PAXOS_MSG_CATCHUP = 6,    /* slot: send me what was chosen from here on */
  PAXOS_MSG_SNAP_CHUNK = 7, /* snapshot.c: slot = the snapshot's index, total, offset, bytes */
  PAXOS_MSG_SNAP_PULL =
      8, /* snapshot.c: slot = the snapshot's index, offset = bytes held, applied */
} paxos_msg_type;

typedef struct paxos_msg {
  uint8_t type;
  uint64_t slot, ballot;
  int ok;
  uint64_t promised, accepted_ballot; /* accepted_ballot 0: nothing accepted */
  const uint8_t *value;               /* borrowed from the input */
  size_t value_len;
  uint64_t total, offset, applied; /* SNAP_CHUNK: total, offset; SNAP_PULL: offset, applied */
} paxos_msg;

int paxos_msg_decode(const uint8_t *bytes, size_t len, paxos_msg *m);
void paxos_msg_encode(wire_writer *w, const paxos_msg *m);
int paxos_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len);

/* ---- the instance ---- */

typedef struct paxos_value {
  uint8_t *data; /* owned; NULL when len == 0 (a no-op) */
  uint32_t len;
} paxos_value;

/* One slot: acceptor state (durable) and learner state (volatile). */
typedef struct paxos_slot {
  uint64_t promised, accepted_ballot;
  paxos_value accepted;
  int chosen;
  paxos_value value; /* the chosen value */
} paxos_slot;

/* One proposal of this node for one slot. phase 0: backing off; 1: prepare; 2: accept. */
typedef struct paxos_proposal {
  int active, phase;
  uint64_t slot, ballot, deadline_us;
  uint32_t promises, accepts; /* bitmasks of nodes */
  uint64_t best_ballot;       /* highest accepted ballot among the promises */
  paxos_value best;           /* its value */
  int has_own;                /* own holds a client command this proposal is for */
  paxos_value own;
  paxos_value proposed; /* the value of phase 2 */
} paxos_proposal;

/* snapshot.c: the state machine snapshot that replaces slots 1..held.index, and one being
 * received. */
typedef struct paxos_snapshot {
  ctk_snap_held held;
  ctk_snap_rx rx; /* a transfer in progress */
} paxos_snapshot;

struct ctk_proto {
  int id, n;
  ctk_paxos_options opt;
  ctk_rng rng;
  int started;

  paxos_slot *slots; /* slots[i - base - 1] is slot i; slots 1..base are in snap */
  uint64_t base;
  uint64_t n_slots; /* allocated */
  paxos_snapshot snap;
  uint64_t next_slot; /* one past the highest slot known to exist */
  uint64_t applied;   /* highest slot emitted in commits */
  uint64_t max_round;
  uint64_t tick_deadline_us, stalled_since_us, stalled_at;
  int catchup_peer;      /* the peer asked for chosen values last, or PAXOS_NO_NODE */
  uint64_t catchup_upto; /* the last slot of that request */

  paxos_proposal *proposals; /* opt.max_inflight_slots of them */
  paxos_value *queue;        /* ring of client commands */
  size_t queue_head, queue_count;

  uint64_t now_us;
  wire_writer persist;
  int persist_replace;
  ctk_outbox out;          /* messages to the other nodes */
  ctk_outbox self;         /* messages to itself, handled later in the same step */
  ctk_commit_list commits; /* this step's */
  int out_of_memory;
};

typedef struct ctk_proto paxos;

static inline int paxos_majority(const paxos *p) { return p->n / 2 + 1; }
/* The slot if it is held (allocated and not discarded), else NULL. */
static inline paxos_slot *paxos_slot_at(const paxos *p, uint64_t slot) {
  return slot > p->base && slot - p->base <= p->n_slots ? &p->slots[slot - p->base - 1] : NULL;
}

/* paxos.c */
void paxos_send(paxos *p, int to, const paxos_msg *m);
void paxos_broadcast(paxos *p, const paxos_msg *m); /* to every node, itself included */
/* The slot, allocated on demand; NULL when out of the window, discarded (at or below base) or
 * out of memory. */
paxos_slot *paxos_slot_get(paxos *p, uint64_t slot);
int paxos_value_set(paxos *p, paxos_value *v, const uint8_t *data, size_t len);
void paxos_value_free(paxos_value *v);
void paxos_see_ballot(paxos *p, uint64_t ballot);

/* acceptor.c: acceptor and learner */
void paxos_recv_prepare(paxos *p, int from, const paxos_msg *m);
void paxos_recv_accept(paxos *p, int from, const paxos_msg *m);
void paxos_learn(paxos *p, uint64_t slot, const uint8_t *value, size_t len);
void paxos_recv_catchup(paxos *p, int from, const paxos_msg *m);

/* proposer.c */
int paxos_submit(paxos *p, const uint8_t *data, size_t len);
void paxos_recv_promise(paxos *p, int from, const paxos_msg *m);
void paxos_recv_accepted(paxos *p, int from, const paxos_msg *m);
void paxos_proposals_chosen(paxos *p, uint64_t slot); /* a slot got chosen */
/* Slots through `upto` were installed from a snapshot: their proposals end, commands requeued
 * (the store answers a command executed twice from its session table). */
void paxos_proposals_snapshot(paxos *p, uint64_t upto);
void paxos_proposer_timeout(paxos *p);
void paxos_pump(paxos *p); /* starts proposals for queued commands */
uint64_t paxos_proposer_deadline(const paxos *p);

/* durable.c */
void paxos_persist_promise(paxos *p, uint64_t slot, uint64_t ballot);
void paxos_persist_accept(paxos *p, uint64_t slot, uint64_t ballot, const uint8_t *v, size_t len);
void paxos_persist_chosen(paxos *p, uint64_t slot, const uint8_t *v, size_t len);
void paxos_persist_replace_all(paxos *p);
int paxos_recover(paxos *p, const uint8_t *bytes, size_t len, int *torn_tail);

/* snapshot.c */
void paxos_snap_free(paxos *p);
int paxos_snap_taken(paxos *p, const ctk_event *ev); /* step(SNAPSHOT) */
void paxos_snap_output(paxos *p, ctk_output *out);   /* snapshot_wanted, restore */
int paxos_snap_apply_record(paxos *p, uint64_t index, uint64_t base, const uint8_t *data,
                            size_t len);
void paxos_snap_recovered(paxos *p);
/* A peer asked for slots from `slot` on: 1 when they are gone and the snapshot went instead. */
int paxos_snap_offer(paxos *p, int to, uint64_t slot);
void paxos_snap_recv_chunk(paxos *p, int from, const paxos_msg *m);
void paxos_snap_recv_pull(paxos *p, int from, const paxos_msg *m);

#endif /* CTK_PAXOS_INTERNAL_H */
