/* paxos.c: the Paxos instance: create, destroy, the step dispatch, output, status, and
 * ctk_paxos_protocol.
 *
 * Every node is proposer, acceptor and learner of every slot; there is no leader. Messages a
 * node sends to itself go through the codec too, into a queue handled before the step ends, so
 * its own acceptor's promise is persisted in the same step as the prepare that asked for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/contract.h"
#include "paxos_internal.h"

static int check_options(const ctk_paxos_options *o, char *err, size_t err_len) {
  const char *what = NULL;
  if (o->backoff_ms[0] < 1 || o->backoff_ms[0] > o->backoff_ms[1] || o->backoff_ms[1] > 600000)
    what = "backoff_ms must be a range [lo, hi] with 1 <= lo <= hi <= 600000";
  else if (o->retry_timeout_ms < 1 || o->retry_timeout_ms > 600000)
    what = "retry_timeout_ms must be in [1, 600000]";
  else if (o->max_inflight_slots < 1 || o->max_inflight_slots > PAXOS_MAX_INFLIGHT)
    what = "max_inflight_slots must be in [1, 256]";
  else if (o->snapshot_every < 0 || o->snapshot_keep < 0 || o->snapshot_chunk_bytes < 64 ||
           o->snapshot_chunk_bytes > 1000000)
    what = "snapshot_every and snapshot_keep must be >= 0, snapshot_chunk_bytes in [64, 1000000]";
  if (what && err && err_len) snprintf(err, err_len, "paxos: %s", what);
  return what ? -1 : 0;
}

void paxos_value_free(paxos_value *v) {
  free(v->data);
  v->data = NULL;
  v->len = 0;
}

int paxos_value_set(paxos *p, paxos_value *v, const uint8_t *data, size_t len) {
  uint8_t *copy = NULL;
  if (len > 0) {
    copy = malloc(len);
    if (!copy) {
      p->out_of_memory = 1;
      return -1;
    }
    memcpy(copy, data, len);
  }
  free(v->data);
  v->data = copy;
  v->len = (uint32_t)len;
  return 0;
}

static void free_slots(paxos *p) {
  for (uint64_t i = 0; i < p->n_slots; i++) {
    paxos_value_free(&p->slots[i].accepted);
    paxos_value_free(&p->slots[i].value);
  }
  free(p->slots);
  p->slots = NULL;
  p->n_slots = p->base = 0;
  paxos_snap_free(p);
}

paxos_slot *paxos_slot_get(paxos *p, uint64_t slot) {
  if (slot <= p->base || slot >= PAXOS_MAX_SLOT) return NULL;
  if (slot - p->base > p->n_slots) {
    uint64_t cap = p->n_slots ? p->n_slots : 64;
    while (cap < slot - p->base) cap *= 2;
    paxos_slot *s = realloc(p->slots, cap * sizeof *s);
    if (!s) {
      p->out_of_memory = 1;
      return NULL;
    }
    memset(s + p->n_slots, 0, (cap - p->n_slots) * sizeof *s);
    p->slots = s;
    p->n_slots = cap;
  }
  return &p->slots[slot - p->base - 1];
}

void paxos_see_ballot(paxos *p, uint64_t ballot) {
  if (paxos_round(ballot) > p->max_round) p->max_round = paxos_round(ballot);
}

static void paxos_destroy(ctk_proto *p) {
  if (!p) return;
  free_slots(p);
  for (int64_t i = 0; p->proposals && i < p->opt.max_inflight_slots; i++) {
    paxos_value_free(&p->proposals[i].best);
    paxos_value_free(&p->proposals[i].own);
    paxos_value_free(&p->proposals[i].proposed);
  }
  free(p->proposals);
  for (size_t i = 0; p->queue && i < p->queue_count; i++)
    paxos_value_free(&p->queue[(p->queue_head + i) % PAXOS_MAX_QUEUE]);
  free(p->queue);
  wire_writer_free(&p->persist);
  ctk_outbox_free(&p->out);
  ctk_outbox_free(&p->self);
  ctk_commit_list_free(&p->commits);
  free(p);
}

static ctk_proto *paxos_create(const ctk_node_config *config, const void *options, char *err,
                               size_t err_len) {
  if (ctk_contract_create_check(config, options, "paxos", err, err_len) != 0) return NULL;
  const ctk_paxos_options *o = options;
  if (check_options(o, err, err_len) != 0) return NULL;
  paxos *p = calloc(1, sizeof *p);
  if (!p) goto nomem;
  p->id = config->node_id;
  p->n = config->n_nodes;
  p->opt = *o;
  ctk_rng_seed(&p->rng, config->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(config->node_id + 1)));
  p->next_slot = 1;
  p->catchup_peer = PAXOS_NO_NODE;
  wire_writer_init(&p->persist);

  p->proposals = calloc((size_t)o->max_inflight_slots, sizeof *p->proposals);
  p->queue = calloc(PAXOS_MAX_QUEUE, sizeof *p->queue);
  int boxes = ctk_outbox_init(&p->out) | ctk_outbox_init(&p->self);
  if (p->proposals && p->queue && boxes == 0) return p;
nomem:
  paxos_destroy(p);
  if (err && err_len) snprintf(err, err_len, "paxos: out of memory");
  return NULL;
}

void paxos_send(paxos *p, int to, const paxos_msg *m) {
  ctk_outbox *box = to == p->id ? &p->self : &p->out;
  paxos_msg_encode(ctk_outbox_begin(box, to), m);
  ctk_outbox_end(box);
}

void paxos_broadcast(paxos *p, const paxos_msg *m) {
  for (int i = 0; i < p->n; i++) paxos_send(p, i, m);
}

static int dispatch(paxos *p, int from, const uint8_t *bytes, size_t len) {
  paxos_msg m;
  if (paxos_msg_decode(bytes, len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  /* Ballots name their proposer, which must be a node of this cluster. */
  if (m.ballot && (int)(m.ballot & 0xff) >= p->n) return CTK_ERR_MALFORMED;
  if (m.promised && (int)(m.promised & 0xff) >= p->n) return CTK_ERR_MALFORMED;
  if (m.accepted_ballot && (int)(m.accepted_ballot & 0xff) >= p->n) return CTK_ERR_MALFORMED;
  /* A snapshot's index is no slot in play: any distance is fine. */
  int slotted = m.type != PAXOS_MSG_CATCHUP && m.type != PAXOS_MSG_SNAP_CHUNK &&
                m.type != PAXOS_MSG_SNAP_PULL;
  if (slotted && m.slot > p->applied + PAXOS_WINDOW) return CTK_ERR_MALFORMED;
  if (m.ballot) paxos_see_ballot(p, m.ballot);
  if (m.promised) paxos_see_ballot(p, m.promised);
  if (slotted && m.slot >= p->next_slot) p->next_slot = m.slot + 1;
  switch (m.type) {
  case PAXOS_MSG_PREPARE: paxos_recv_prepare(p, from, &m); break;
  case PAXOS_MSG_ACCEPT: paxos_recv_accept(p, from, &m); break;
  case PAXOS_MSG_PROMISE: paxos_recv_promise(p, from, &m); break;
  case PAXOS_MSG_ACCEPTED: paxos_recv_accepted(p, from, &m); break;
  case PAXOS_MSG_DECIDED: paxos_learn(p, m.slot, m.value, m.value_len); break;
  case PAXOS_MSG_SNAP_CHUNK: paxos_snap_recv_chunk(p, from, &m); break;
  case PAXOS_MSG_SNAP_PULL: paxos_snap_recv_pull(p, from, &m); break;
  default: paxos_recv_catchup(p, from, &m); break;
  }
  return CTK_OK;
}

/* Handles the messages this node sent itself, including those sent while handling them. */
static void drain_self(paxos *p) {
  static const size_t max_len = CTK_MAX_COMMAND_BYTES + 64;
  uint8_t *copy = malloc(max_len);
  if (!copy) {
    p->out_of_memory = 1;
    return;
  }
  for (size_t i = 0; i < p->self.n && !p->out_of_memory && !ctk_outbox_failed(&p->self); i++) {
    ctk_bytes b = ctk_outbox_bytes(&p->self, i); /* copied: handling it may grow the buffer */
    if (b.len > max_len) continue;
    memcpy(copy, b.data, b.len);
    dispatch(p, p->id, copy, b.len);
  }
  free(copy);
  if (ctk_outbox_failed(&p->self)) p->out_of_memory = 1;
  ctk_outbox_reset(&p->self);
}

static uint64_t next_deadline(const paxos *p) {
  if (!p->started) return CTK_DEADLINE_NONE;
  uint64_t d = paxos_proposer_deadline(p);
  if (p->n > 1 && p->tick_deadline_us < d) d = p->tick_deadline_us;
  return d;
}

static void reset_output(paxos *p) {
  wire_writer_reset(&p->persist);
  ctk_outbox_reset(&p->out);
  ctk_outbox_reset(&p->self);
  p->persist_replace = 0;
  p->commits.n = 0;
  p->out_of_memory = 0;
}

static void ask_for_chosen(paxos *p, int peer) {
  paxos_msg m = {.type = PAXOS_MSG_CATCHUP, .slot = p->applied + 1};
  paxos_send(p, peer, &m);
  p->catchup_peer = peer;
  p->catchup_upto = p->applied + PAXOS_CATCHUP_BATCH;
}

/* A node that got a whole batch of what it asked a peer for asks for the next batch at once, so
 * that catching up runs at the speed of round trips, not of ticks (at one batch per tick a node
 * behind a busy cluster would never catch up). A batch that comes back short ends it. */
static void continue_catch_up(paxos *p) {
  if (p->catchup_peer != PAXOS_NO_NODE && p->applied >= p->catchup_upto)
    ask_for_chosen(p, p->catchup_peer);
}

static void finish_output(paxos *p, ctk_output *out) {
  /* Slots are applied in order 1, 2, 3, ... with no gaps. */
  const paxos_slot *next;
  while ((next = paxos_slot_at(p, p->applied + 1)) && next->chosen && !p->out_of_memory) {
    const paxos_value *v = &next->value;
    if (ctk_commit_list_push(&p->commits, p->applied + 1, v->data, v->len) != 0) {
      p->out_of_memory = 1;
      break;
    }
    p->applied++;
  }
  if (!p->out_of_memory) continue_catch_up(p);
  *out = (ctk_output){0};
  out->persist = (ctk_bytes){p->persist.data, p->persist.len};
  out->persist_replace = p->persist_replace;
  out->messages = ctk_outbox_messages(&p->out);
  out->n_messages = p->out.n;
  out->commits = p->commits.items;
  out->n_commits = p->commits.n;
  out->next_deadline_us = next_deadline(p);
  paxos_snap_output(p, out);
}

static int start(paxos *p, const ctk_event *ev) {
  int torn_tail;
  int rc = paxos_recover(p, ev->bytes.data, ev->bytes.len, &torn_tail);
  if (rc != CTK_OK) {
    free_slots(p);
    p->next_slot = 1;
    p->max_round = 0;
    return rc;
  }
  paxos_snap_recovered(p);
  p->started = 1;
  p->tick_deadline_us = ev->now_us + (uint64_t)p->opt.retry_timeout_ms * 1000;
  p->stalled_since_us = ev->now_us;
  if (torn_tail) paxos_persist_replace_all(p);
  return CTK_OK;
}

/* The periodic tick: ask a peer for chosen values from the first unapplied slot on (catch-up),
 * and when a known slot stays unchosen for a whole period, propose a no-op there: phase 1 finds
 * any value that may have been chosen, so the gap closes either way. */
static void tick(paxos *p) {
  if (p->now_us < p->tick_deadline_us) return;
  p->tick_deadline_us = p->now_us + (uint64_t)p->opt.retry_timeout_ms * 1000;
  if (p->n == 1) return;
  int peer = (int)ctk_rng_range(&p->rng, 0, (uint64_t)p->n - 2);
  if (peer >= p->id) peer++;
  ask_for_chosen(p, peer);
  if (p->applied != p->stalled_at) {
    p->stalled_at = p->applied;
    p->stalled_since_us = p->now_us;
  }
}

static int paxos_step(ctk_proto *p, const ctk_event *ev, ctk_output *out) {
  reset_output(p);
  int rc = CTK_ERR_INVALID;
  if (!ctk_contract_step_admits(ev, p->started)) goto done;
  p->now_us = ev->now_us;
  if (ev->kind == CTK_EVENT_START) {
    rc = start(p, ev);
    goto done;
  }
  switch (ev->kind) {
  case CTK_EVENT_MESSAGE:
    if (ev->from < 0 || ev->from >= p->n || ev->from == p->id) {
      rc = CTK_ERR_MALFORMED;
      break;
    }
    rc = dispatch(p, ev->from, ev->bytes.data, ev->bytes.len);
    break;
  case CTK_EVENT_TIMEOUT:
    tick(p);
    paxos_proposer_timeout(p);
    rc = CTK_OK;
    break;
  case CTK_EVENT_COMMAND:
    if (ev->bytes.len > CTK_MAX_COMMAND_BYTES || (ev->bytes.len > 0 && !ev->bytes.data))
      rc = CTK_ERR_INVALID;
    else if (ev->bytes.len == 0)
      rc = CTK_ERR_INVALID; /* an empty command is a no-op on the log */
    else
      rc = paxos_submit(p, ev->bytes.data, ev->bytes.len);
    break;
  case CTK_EVENT_SNAPSHOT: rc = paxos_snap_taken(p, ev); break;
  default: break;
  }
  if (rc == CTK_OK) {
    paxos_pump(p);
    drain_self(p);
  }
done:
  if (rc == CTK_OK) {
    finish_output(p, out);
    if (!p->out_of_memory && !p->persist.failed && !ctk_outbox_failed(&p->out)) return CTK_OK;
    rc = CTK_ERR_NOMEM;
  }
  reset_output(p);
  *out = (ctk_output){0};
  out->next_deadline_us = next_deadline(p);
  return rc;
}

static void paxos_status(const ctk_proto *p, ctk_status *s) {
  s->role = CTK_ROLE_NONE;
  s->term = p->max_round;
  s->leader_id = PAXOS_NO_NODE;
  s->commit_index = p->applied;
  s->log_length = p->next_slot - 1;
  s->snapshot_index = p->snap.held.index;
  s->members = s->learners = 0; /* static membership */
}

const ctk_protocol_def ctk_paxos_protocol = {
    .name = "paxos",
    .summary = "classic Paxos: single-decree Paxos per log slot, no leader (Lamport)",
    .flags = CTK_PROTO_TOTAL_ORDER,
    .options = paxos_option_specs,
    .n_options = PAXOS_N_OPTIONS,
    .options_size = sizeof(ctk_paxos_options),
    .create = paxos_create,
    .destroy = paxos_destroy,
    .step = paxos_step,
    .status = paxos_status,
    .describe = paxos_describe,
};
