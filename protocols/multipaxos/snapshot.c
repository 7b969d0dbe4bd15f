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
  free(p->snap.data);
  free(p->snap.rx_data);
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

static int set_snapshot(mp *p, uint64_t index, const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return -1;
  if (len) memcpy(copy, data, len);
  free(p->snap.data);
  p->snap.data = copy;
  p->snap.len = len;
  p->snap.index = index;
  return 0;
}

/* The snapshot's configuration becomes the base one, unless a forced one overrides past it. */
static void rebase(mp *p) {
  if (p->snap.index < p->base_at) return;
  p->base_conf = p->snap.conf;
  p->base_at = p->snap.index;
  p->forced = 0;
}

/* step(SNAPSHOT): the state machine through ev->index, which we asked for. */
int mp_snap_taken(mp *p, const ctk_event *ev) {
  if (ev->index == 0 || (ev->bytes.len && !ev->bytes.data) || ev->bytes.len > MP_MAX_SNAPSHOT)
    return CTK_ERR_INVALID;
  /* One that a restore or a later snapshot overtook is of no use. */
  if (ev->index <= p->snap.index || ev->index > p->emitted_index) return CTK_OK;
  mp_config conf = mp_conf_at(p, ev->index); /* before the slots that hold it go */
  if (set_snapshot(p, ev->index, ev->bytes.data, ev->bytes.len) != 0) return CTK_ERR_NOMEM;
  p->snap.conf = conf;
  rebase(p);
  uint64_t keep = (uint64_t)p->opt.snapshot_keep;
  mp_discard_through(p, ev->index > keep ? ev->index - keep : 0);
  mp_persist_replace_all(p);
  return CTK_OK;
}

void mp_snap_output(mp *p, ctk_output *out) {
  if (p->snap.restored) {
    out->restore = (ctk_bytes){p->snap.data, p->snap.len};
    out->restore_index = p->snap.index;
    p->snap.restored = 0;
  }
  uint64_t every = (uint64_t)p->opt.snapshot_every;
  uint64_t last = p->snap.index > p->snap.asked ? p->snap.index : p->snap.asked;
  if (every && p->emitted_index >= last + every) {
    out->snapshot_wanted = p->emitted_index;
    p->snap.asked = p->emitted_index;
  }
}

void mp_snap_persist(mp *p) {
  wire_put_u64(&p->persist, p->snap.index);
  wire_put_u64(&p->persist, p->base);
  wire_put_u32(&p->persist, p->snap.conf.voters);
  wire_put_u32(&p->persist, p->snap.conf.learners);
  wire_put_u64(&p->persist, p->snap.conf.epoch);
  wire_put_blob(&p->persist, p->snap.data, p->snap.len);
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
  if (!wire_reader_done(r) || index < 1 || index >= MP_MAX_SLOT || base > index || p->snap.index ||
      conf.epoch > index || mp_conf_decode(bits, sizeof bits, p->n, &check) != 0)
    return CTK_ERR_CORRUPT; /* one, written first by a full rewrite */
  mp_discard_through(p, base);
  if (set_snapshot(p, index, data, len) != 0) return CTK_ERR_NOMEM;
  p->snap.conf = conf;
  rebase(p);
  return CTK_OK;
}

void mp_snap_recovered(mp *p) {
  if (p->snap.index) {
    p->commit_index = p->emitted_index = p->snap.index;
    p->snap.restored = 1;
  }
  /* A chosen prefix persisted past it (membership.c), over slots we hold. */
  uint64_t c = p->durable_commit < p->n_slots ? p->durable_commit : p->n_slots;
  while (p->commit_index < c && MP_SLOT(p, p->commit_index + 1)->ballot) p->commit_index++;
}

/* ---- transfers ---- */

static void send_chunk(mp *p, int to, uint64_t offset) {
  if (!p->snap.index || !p->snap.len) return;
  if (offset >= p->snap.len) offset = 0;
  size_t n = p->snap.len - offset;
  if (n > (uint64_t)p->opt.snapshot_chunk_bytes) n = (size_t)p->opt.snapshot_chunk_bytes;
  mp_encode_snap_chunk(mp_send_begin(p, to), p->snap.index, &p->snap.conf, p->snap.len, offset,
                       p->snap.data + offset, n);
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
  send_pull(p, from, index, p->snap.rx_index == index ? p->snap.rx_have : 0);
}

void mp_snap_recv_pull(mp *p, int from, const mp_msg *m) {
  if (!p->snap.index) return;
  if (p->role == MP_LEADER) {
    mp_peer *peer = &p->peers[from];
    peer->snap_pull_us = p->now_us;
    peer->snap_offset = m->snap == p->snap.index ? m->offset : 0;
    if (m->commit > peer->commit) peer->commit = m->commit;
  }
  /* It needs our snapshot while it lacks slots we no longer hold, and may finish one begun. */
  int going = m->snap == p->snap.index && m->offset < p->snap.len && m->commit < p->snap.index;
  if (m->commit < p->base || going) send_chunk(p, from, going ? m->offset : 0);
}

static int rx_append(mp_snapshot *s, const uint8_t *data, size_t len) {
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

static void rx_reset(mp_snapshot *s, uint64_t index, uint64_t total, const mp_config *conf) {
  free(s->rx_data);
  s->rx_data = NULL;
  s->rx_cap = 0;
  s->rx_have = 0;
  s->rx_index = index;
  s->rx_total = total;
  s->rx_conf = *conf;
}

/* The whole snapshot arrived: it replaces every slot through its index, chosen by definition,
 * and the state machine (output.restore). Slots past it are kept as accepted. */
static void install(mp *p) {
  mp_snapshot *s = &p->snap;
  uint64_t epoch = p->conf.epoch;
  free(s->data);
  s->data = s->rx_data;
  s->len = s->rx_total;
  s->index = s->rx_index;
  s->conf = s->rx_conf;
  s->rx_data = NULL;
  rx_reset(s, 0, 0, &s->conf);
  mp_discard_through(p, s->index);
  p->commit_index = p->emitted_index = s->index;
  rebase(p);
  mp_conf_refresh(p);
  /* A leader that learns so of a configuration it did not know is a deposed one (membership.c):
   * what it proposed past the snapshot belongs to the old configuration. */
  if (p->role == MP_LEADER && p->conf.epoch != epoch && !p->conf_recovered)
    mp_become_follower(p, 0);
  s->restored = 1;
  mp_persist_replace_all(p);
  if (p->role == MP_LEADER && p->sent_upto < s->index) p->sent_upto = s->index;
  /* A candidate starts over past the snapshot, in a new ballot: in the old one, Promise chunks
   * still in flight would count acceptors whose earlier chunks it no longer has. */
  if (p->role == MP_CANDIDATE) mp_start_phase1(p);
}

void mp_snap_recv_chunk(mp *p, int from, const mp_msg *m) {
  mp_snapshot *s = &p->snap;
  if (m->snap <= p->commit_index) { /* nothing new: say so, so that the sender stops */
    send_pull(p, from, m->snap, m->total);
    return;
  }
  int stalled = p->now_us - s->rx_progress_us >= p->heartbeat_us;
  if (m->snap != s->rx_index || m->total != s->rx_total) {
    if (m->offset != 0) {
      if (stalled) send_pull(p, from, m->snap, 0);
      return;
    }
    rx_reset(s, m->snap, m->total, &m->conf);
  }
  if (m->offset != s->rx_have) {
    if (stalled) send_pull(p, from, s->rx_index, s->rx_have);
    return;
  }
  if (rx_append(s, m->items, m->items_len) != 0) {
    p->out_of_memory = 1;
    return;
  }
  s->rx_progress_us = p->now_us;
  if (p->role != MP_LEADER) mp_reset_election_timer(p); /* give the rest time to come */
  if (s->rx_have < s->rx_total) {
    send_pull(p, from, s->rx_index, s->rx_have);
    return;
  }
  uint64_t index = s->rx_index, total = s->rx_total;
  install(p);
  send_pull(p, from, index, total);
}
