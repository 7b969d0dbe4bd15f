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
  free(p->snap.data);
  free(p->snap.rx_data);
  p->snap = (paxos_snapshot){0};
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

static int set_snapshot(paxos *p, uint64_t index, const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return -1;
  if (len) memcpy(copy, data, len);
  free(p->snap.data);
  p->snap.data = copy;
  p->snap.len = len;
  p->snap.index = index;
  return 0;
}

int paxos_snap_taken(paxos *p, const ctk_event *ev) {
  if (ev->index == 0 || (ev->bytes.len && !ev->bytes.data) || ev->bytes.len > PAXOS_MAX_SNAPSHOT)
    return CTK_ERR_INVALID;
  if (ev->index <= p->snap.index || ev->index > p->applied) return CTK_OK; /* overtaken */
  if (set_snapshot(p, ev->index, ev->bytes.data, ev->bytes.len) != 0) return CTK_ERR_NOMEM;
  uint64_t keep = (uint64_t)p->opt.snapshot_keep;
  discard_through(p, ev->index > keep ? ev->index - keep : 0);
  paxos_persist_replace_all(p);
  return CTK_OK;
}

void paxos_snap_output(paxos *p, ctk_output *out) {
  if (p->snap.restored) {
    out->restore = (ctk_bytes){p->snap.data, p->snap.len};
    out->restore_index = p->snap.index;
    p->snap.restored = 0;
  }
  uint64_t every = (uint64_t)p->opt.snapshot_every;
  uint64_t last = p->snap.index > p->snap.asked ? p->snap.index : p->snap.asked;
  if (every && p->applied >= last + every) {
    out->snapshot_wanted = p->applied;
    p->snap.asked = p->applied;
  }
}

int paxos_snap_apply_record(paxos *p, uint64_t index, uint64_t base, const uint8_t *data,
                            size_t len) {
  if (index < 1 || index >= PAXOS_MAX_SLOT || base > index || p->snap.index) return CTK_ERR_CORRUPT;
  discard_through(p, base);
  return set_snapshot(p, index, data, len) == 0 ? CTK_OK : CTK_ERR_NOMEM;
}

void paxos_snap_recovered(paxos *p) {
  if (!p->snap.index) return;
  p->applied = p->stalled_at = p->snap.index;
  if (p->next_slot <= p->snap.index) p->next_slot = p->snap.index + 1;
  p->snap.restored = 1;
}

/* ---- transfers ---- */

static void send_chunk(paxos *p, int to, uint64_t offset) {
  if (!p->snap.index || !p->snap.len) return;
  if (offset >= p->snap.len) offset = 0;
  size_t n = p->snap.len - offset;
  if (n > (uint64_t)p->opt.snapshot_chunk_bytes) n = (size_t)p->opt.snapshot_chunk_bytes;
  paxos_msg m = {.type = PAXOS_MSG_SNAP_CHUNK,
                 .slot = p->snap.index,
                 .total = p->snap.len,
                 .offset = offset,
                 .value = p->snap.data + offset,
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
  if (!p->snap.index) return;
  int going = m->slot == p->snap.index && m->offset < p->snap.len && m->applied < p->snap.index;
  if (m->applied < p->base || going) send_chunk(p, from, going ? m->offset : 0);
}

static int rx_append(paxos_snapshot *s, const uint8_t *data, size_t len) {
  if (s->rx_have + len > s->rx_cap) {
    size_t cap = s->rx_cap ? s->rx_cap * 2 : len;
    if (cap < s->rx_have + len) cap = s->rx_have + len;
    if (cap > s->rx_total) cap = s->rx_total;
    uint8_t *d = realloc(s->rx_data, cap);
    if (!d) return -1;
    s->rx_data = d;
    s->rx_cap = cap;
  }
  memcpy(s->rx_data + s->rx_have, data, len);
  s->rx_have += len;
  return 0;
}

static void rx_reset(paxos_snapshot *s, uint64_t index, uint64_t total) {
  free(s->rx_data);
  s->rx_data = NULL;
  s->rx_cap = 0;
  s->rx_have = 0;
  s->rx_index = index;
  s->rx_total = total;
}

static void install(paxos *p) {
  paxos_snapshot *s = &p->snap;
  free(s->data);
  s->data = s->rx_data;
  s->len = s->rx_total;
  s->index = s->rx_index;
  s->rx_data = NULL;
  rx_reset(s, 0, 0);
  discard_through(p, s->index);
  p->applied = s->index;
  s->restored = 1;
  paxos_proposals_snapshot(p, s->index);
  paxos_persist_replace_all(p);
}

void paxos_snap_recv_chunk(paxos *p, int from, const paxos_msg *m) {
  paxos_snapshot *s = &p->snap;
  if (m->slot <= p->applied) return; /* nothing new */
  uint64_t period_us = (uint64_t)p->opt.retry_timeout_ms * 1000;
  int stalled = p->now_us - s->rx_progress_us >= period_us;
  if (m->slot != s->rx_index || m->total != s->rx_total) {
    if (m->offset != 0) {
      if (stalled) send_pull(p, from, m->slot, 0);
      return;
    }
    rx_reset(s, m->slot, m->total);
  }
  if (m->offset != s->rx_have) {
    if (stalled) send_pull(p, from, s->rx_index, s->rx_have);
    return;
  }
  if (rx_append(s, m->value, m->value_len) != 0) {
    p->out_of_memory = 1;
    return;
  }
  s->rx_progress_us = p->now_us;
  if (s->rx_have < s->rx_total) {
    send_pull(p, from, s->rx_index, s->rx_have);
    return;
  }
  install(p);
}
