/* acceptor.c: the acceptor and learner roles of every slot, and catch-up.
 *
 * From "Paxos Made Simple", phase 1(b): "If an acceptor receives a prepare request with number n
 * greater than that of any prepare request to which it has already responded, then it responds
 * ... with a promise not to accept any more proposals numbered less than n and with the
 * highest-numbered proposal (if any) that it has accepted." Phase 2(b): "If an acceptor receives
 * an accept request for a proposal numbered n, it accepts the proposal unless it has already
 * responded to a prepare request having a number greater than n." Both are persisted in this
 * step, before the reply leaves (the host syncs persist bytes before sending). */
#include <string.h>

#include "paxos_internal.h"

/* A slot already chosen here answers with its value: the proposer learns it at once. */
static int answer_chosen(paxos *p, int from, uint64_t slot, const paxos_slot *s) {
  if (!s->chosen || from == p->id) return 0;
  paxos_msg d = {
      .type = PAXOS_MSG_DECIDED, .slot = slot, .value = s->value.data, .value_len = s->value.len};
  paxos_send(p, from, &d);
  return 1;
}

void paxos_recv_prepare(paxos *p, int from, const paxos_msg *m) {
  paxos_slot *s = paxos_slot_get(p, m->slot);
  if (!s || answer_chosen(p, from, m->slot, s)) return;
  paxos_msg r = {.type = PAXOS_MSG_PROMISE, .slot = m->slot, .ballot = m->ballot};
  if (m->ballot >= s->promised) {
    if (m->ballot > s->promised) {
      s->promised = m->ballot;
      paxos_persist_promise(p, m->slot, m->ballot);
    }
    r.ok = 1;
    r.accepted_ballot = s->accepted_ballot;
    r.value = s->accepted.data;
    r.value_len = s->accepted.len;
  }
  r.promised = s->promised;
  paxos_send(p, from, &r);
}

void paxos_recv_accept(paxos *p, int from, const paxos_msg *m) {
  paxos_slot *s = paxos_slot_get(p, m->slot);
  if (!s || answer_chosen(p, from, m->slot, s)) return;
  paxos_msg r = {.type = PAXOS_MSG_ACCEPTED, .slot = m->slot, .ballot = m->ballot};
  if (m->ballot >= s->promised) {
    if (m->ballot != s->accepted_ballot) {
      if (paxos_value_set(p, &s->accepted, m->value, m->value_len) != 0) return;
      s->promised = s->accepted_ballot = m->ballot;
      paxos_persist_accept(p, m->slot, m->ballot, m->value, m->value_len);
    }
    r.ok = 1;
  }
  r.promised = s->promised;
  paxos_send(p, from, &r);
}

/* A learner learns a chosen value from the proposer that saw a majority accept it (Decided), or
 * from a peer that learned it (catch-up). A value once chosen never changes. */
void paxos_learn(paxos *p, uint64_t slot, const uint8_t *value, size_t len) {
  paxos_slot *s = paxos_slot_get(p, slot);
  if (!s || s->chosen) return;
  if (paxos_value_set(p, &s->value, value, len) != 0) return;
  s->chosen = 1;
  paxos_persist_chosen(p, slot, value, len);
  paxos_proposals_chosen(p, slot);
}

void paxos_recv_catchup(paxos *p, int from, const paxos_msg *m) {
  if (paxos_snap_offer(p, from, m->slot)) return;
  for (uint64_t i = m->slot; i < m->slot + PAXOS_CATCHUP_BATCH; i++) {
    const paxos_slot *s = paxos_slot_at(p, i);
    if (!s || !s->chosen) continue;
    paxos_msg d = {
        .type = PAXOS_MSG_DECIDED, .slot = i, .value = s->value.data, .value_len = s->value.len};
    paxos_send(p, from, &d);
  }
}
