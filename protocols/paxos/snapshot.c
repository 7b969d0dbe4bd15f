/* snapshot.c: log compaction for classic Paxos, and catching up a replica from a snapshot.
 *
 * Every snapshot_every applied slots a node asks the host for its state machine
 * (output.snapshot_wanted); the snapshot it hands back (step(SNAPSHOT)) replaces slots 1..index,
 * of which all but the last snapshot_keep are discarded: their acceptor and learner state alike.
 * Only chosen and applied slots are discarded, and an acceptor takes no further part in a slot it
 * discarded (no promise, no accept), so every majority of promises a proposer still gathers for
 * such a slot comes from acceptors that kept their state, and P2c holds as before.
 *
 * A lagging node asks a peer for chosen values from its first unapplied slot on (CatchUp, the
 * pipelined catch-up of paxos.c); a peer that discarded that slot sends its snapshot instead, in
 * chunks the receiver pulls one after the other: SnapChunk (index, total, offset, bytes) answered
 * by SnapPull (index, bytes held, applied). Lost messages are made good by the next CatchUp.
 * Once whole, the snapshot replaces the receiver's slots through its index and its state machine
 * (output.restore); its proposals for those slots end, their commands go back to the queue.
 *
 * Durable: a full rewrite whenever the snapshot changes, the SNAPSHOT record first. */
#include <stdlib.h>
#include <string.h>

#include "paxos_internal.h"

void paxos_snap_free(paxos *p) {
  ctk_snap_held_free(&p->snap.held);
  ctk_snap_rx_free(&p->snap.rx);
}

/* Drops the slots through upto: they are covered by the snapshot. */
static void discard_through(paxos *p, uint64_t upto) {
  if (upto <= p->base) return;
  uint64_t drop = upto - p->base < p->n_slots ? upto - p->base : p->n_slots;
  for (uint64_t i = 0; i < drop; i++) {
    paxos_value_free(&p->slots[i].accepted);
    paxos_value_free(&p->slots[i].value);
  }
  if (p->n_slots) { /* (none allocated: no array yet) */
    memmove(p->slots, p->slots + drop, (p->n_slots - drop) * sizeof *p->slots);
    memset(p->slots + (p->n_slots - drop), 0, drop * sizeof *p->slots);
  }
  p->base = upto;
  if (p->next_slot <= upto) p->next_slot = upto + 1;
  /* Give memory back once the array is mostly empty (the window ahead is what it holds). */
  uint64_t used = 0;
  for (uint64_t i = p->n_slots; i > 0 && !used; i--)
    if (p->slots[i - 1].promised || p->slots[i - 1].chosen) used = i;
  if (p->n_slots > 1024 && p->n_slots > 4 * used) {
    uint64_t cap = used * 2 > 64 ? used * 2 : 64;
    paxos_slot *s = realloc(p->slots, cap * sizeof *s);
    if (s) {
      p->slots = s;
      p->n_slots = cap;
    }
  }
}

int paxos_snap_taken(paxos *p, const ctk_event *ev) {
  if (ctk_snap_taken_check(ev, PAXOS_MAX_SNAPSHOT) != CTK_OK) return CTK_ERR_INVALID;
  if (ev->index <= p->snap.held.index || ev->index > p->applied) return CTK_OK; /* overtaken */
  if (ctk_snap_held_set(&p->snap.held, ev->index, ev->bytes.data, ev->bytes.len) != 0)
    return CTK_ERR_NOMEM;
  uint64_t keep = (uint64_t)p->opt.snapshot_keep;
  discard_through(p, ev->index > keep ? ev->index - keep : 0);
  paxos_persist_replace_all(p);
  return CTK_OK;
}

void paxos_snap_output(paxos *p, ctk_output *out) {
  ctk_snap_held_output(&p->snap.held, p->applied, (uint64_t)p->opt.snapshot_every, out);
}

int paxos_snap_apply_record(paxos *p, uint64_t index, uint64_t base, const uint8_t *data,
                            size_t len) {
  if (index < 1 || index >= PAXOS_MAX_SLOT || base > index || p->snap.held.index)
    return CTK_ERR_CORRUPT;
  discard_through(p, base);
  return ctk_snap_held_set(&p->snap.held, index, data, len) == 0 ? CTK_OK : CTK_ERR_NOMEM;
}

void paxos_snap_recovered(paxos *p) {
  if (!p->snap.held.index) return;
  p->applied = p->stalled_at = p->snap.held.index;
  if (p->next_slot <= p->snap.held.index) p->next_slot = p->snap.held.index + 1;
  p->snap.held.restored = 1;
}

/* ---- transfers ---- */

static void send_chunk(paxos *p, int to, uint64_t offset) {
  const ctk_snap_held *h = &p->snap.held;
  if (!h->index || !h->len) return;
  size_t n = ctk_snap_chunk(h->len, &offset, (uint64_t)p->opt.snapshot_chunk_bytes);
  paxos_msg m = {.type = PAXOS_MSG_SNAP_CHUNK,
                 .slot = h->index,
                 .total = h->len,
                 .offset = offset,
                 .value = h->data + offset,
                 .value_len = n};
  paxos_send(p, to, &m);
}

static void send_pull(paxos *p, int to, uint64_t index, uint64_t offset) {
  paxos_msg m = {
      .type = PAXOS_MSG_SNAP_PULL, .slot = index, .offset = offset, .applied = p->applied};
  paxos_send(p, to, &m);
}

int paxos_snap_offer(paxos *p, int to, uint64_t slot) {
  if (slot > p->base || to == p->id) return 0;
  send_chunk(p, to, 0);
  return 1;
}

void paxos_snap_recv_pull(paxos *p, int from, const paxos_msg *m) {
  const ctk_snap_held *h = &p->snap.held;
  if (!h->index) return;
  int going = m->slot == h->index && m->offset < h->len && m->applied < h->index;
  if (m->applied < p->base || going) send_chunk(p, from, going ? m->offset : 0);
}

static void install(paxos *p) {
  ctk_snap_held *h = &p->snap.held;
  ctk_snap_held_install(h, &p->snap.rx);
  discard_through(p, h->index);
  p->applied = h->index;
  paxos_proposals_snapshot(p, h->index);
  paxos_persist_replace_all(p);
}

void paxos_snap_recv_chunk(paxos *p, int from, const paxos_msg *m) {
  ctk_snap_rx *rx = &p->snap.rx;
  if (m->slot <= p->applied) return; /* nothing new */
  uint64_t period_us = (uint64_t)p->opt.retry_timeout_ms * 1000;
  int stalled = p->now_us - rx->progress_us >= period_us;
  if (m->slot != rx->index || m->total != rx->total) {
    if (m->offset != 0) {
      if (stalled) send_pull(p, from, m->slot, 0);
      return;
    }
    ctk_snap_rx_reset(rx, m->slot, m->total);
  }
  if (m->offset != rx->have) {
    if (stalled) send_pull(p, from, rx->index, rx->have);
    return;
  }
  if (ctk_snap_rx_append(rx, m->value, m->value_len) != 0) {
    p->out_of_memory = 1;
    return;
  }
  rx->progress_us = p->now_us;
  if (rx->have < rx->total) {
    send_pull(p, from, rx->index, rx->have);
    return;
  }
  install(p);
}
