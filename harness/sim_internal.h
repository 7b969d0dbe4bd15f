/* sim_internal.h: the simulator's state, shared by its files: sim.c (nodes, steps, runs),
 * sim_queue.c (the event queue), sim_net.c (network and fault schedule), sim_client.c (clients)
 * and sim_check.c (invariants). */
#ifndef CTK_SIM_INTERNAL_H
#define CTK_SIM_INTERNAL_H

#include <stdint.h>
#include <xxhash.h>

#include "common/rng.h"
#include "common/wire.h"
#include "kv.h"
#include "sim.h"
#include "workload.h"

/* ---- the event queue: a binary heap ordered by (time, seq) ---- */

typedef enum sim_event_type {
  EV_DELIVER = 1,    /* a message reaches node `node` from `from` */
  EV_NODE_RUN,       /* node works through its input queue */
  EV_SYNC_DONE,      /* node's pending persist is durable */
  EV_TIMER,          /* node's protocol deadline */
  EV_CLIENT_ARRIVE,  /* a client request reaches node `node` from client `from` */
  EV_CLIENT_REPLY,   /* a reply reaches client `node` */
  EV_CLIENT_TIMEOUT, /* client `node`'s timer: its attempt may have timed out */
  EV_CLIENT_NEXT,    /* client `node` starts its next operation or attempt */
  EV_ARRIVAL,        /* open loop: the next request arrives (Poisson) */
  EV_FAULT_START,    /* fault `node` of the schedule begins */
  EV_FAULT_END,      /* fault `node` of the schedule heals */
  EV_ADMIN_RETRY,    /* operator request `node` of the schedule tries again */
  EV_EARLY_SEND,     /* node's batch is stepped: its early messages leave, its sync goes on */
} sim_event_type;

typedef struct sim_event {
  uint64_t time, seq;
  uint64_t
      gen; /* node events: the incarnation they belong to; EV_CLIENT_NEXT: 0 next op, 1 retry */
  uint8_t *data; /* owned payload (message, command or reply bytes) */
  uint32_t len;
  uint64_t sent_us; /* when it was scheduled (a message's send time) */
  uint8_t type;
  int32_t node, from;
} sim_event;

typedef struct sim_queue {
  sim_event *heap;
  size_t n, cap;
  uint64_t next_seq;
} sim_queue;

int sim_queue_push(sim_queue *q, sim_event *ev); /* assigns ev->seq; 0 or -1 (no memory) */
int sim_queue_pop(sim_queue *q, sim_event *ev);  /* 1 when an event was popped */
const sim_event *sim_queue_peek(const sim_queue *q);
void sim_queue_free(sim_queue *q);

/* ---- nodes ---- */

typedef struct sim_input {
  ctk_event_kind kind;
  int from;      /* MESSAGE: sender; COMMAND: client id */
  uint8_t *data; /* owned */
  uint32_t len;
  uint64_t index; /* SNAPSHOT: the last commit the snapshot reflects */
} sim_input;

typedef struct sim_held_message {
  int to;
  int early; /* may leave before the sync (protocol.h, n_messages_early) */
  uint8_t *data;
  uint32_t len;
} sim_held_message;

/* What a step's output does to the state machine, held until the step's sync: apply a commit,
 * answer a read without a log write (output.reads), replace the store with a protocol's
 * snapshot, or take a snapshot of it for the protocol. */
typedef enum sim_held_kind {
  HELD_COMMIT = 0,
  HELD_READ,
  HELD_RESTORE,
  HELD_SNAPSHOT
} sim_held_kind;

typedef struct sim_held_commit {
  sim_held_kind kind;
  uint64_t index; /* COMMIT: its index; RESTORE: the last commit in it; SNAPSHOT: wanted at */
  uint8_t *data;  /* COMMIT, READ: the command; RESTORE: the snapshot */
  uint32_t len;
} sim_held_commit;

typedef struct sim_node {
  ctk_proto *proto;
  int alive;
  int lost; /* crashed for good (a permanent crash): never restarts */
  uint64_t incarnation;
  wire_writer durable; /* synced bytes */
  wire_writer pending; /* persisted by steps, not yet synced */
  int pending_replace;
  int syncing;
  int run_scheduled;
  sim_input *inbox; /* ring buffer */
  size_t inbox_head, inbox_n, inbox_cap;
  sim_held_message *held_msgs;
  size_t n_held_msgs, cap_held_msgs;
  size_t n_held_early; /* of held_msgs, early ones not yet sent */
  sim_held_commit *held_commits;
  size_t n_held_commits, cap_held_commits;
  uint64_t deadline_us;       /* the protocol's deadline on the real clock, or CTK_DEADLINE_NONE */
  uint64_t deadline_local_us; /* the same, as the protocol asked for it (its own clock) */
  /* The node's own clock (clock_skew faults): local = base_local + (real - base_real) * rate. */
  double clock_rate;
  uint64_t clock_base_real_us, clock_base_local_us, clock_last_local_us;
  uint64_t timer_event_us; /* when the EV_TIMER event this node relies on fires, or NONE */
  int timer_frozen;        /* scripted: the timer does not fire until ctk_sim_freeze_timer(0) */
  ctk_kv *kv;
  uint64_t applied;   /* last index applied to kv in this incarnation */
  uint64_t committed; /* last index emitted by the protocol in this incarnation */
  uint64_t last_commit_status;
  uint64_t *pending_seq; /* per client: the request seq waiting for an answer here, 0: none */
  uint64_t led_term;     /* the term this node was last seen leading, to count leader changes */
  uint32_t seen_members, seen_learners; /* the membership its status last showed */
  uint64_t msgs_sent;
  uint64_t msgs_sent_to[CTK_MAX_NODES];
  /* network faults, recomputed from the active fault set */
  double slow_factor;
  int isolated, scripted_isolated;
  double extra_loss, extra_dup, extra_reorder;
  uint64_t extra_delay_us;
} sim_node;

/* ---- clients ---- */

typedef struct sim_client {
  uint64_t seq;
  int active; /* an operation is outstanding */
  int done;   /* issues nothing more */
  ctk_op op;
  uint64_t intended_us; /* when it was meant to be sent: latency counts from here */
  int attempts;
  uint64_t attempt_deadline_us; /* the outstanding attempt times out then, or NONE */
  uint64_t timer_event_us;      /* when its pending EV_CLIENT_TIMEOUT fires, or NONE */
  int target;
  int leader_hint;
  uint8_t cmd[CTK_MAX_COMMAND_BYTES];
  uint32_t cmd_len;
} sim_client;

/* A reply travelling to a client (the payload of EV_CLIENT_REPLY), sized to its value. */
#define SIM_REFUSED 1
#define SIM_BUSY    2

typedef struct sim_reply {
  uint64_t seq;
  int rejected; /* 0: answered; SIM_REFUSED: not here; SIM_BUSY: here, but full (backpressure) */
  int leader_hint;
  int ok, found;
  int read_only; /* answered without a log write (output.reads): in no log, by design */
  char value[];  /* get: the value read, NUL-terminated ("" otherwise) */
} sim_reply;

/* ---- the fault schedule ---- */

typedef struct sim_fault {
  ctk_fault spec;
  int active;
  int target; /* resolved node when it started */
  int side[CTK_MAX_NODES], n_side;
  int event;                  /* its entry in fault_events once it has fired */
  uint64_t admin_deadline_us; /* operator requests: tried until then */
} sim_fault;

/* ---- invariants ---- */

typedef struct sim_commit_record {
  uint64_t hash;
  uint8_t *data;
  uint32_t len;
  int first_node;
} sim_commit_record;

typedef struct sim_term_leader {
  uint64_t term; /* 0: empty slot */
  int leader;
} sim_term_leader;

/* The per-key execution order (sim_order.c). A key's writes as first executed, and where each
 * node is in them; a read's place (the writes before it) at its first executions. */
typedef struct sim_order_key {
  uint64_t id; /* hash of the key; 0: empty slot */
  uint64_t *writes;
  int *first_node;
  size_t n_writes, cap_writes;
  uint32_t pos[CTK_MAX_NODES];
} sim_order_key;

typedef struct sim_order_read {
  uint64_t id; /* hash of the read command; 0: empty slot */
  uint32_t count[CTK_MAX_NODES];
  uint32_t gap[4]; /* writes before it + 1, per occurrence; 0: not seen */
  int first_node[4];
} sim_order_read;

typedef struct sim_order {
  sim_order_key *keys;
  size_t keys_n, keys_cap;
  sim_order_read *reads;
  size_t reads_n, reads_cap;
  uint64_t *executed; /* client << 40 | seq of every command executed anywhere */
  size_t n_executed, cap_executed;
  /* Where a node stood in each key's writes when it took a snapshot, for the nodes that later
   * restore that snapshot (the most recent SIM_ORDER_SNAPSHOTS). */
  struct sim_order_snapshot {
    uint64_t hash;  /* of the snapshot's bytes; 0: empty */
    uint64_t index; /* the commit index it was taken at */
    uint64_t *keys;
    uint32_t *pos;
    size_t n;
  } snapshots[64];
  size_t next_snapshot;
  /* The snapshot each node holds: the last it took or restored. A node may restore (or send a
   * peer) one older than the last 64 taken anywhere, e.g. after a long crash. */
  struct sim_order_snapshot held[CTK_MAX_NODES];
  /* A node restored a snapshot no longer remembered: its place in the keys' writes is unknown,
   * so its order is not checked until it starts over. */
  uint8_t unanchored[CTK_MAX_NODES];
} sim_order;

/* One message for the HTML page (sim_html.c). */
typedef struct sim_html_msg {
  uint64_t sent_us, arrived_us;
  int16_t from, to;
  uint8_t lost;  /* the receiver was down or cut off when it arrived */
  char what[95]; /* the protocol's description, cut to fit */
} sim_html_msg;

/* A message of the manual network, in flight until a script delivers or drops it. */
typedef struct sim_flight {
  int from, to;
  uint8_t *data; /* owned */
  uint32_t len;
  uint64_t sent_us;
} sim_flight;

/* What one node was, over time (sim_timeline.c). */
typedef struct sim_timeline {
  uint64_t *times;
  char *states;
  size_t n, cap;
} sim_timeline;

typedef enum sim_phase { PHASE_SAFETY = 0, PHASE_LIVENESS, PHASE_DONE } sim_phase;

struct ctk_simulator {
  ctk_config config; /* a copy; protocol_options points into options_copy */
  void *options_copy;
  ctk_sim_options options;
  const ctk_protocol_def *proto;
  int n;
  ctk_rng rng;
  sim_queue queue;
  uint64_t now_us;
  sim_node nodes[CTK_MAX_NODES];
  int scripted_block[CTK_MAX_NODES][CTK_MAX_NODES];
  int fault_block[CTK_MAX_NODES][CTK_MAX_NODES];
  double base_loss;
  sim_fault *faults;
  int n_faults, cap_faults;
  double chase_p; /* probability of chasing each new leader with a fault */
  ctk_fault_event fault_events[CTK_SIM_MAX_FAULT_EVENTS]; /* in the order they fired */
  int n_fault_events;
  sim_client *clients;
  int n_clients;
  /* open loop: arrivals waiting for a free client, by intended send time */
  uint64_t *backlog;
  size_t backlog_head, backlog_n, backlog_cap;
  ctk_workload_gen workload;
  sim_phase phase;
  uint64_t safety_end_us, liveness_end_us;
  uint64_t scripted_seq; /* sequence numbers of ctk_sim_submit_put */
  int64_t ops_budget;    /* ops left to invoke when workload.ops is used; -1 unbounded */
  ctk_history history;
  ctk_sim_stats stats;
  /* invariants */
  char violation[1024];
  int violated;
  int forced;             /* forced reconfigurations so far */
  uint64_t forced_losses; /* safety breaks after one (sim_safety_violation) */
  char forced_loss[1024]; /* the first of them */
  sim_commit_record *log;
  size_t log_len, log_cap;
  uint64_t *acked; /* client << 40 | seq of every answered operation */
  size_t n_acked, cap_acked;
  sim_term_leader *terms;
  size_t terms_cap, terms_n;
  sim_order order;
  ctk_counts counters; /* the protocol's, of the node incarnations that crashed */
  sim_timeline timelines[CTK_MAX_NODES];
  sim_html_msg *html_msgs;
  size_t html_n, html_cap;
  sim_flight *flight; /* options.manual_network: messages sent, not yet delivered or dropped */
  size_t flight_n, flight_cap;
  XXH3_state_t *trace_state;
  char line[2048]; /* scratch for trace lines */
};

/* sim_node.c */
int sim_node_create(ctk_simulator *self, int node, char *err, size_t err_len);
void sim_node_run(ctk_simulator *self, int node);        /* EV_NODE_RUN */
void sim_node_sync_done(ctk_simulator *self, int node);  /* EV_SYNC_DONE */
void sim_node_send_early(ctk_simulator *self, int node); /* EV_EARLY_SEND */
void sim_node_timer(ctk_simulator *self, int node, uint64_t event_us, uint64_t incarnation);
void sim_node_free(ctk_simulator *self, int node);
/* Queues an input for node (copying data). */
void sim_node_input(ctk_simulator *self, int node, ctk_event_kind kind, int from,
                    const uint8_t *data, uint32_t len);
/* The same, taking ownership of data (malloc'd, or NULL). */
void sim_node_input_take(ctk_simulator *self, int node, ctk_event_kind kind, int from,
                         uint8_t *data, uint32_t len);
void sim_node_crash(ctk_simulator *self, int node);
/* The node's clock runs at rate local seconds per real second from now on (1: true time). */
void sim_node_set_clock_rate(ctk_simulator *self, int node, double rate);
void sim_node_restart(ctk_simulator *self, int node);

/* sim.c */
void sim_trace(ctk_simulator *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_violation(ctk_simulator *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_schedule(ctk_simulator *self, uint64_t time, sim_event_type type, int node, int from,
                  uint64_t gen, uint8_t *data, uint32_t len);
int sim_current_leader(const ctk_simulator *self);

/* sim_net.c */
/* Sends a message, taking ownership of data (malloc'd). */
void sim_net_send_take(ctk_simulator *self, int from, int to, uint8_t *data, uint32_t len);
int sim_net_client_link_up(const ctk_simulator *self, int node);
/* A partition or isolation cuts messages on the wire too: checked at send and at delivery. */
int sim_net_link_blocked(const ctk_simulator *self, int from, int to);
void sim_faults_schedule(ctk_simulator *self);
void sim_fault_start(ctk_simulator *self, int i);
void sim_fault_end(ctk_simulator *self, int i);
void sim_faults_heal_all(ctk_simulator *self);
void sim_net_recompute(ctk_simulator *self);
void sim_net_free(ctk_simulator *self); /* the manual network's messages in flight */
void sim_chase_leader(ctk_simulator *self, int node);

/* sim_client.c */
int sim_clients_init(ctk_simulator *self);
/* Starts the workload: every client at once (closed loop), or the first arrival (open loop). */
void sim_clients_start(ctk_simulator *self);
void sim_client_arrival(ctk_simulator *self); /* EV_ARRIVAL */
void sim_clients_free(ctk_simulator *self);
void sim_client_next(ctk_simulator *self, int c, uint64_t gen);
void sim_client_timeout(ctk_simulator *self, int c, uint64_t event_us);
void sim_client_reply(ctk_simulator *self, int c, const sim_reply *reply);
void sim_client_arrive(ctk_simulator *self, int node, int c, const uint8_t *cmd, uint32_t len);
/* Node answers client c about request seq: rejected (with a leader hint), or with its result
 * (value: what a get read, or NULL; read_only: a read answered without a log write). */
void sim_node_reply(ctk_simulator *self, int node, int c, uint64_t seq, int rejected,
                    int leader_hint, int ok, int found, const char *value, int read_only);
int sim_clients_idle(const ctk_simulator *self);

/* sim_html.c */
void sim_html_message(ctk_simulator *self, const sim_event *ev, int lost);
void sim_html_render(const ctk_simulator *self, FILE *out);
void sim_shiviz_render(const ctk_simulator *self, FILE *out);
void sim_html_free(ctk_simulator *self);

/* sim_admin.c */
int sim_fault_is_admin(ctk_fault_kind kind);
void sim_admin_start(ctk_simulator *self, int i); /* fault i is an operator request */
void sim_admin_retry(ctk_simulator *self, int i); /* EV_ADMIN_RETRY */
/* Traces a change of the membership node's status shows (not its first). */
void sim_admin_note_members(ctk_simulator *self, int node, const ctk_status *st);
/* Appends the requests sim.random_membership draws (at most max) to *faults (realloc'd). */
int sim_admin_random(ctk_simulator *self, ctk_fault **faults, int *n, int max);
/* Node answered operator request i (the fault's index) with rc. */
void sim_admin_result(ctk_simulator *self, int node, int i, int rc);
/* A safety check failed: a violation, unless the run was forced (see sim_admin.c). */
void sim_safety_violation(ctk_simulator *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* sim_timeline.c */
void sim_timeline_note(ctk_simulator *self, int node);
void sim_timeline_note_all(ctk_simulator *self); /* after a change of connectivity */
void sim_timeline_render(const ctk_simulator *self, FILE *out);
void sim_timeline_free(ctk_simulator *self);

/* sim_check.c */
/* The protocol's status of node i, read into a struct filled with a poison pattern first, so that
 * a field the protocol leaves unset is caught (sim_check_status) rather than read as stack. */
void sim_status(const ctk_simulator *self, int i, ctk_status *st);
void sim_check_status(ctk_simulator *self, int node, const ctk_status *st);
void sim_check_commit(ctk_simulator *self, int node, uint64_t index, const uint8_t *data,
                      uint32_t len);
void sim_check_acknowledged(ctk_simulator *self);
void sim_note_acknowledged(ctk_simulator *self, int client, uint64_t seq);
void sim_check_free(ctk_simulator *self);

/* sim_order.c */
/* A node executed (committed) this command: checks its place among the key's commands. */
void sim_order_note(ctk_simulator *self, int node, const uint8_t *data, uint32_t len);
void sim_order_node_reset(ctk_simulator *self, int node); /* the node starts over */
/* A node snapshotted its store (whose bytes hash to `snapshot`), or replaced its store by one. */
void sim_order_snapshot_taken(ctk_simulator *self, int node, uint64_t snapshot, uint64_t index);
void sim_order_snapshot_restored(ctk_simulator *self, int node, uint64_t snapshot, uint64_t index);
/* Every command executed anywhere (client << 40 | seq), sorted, with duplicates. */
int sim_order_executed_sorted(ctk_simulator *self, const uint64_t **ids, size_t *n);
void sim_order_free(ctk_simulator *self);

#endif /* CTK_SIM_INTERNAL_H */
