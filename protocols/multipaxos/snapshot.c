/* snapshot.c: log compaction for Multi-Paxos, and catching up a replica from a snapshot.
 *
 * Every snapshot_every executed slots the node asks the host for its state machine
 * (output.snapshot_wanted); the snapshot the host hands back (step(SNAPSHOT)) replaces slots
 * 1..index, of which all but the last snapshot_keep are discarded. Only chosen and executed slots
 * are ever discarded, so an acceptor forgets nothing a future leader could need but the chosen
 * values, which the snapshot holds:
 *
 *   - a Prepare asking for slots at or below our base gets a Promise that names our snapshot
 *     instead of entries (phase1.c); the candidate fetches it, and starts phase 1 again (a new
 *     ballot) from past it;
 *   - Accepts for slots at or below our base are not accepted again (an old leader's value may not
 *     be the chosen one): the Accepted acknowledges only the slots we hold, and a leader whose
 *     commit index is behind our snapshot gets it pushed, so that it can make progress without us;
 *   - a leader sends a peer whose chosen prefix ends below its base its snapshot instead of
 *     Accepts (phase2.c, send_catchup).
 *
 * A transfer is pulled by the receiver: SnapChunk (index, total, offset, bytes) answered by
 * SnapPull (index, bytes held, commit index), which asks for the next chunk, or says it is done
 * (held == total) or needs nothing (its commit index covers the snapshot). A pushed chunk only
 * starts or restarts a chain; lost messages are made good by the next push (the leader's
 * heartbeat, or the candidate's next Prepare). Snapshots of the same index are the same bytes
 * (the state machine serializes deterministically), so a transfer may continue from another node.
 *
 * A snapshot carries the configuration after its last slot (membership.c): in SnapChunk, and in
 * the SNAPSHOT record.
 *
 * Durable: a full rewrite (persist_replace) whenever the snapshot changes: the promise, the
 * SNAPSHOT record (index, base, configuration, bytes), then the retained slots. */
#include <stdlib.h>
#include <string.h>

#include "mp_internal.h"

void mp_snap_free(mp *p) {
  ctk_snap_held_free(&p->snap.held);
  ctk_snap_rx_free(&p->snap.rx);
  p->snap = (mp_snapshot){0};
}

void mp_discard_through(mp *p, uint64_t upto) {
  if (upto <= p->base) return;
  uint64_t held = p->n_slots - p->base;
  uint64_t drop = upto - p->base < held ? upto - p->base : held;
  for (uint64_t i = 0; i < drop; i++) {
    p->live_bytes -= p->slots[i].ballot ? 12 + p->slots[i].len : 0;
    free(p->slots[i].data);
  }
  if (held) { /* (none held: maybe no array yet) */
    memmove(p->slots, p->slots + drop, (held - drop) * sizeof *p->slots);
    memset(p->slots + (held - drop), 0, drop * sizeof *p->slots);
  }
  p->base = upto;
  if (p->n_slots < upto) p->n_slots = upto;
  /* Give memory back once the array is mostly empty, so that it follows the retained slots. */
  uint64_t need = held - drop;
  if (p->cap_slots > 1024 && p->cap_slots > 4 * need) {
    uint64_t cap = need * 2 > 256 ? need * 2 : 256;
    mp_slot *s = realloc(p->slots, cap * sizeof *s);
    if (s) {
      p->slots = s;
      p->cap_slots = cap;
    }
  }
}

/* The snapshot's configuration becomes the base one, unless a forced one overrides past it. */
static void rebase(mp *p) {
  if (p->snap.held.index < p->base_at) return;
  p->base_conf = p->snap.conf;
  p->base_at = p->snap.held.index;
  p->forced = 0;
}

/* step(SNAPSHOT): the state machine through ev->index, which we asked for. */
int mp_snap_taken(mp *p, const ctk_event *ev) {
  if (ctk_snap_taken_check(ev, MP_MAX_SNAPSHOT) != CTK_OK) return CTK_ERR_INVALID;
  /* One that a restore or a later snapshot overtook is of no use. */
  if (ev->index <= p->snap.held.index || ev->index > p->emitted_index) return CTK_OK;
  mp_config conf = mp_conf_at(p, ev->index); /* before the slots that hold it go */
  if (ctk_snap_held_set(&p->snap.held, ev->index, ev->bytes.data, ev->bytes.len) != 0)
    return CTK_ERR_NOMEM;
  p->snap.conf = conf;
  rebase(p);
  uint64_t keep = (uint64_t)p->opt.snapshot_keep;
  mp_discard_through(p, ev->index > keep ? ev->index - keep : 0);
  mp_persist_replace_all(p);
  return CTK_OK;
}

void mp_snap_output(mp *p, ctk_output *out) {
  ctk_snap_held_output(&p->snap.held, p->emitted_index, (uint64_t)p->opt.snapshot_every, out);
}

void mp_snap_persist(mp *p) {
  wire_put_u64(&p->persist, p->snap.held.index);
  wire_put_u64(&p->persist, p->base);
  wire_put_u32(&p->persist, p->snap.conf.voters);
  wire_put_u32(&p->persist, p->snap.conf.learners);
  wire_put_u64(&p->persist, p->snap.conf.epoch);
  wire_put_blob(&p->persist, p->snap.held.data, p->snap.held.len);
}

int mp_snap_apply_record(mp *p, wire_reader *r) {
  uint64_t index = wire_get_u64(r), base = wire_get_u64(r);
  mp_config conf = {.voters = wire_get_u32(r), .learners = wire_get_u32(r)};
  conf.epoch = wire_get_u64(r);
  size_t len;
  const uint8_t *data = wire_get_blob(r, MP_MAX_SNAPSHOT, &len);
  uint8_t bits[MP_CONFIG_BYTES];
  mp_conf_encode(&conf, bits);
  mp_config check;
  if (!wire_reader_done(r) || index < 1 || index >= MP_MAX_SLOT || base > index ||
      p->snap.held.index || conf.epoch > index ||
      mp_conf_decode(bits, sizeof bits, p->n, &check) != 0)
    return CTK_ERR_CORRUPT; /* one, written first by a full rewrite */
  mp_discard_through(p, base);
  if (ctk_snap_held_set(&p->snap.held, index, data, len) != 0) return CTK_ERR_NOMEM;
  p->snap.conf = conf;
  rebase(p);
  return CTK_OK;
}

void mp_snap_recovered(mp *p) {
  if (p->snap.held.index) {
    p->commit_index = p->emitted_index = p->snap.held.index;
    p->snap.held.restored = 1;
  }
  /* A chosen prefix persisted past it (membership.c), over slots we hold. */
  uint64_t c = p->durable_commit < p->n_slots ? p->durable_commit : p->n_slots;
  while (p->commit_index < c && MP_SLOT(p, p->commit_index + 1)->ballot) p->commit_index++;
}

/* ---- transfers ---- */

static void send_chunk(mp *p, int to, uint64_t offset) {
  const ctk_snap_held *h = &p->snap.held;
  if (!h->index || !h->len) return;
  size_t n = ctk_snap_chunk(h->len, &offset, (uint64_t)p->opt.snapshot_chunk_bytes);
  mp_encode_snap_chunk(mp_send_begin(p, to), h->index, &p->snap.conf, h->len, offset,
                       h->data + offset, n);
  mp_send_end(p);
}

void mp_snap_push(mp *p, int to) {
  if (p->role == MP_LEADER) {
    /* A transfer that is moving needs no push; one that stalled resumes where it was. */
    mp_peer *peer = &p->peers[to];
    if (peer->snap_pull_us && p->now_us - peer->snap_pull_us < p->heartbeat_us) return;
    send_chunk(p, to, peer->snap_offset);
    return;
  }
  if (p->snap.pushed_us && p->now_us - p->snap.pushed_us < p->heartbeat_us) return;
  p->snap.pushed_us = p->now_us;
  send_chunk(p, to, 0);
}

static void send_pull(mp *p, int to, uint64_t index, uint64_t offset) {
  mp_encode_snap_pull(mp_send_begin(p, to), index, offset, p->commit_index);
  mp_send_end(p);
}

void mp_snap_pull(mp *p, int from, uint64_t index) {
  send_pull(p, from, index, p->snap.rx.index == index ? p->snap.rx.have : 0);
}

void mp_snap_recv_pull(mp *p, int from, const mp_msg *m) {
  const ctk_snap_held *h = &p->snap.held;
  if (!h->index) return;
  if (p->role == MP_LEADER) {
    mp_peer *peer = &p->peers[from];
    peer->snap_pull_us = p->now_us;
    peer->snap_offset = m->snap == h->index ? m->offset : 0;
    if (m->commit > peer->commit) peer->commit = m->commit;
  }
  /* It needs our snapshot while it lacks slots we no longer hold, and may finish one begun. */
  int going = m->snap == h->index && m->offset < h->len && m->commit < h->index;
  if (m->commit < p->base || going) send_chunk(p, from, going ? m->offset : 0);
}

/* The whole snapshot arrived: it replaces every slot through its index, chosen by definition,
 * and the state machine (output.restore). Slots past it are kept as accepted. */
static void install(mp *p) {
  mp_snapshot *s = &p->snap;
  uint64_t epoch = p->conf.epoch;
  s->conf = s->rx_conf;
  ctk_snap_held_install(&s->held, &s->rx);
  mp_discard_through(p, s->held.index);
  p->commit_index = p->emitted_index = s->held.index;
  rebase(p);
  mp_conf_refresh(p);
  /* A leader that learns so of a configuration it did not know is a deposed one (membership.c):
   * what it proposed past the snapshot belongs to the old configuration. */
  if (p->role == MP_LEADER && p->conf.epoch != epoch && !p->conf_recovered)
    mp_become_follower(p, 0);
  mp_persist_replace_all(p);
  if (p->role == MP_LEADER && p->sent_upto < s->held.index) p->sent_upto = s->held.index;
  /* A candidate starts over past the snapshot, in a new ballot: in the old one, Promise chunks
   * still in flight would count acceptors whose earlier chunks it no longer has. */
  if (p->role == MP_CANDIDATE) mp_start_phase1(p);
}

void mp_snap_recv_chunk(mp *p, int from, const mp_msg *m) {
  ctk_snap_rx *rx = &p->snap.rx;
  if (m->snap <= p->commit_index) { /* nothing new: say so, so that the sender stops */
    send_pull(p, from, m->snap, m->total);
    return;
  }
  int stalled = p->now_us - rx->progress_us >= p->heartbeat_us;
  if (m->snap != rx->index || m->total != rx->total) {
    if (m->offset != 0) {
      if (stalled) send_pull(p, from, m->snap, 0);
      return;
    }
    ctk_snap_rx_reset(rx, m->snap, m->total);
    p->snap.rx_conf = m->conf;
  }
  if (m->offset != rx->have) {
    if (stalled) send_pull(p, from, rx->index, rx->have);
    return;
  }
  if (ctk_snap_rx_append(rx, m->items, m->items_len) != 0) {
    p->out_of_memory = 1;
    return;
  }
  rx->progress_us = p->now_us;
  if (p->role != MP_LEADER) mp_reset_election_timer(p); /* give the rest time to come */
  if (rx->have < rx->total) {
    send_pull(p, from, rx->index, rx->have);
    return;
  }
  uint64_t index = rx->index, total = rx->total;
  install(p);
  send_pull(p, from, index, total);
}
