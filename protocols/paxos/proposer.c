/* proposer.c: the proposer role: client commands queued, each proposed for the next free slot
 * this node knows of, two phases per slot with ballots (round, node id), randomized back-off
 * when beaten, and the retry of a command whose slot went to another value.
 *
 * From "Paxos Made Simple", phase 2(a): "If the proposer receives a response to its prepare
 * requests (numbered n) from a majority of acceptors, then it sends an accept request ... with a
 * value v, where v is the value of the highest-numbered proposal among the responses, or is any
 * value if the responses reported no proposals." A proposer that must propose another's value
 * keeps its own command and proposes it again in a later slot. */
#include <string.h>

#include "paxos_internal.h"

static uint64_t retry_us(const paxos *p) { return (uint64_t)p->opt.retry_timeout_ms * 1000; }

int paxos_submit(paxos *p, const uint8_t *data, size_t len) {
  /* Room is kept for the commands of proposals in flight, which may come back to the queue. */
  if (p->queue_count + (size_t)p->opt.max_inflight_slots >= PAXOS_MAX_QUEUE) return CTK_ERR_BUSY;
  paxos_value *v = &p->queue[(p->queue_head + p->queue_count) % PAXOS_MAX_QUEUE];
  *v = (paxos_value){0};
  if (paxos_value_set(p, v, data, len) != 0) {
    p->out_of_memory = 0;
    return CTK_ERR_NOMEM;
  }
  p->queue_count++;
  return CTK_OK;
}

/* Puts a command back at the front of the queue: it was first, it goes first again. */
static void requeue(paxos *p, paxos_value *own) {
  if (p->queue_count >= PAXOS_MAX_QUEUE) { /* cannot happen: room is reserved */
    paxos_value_free(own);
    return;
  }
  p->queue_head = (p->queue_head + PAXOS_MAX_QUEUE - 1) % PAXOS_MAX_QUEUE;
  p->queue[p->queue_head] = *own;
  p->queue_count++;
  *own = (paxos_value){0};
}

static void send_prepare(paxos *p, paxos_proposal *pr) {
  p->max_round++;
  pr->ballot = paxos_ballot(p->max_round, p->id);
  pr->phase = 1;
  pr->promises = pr->accepts = 0;
  pr->best_ballot = 0;
  paxos_value_free(&pr->best);
  pr->deadline_us = p->now_us + retry_us(p);
  paxos_msg m = {.type = PAXOS_MSG_PREPARE, .slot = pr->slot, .ballot = pr->ballot};
  paxos_broadcast(p, &m);
}

static paxos_proposal *find(paxos *p, uint64_t slot) {
  for (int64_t i = 0; i < p->opt.max_inflight_slots; i++)
    if (p->proposals[i].active && p->proposals[i].slot == slot) return &p->proposals[i];
  return NULL;
}

static paxos_proposal *free_proposal(paxos *p) {
  for (int64_t i = 0; i < p->opt.max_inflight_slots; i++)
    if (!p->proposals[i].active) return &p->proposals[i];
  return NULL;
}

static int slot_chosen(const paxos *p, uint64_t slot) {
  const paxos_slot *s = paxos_slot_at(p, slot);
  return slot <= p->base || (s && s->chosen);
}

/* The next slot no proposal of this node holds and not known chosen. */
static uint64_t next_free_slot(paxos *p) {
  uint64_t s = p->next_slot > p->applied + 1 ? p->next_slot : p->applied + 1;
  while (slot_chosen(p, s) || find(p, s)) s++;
  return s;
}

static void start(paxos *p, paxos_proposal *pr, uint64_t slot) {
  pr->active = 1;
  pr->slot = slot;
  if (slot >= p->next_slot) p->next_slot = slot + 1;
  send_prepare(p, pr);
}

void paxos_pump(paxos *p) {
  while (p->queue_count > 0) {
    paxos_proposal *pr = free_proposal(p);
    if (!pr) return;
    uint64_t slot = next_free_slot(p);
    if (slot > p->applied + PAXOS_WINDOW) return;
    paxos_value_free(&pr->own);
    pr->own = p->queue[p->queue_head];
    p->queue[p->queue_head] = (paxos_value){0};
    p->queue_head = (p->queue_head + 1) % PAXOS_MAX_QUEUE;
    p->queue_count--;
    pr->has_own = 1;
    start(p, pr, slot);
  }
}

/* The slot of this proposal is chosen: its command is done if the chosen value is the command,
 * else the command goes back to the queue for a later slot. */
static void finish(paxos *p, paxos_proposal *pr) {
  const paxos_slot *s = paxos_slot_at(p, pr->slot); /* NULL: in a snapshot, value unknown */
  const paxos_value *v = s ? &s->value : NULL;
  if (pr->has_own &&
      !(v && v->len == pr->own.len && (v->len == 0 || !memcmp(v->data, pr->own.data, v->len))))
    requeue(p, &pr->own);
  paxos_value_free(&pr->own);
  paxos_value_free(&pr->best);
  paxos_value_free(&pr->proposed);
  pr->has_own = 0;
  pr->active = 0;
}

void paxos_proposals_chosen(paxos *p, uint64_t slot) {
  paxos_proposal *pr = find(p, slot);
  if (pr) finish(p, pr);
}

void paxos_proposals_snapshot(paxos *p, uint64_t upto) {
  for (int64_t i = 0; i < p->opt.max_inflight_slots; i++)
    if (p->proposals[i].active && p->proposals[i].slot <= upto) finish(p, &p->proposals[i]);
}

/* Beaten by a higher ballot: wait a random time, so that dueling proposers stop dueling. */
static void back_off(paxos *p, paxos_proposal *pr) {
  pr->phase = 0;
  uint64_t ms =
      ctk_rng_range(&p->rng, (uint64_t)p->opt.backoff_ms[0], (uint64_t)p->opt.backoff_ms[1]);
  pr->deadline_us = p->now_us + ms * 1000;
}

void paxos_recv_promise(paxos *p, int from, const paxos_msg *m) {
  paxos_proposal *pr = find(p, m->slot);
  if (!pr || pr->ballot != m->ballot || pr->phase != 1) return;
  if (!m->ok) {
    back_off(p, pr);
    return;
  }
  pr->promises |= 1u << from;
  if (m->accepted_ballot > pr->best_ballot && !p->opt.bug_ignore_accepted) {
    if (paxos_value_set(p, &pr->best, m->value, m->value_len) != 0) return;
    pr->best_ballot = m->accepted_ballot;
  }
  if (__builtin_popcount(pr->promises) < paxos_majority(p)) return;
  /* Phase 2(a): the highest accepted value among the promises, else this node's own command
   * (a no-op when it has none: it is filling a gap). */
  const paxos_value *v = pr->best_ballot ? &pr->best : &pr->own;
  if (paxos_value_set(p, &pr->proposed, v->data, v->len) != 0) return;
  pr->phase = 2;
  pr->deadline_us = p->now_us + retry_us(p);
  paxos_msg a = {.type = PAXOS_MSG_ACCEPT,
                 .slot = pr->slot,
                 .ballot = pr->ballot,
                 .value = pr->proposed.data,
                 .value_len = pr->proposed.len};
  paxos_broadcast(p, &a);
}

void paxos_recv_accepted(paxos *p, int from, const paxos_msg *m) {
  paxos_proposal *pr = find(p, m->slot);
  if (!pr || pr->ballot != m->ballot || pr->phase != 2) return;
  if (!m->ok) {
    back_off(p, pr);
    return;
  }
  pr->accepts |= 1u << from;
  if (__builtin_popcount(pr->accepts) < paxos_majority(p)) return;
  /* A majority accepted: the value is chosen. Tell every learner. */
  paxos_msg d = {.type = PAXOS_MSG_DECIDED,
                 .slot = pr->slot,
                 .value = pr->proposed.data,
                 .value_len = pr->proposed.len};
  for (int i = 0; i < p->n; i++)
    if (i != p->id) paxos_send(p, i, &d);
  paxos_learn(p, pr->slot, pr->proposed.data, pr->proposed.len); /* finishes pr */
}

void paxos_proposer_timeout(paxos *p) {
  for (int64_t i = 0; i < p->opt.max_inflight_slots; i++) {
    paxos_proposal *pr = &p->proposals[i];
    if (!pr->active || pr->deadline_us > p->now_us) continue;
    if (slot_chosen(p, pr->slot))
      finish(p, pr);
    else
      send_prepare(p, pr); /* a higher ballot, same slot */
  }
  /* Known slots that stay unchosen for a whole period (lost Decided, crashed proposer): propose
   * no-ops there; phase 1 adopts whatever may have been chosen. */
  if (p->now_us < p->stalled_since_us + retry_us(p)) return;
  for (uint64_t gap = p->applied + 1; gap < p->next_slot; gap++) {
    if (slot_chosen(p, gap) || find(p, gap)) continue;
    paxos_proposal *pr = free_proposal(p);
    if (!pr) return;
    pr->has_own = 0;
    paxos_value_free(&pr->own);
    start(p, pr, gap);
  }
}

uint64_t paxos_proposer_deadline(const paxos *p) {
  uint64_t d = CTK_DEADLINE_NONE;
  for (int64_t i = 0; i < p->opt.max_inflight_slots; i++)
    if (p->proposals[i].active && p->proposals[i].deadline_us < d) d = p->proposals[i].deadline_us;
  return d;
}
