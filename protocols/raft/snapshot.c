/* snapshot.c: snapshots and log compaction (section 7 of the paper, chapter 5 of the thesis).
 *
 * "Each server takes snapshots independently, covering just the committed entries in its log."
 * Every snapshot_every commits the instance asks the host for its state machine
 * (output.snapshot_wanted); the host hands it back as step(SNAPSHOT), and the bytes become part
 * of the durable state, which is rewritten whole (snapshot, then the entries after the log's new
 * base), so the durable bytes shrink with the log. A leader keeps snapshot_keep entries before
 * the snapshot so that a follower a little behind still gets entries.
 *
 * "The leader uses a new RPC called InstallSnapshot to send snapshots to followers that are too
 * far behind": a follower whose nextIndex is at or below the log's base. The snapshot goes in
 * chunks of snapshot_chunk_bytes, one at a time: each InstallSnapshot carries its offset and the
 * last one `done`; the follower answers every chunk with the offset it expects next, and the
 * leader sends the next chunk on an answer that shows progress (the current chunk again at each
 * heartbeat, so a lost message only costs a heartbeat). Once the follower has installed it, the
 * leader sends from the snapshot's index + 1.
 *
 * On the follower: "If existing log entry has same index and term as snapshot's last included
 * entry, retain log entries following it and reply. Discard the entire log [otherwise]. Reset
 * state machine using snapshot contents": output.restore. A snapshot at or below the commit
 * index brings nothing and is acknowledged at once. */
#include <stdlib.h>
#include <string.h>

#include "raft_internal.h"

/* ---- the metadata blob ---- */

void raft_snapshot_meta_put(wire_writer *w, const raft_snapshot_meta *meta) {
  wire_put_u32(w, 1 + 8 + 8 + RAFT_MEMBERSHIP_BYTES);
  wire_put_u8(w, RAFT_SNAPSHOT_META_VERSION);
  wire_put_u64(w, meta->index);
  wire_put_u64(w, meta->term);
  raft_membership_encode(w, &meta->conf);
}

int raft_snapshot_meta_get(wire_reader *r, raft_snapshot_meta *meta, uint64_t max_term,
                           int n_nodes) {
  size_t len;
  const uint8_t *blob = wire_get_blob(r, 4096, &len);
  if (!wire_reader_ok(r)) return -1;
  wire_reader b;
  wire_reader_init(&b, blob, len);
  uint8_t version = wire_get_u8(&b);
  meta->index = wire_get_u64(&b);
  meta->term = wire_get_u64(&b);
  const uint8_t *conf = wire_get_bytes(&b, RAFT_MEMBERSHIP_BYTES);
  if (!wire_reader_done(&b) || version != RAFT_SNAPSHOT_META_VERSION) return -1;
  if (raft_membership_decode(conf, RAFT_MEMBERSHIP_BYTES, n_nodes, &meta->conf) != 0) return -1;
  if (meta->index == 0 || meta->index >= RAFT_MAX_INDEX) return -1;
  return meta->term >= 1 && meta->term <= max_term && meta->term < RAFT_MAX_TERM ? 0 : -1;
}

void raft_snapshot_free(raft *r) {
  free(r->snap.data);
  r->snap.data = NULL;
  r->snap.len = 0;
  wire_writer_free(&r->snap_in.bytes);
  r->snap_in.active = 0;
}

/* ---- taking one ---- */

uint64_t raft_snapshot_wanted(raft *r) {
  uint64_t every = (uint64_t)r->opt.snapshot_every;
  if (every == 0 || r->emitted_index < r->snap.meta.index + every) return 0;
  if (r->emitted_index < r->snap_asked + every) return 0; /* asked already */
  r->snap_asked = r->emitted_index;
  return r->emitted_index;
}

/* Replaces the snapshot with meta and data (owned from now on). */
static void set_snapshot(raft *r, raft_snapshot_meta meta, uint8_t *data, size_t len) {
  free(r->snap.data);
  r->snap.meta = meta;
  r->snap.data = data;
  r->snap.len = len;
}

int raft_snapshot_taken(raft *r, uint64_t index, const uint8_t *data, size_t len) {
  if (index == 0 || index > r->emitted_index || index <= r->snap.meta.index ||
      index < r->log.base || (len > 0 && !data))
    return CTK_ERR_INVALID;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return CTK_ERR_NOMEM;
  if (len) memcpy(copy, data, len);
  raft_snapshot_meta meta = {index, raft_log_term_at(&r->log, index), raft_membership_at(r, index)};
  set_snapshot(r, meta, copy, len);
  uint64_t keep = (uint64_t)r->opt.snapshot_keep;
  if (index > keep && index - keep > r->log.base) {
    raft_membership_rebase(r, index - keep, raft_membership_at(r, index - keep));
    raft_log_compact(&r->log, index - keep);
  }
  raft_persist_replace_all(r);
  return CTK_OK;
}

void raft_snapshot_recovered(raft *r) {
  if (r->snap.meta.index == 0) return;
  r->commit_index = r->emitted_index = r->snap.meta.index;
  r->snap_asked = r->snap.meta.index;
  r->restore_pending = 1;
}

/* ---- the leader's side ---- */

void raft_send_snapshot(raft *r, int to) {
  raft_peer *p = &r->peers[to];
  if (r->snap.meta.index == 0) return;       /* no base without a snapshot; never here */
  if (p->snap_index != r->snap.meta.index) { /* a newer snapshot: start it over */
    p->snap_index = r->snap.meta.index;
    p->snap_offset = 0;
  }
  size_t offset = p->snap_offset < r->snap.len ? (size_t)p->snap_offset : r->snap.len;
  size_t n = r->snap.len - offset;
  if (n > (uint64_t)r->opt.snapshot_chunk_bytes) n = (size_t)r->opt.snapshot_chunk_bytes;
  wire_writer *w = raft_send_begin(r, to);
  raft_encode_snapshot(w, r->term, &r->snap.meta, offset, offset + n == r->snap.len,
                       r->snap.data + offset, n);
  raft_send_end(r);
}

void raft_recv_snapshot_reply(raft *r, int from, const raft_msg *m) {
  if (m->term > r->term) {
    raft_become_follower(r, m->term, RAFT_NO_NODE);
    return;
  }
  if (r->role != RAFT_LEADER || m->term < r->term) return;
  raft_peer *p = &r->peers[from];
  p->last_heard_us = r->now_us;
  if (m->done) {
    /* "the leader then sends from snapshot index + 1" */
    if (m->index > p->match_index) p->match_index = m->index;
    if (p->next_index <= m->index) {
      p->next_index = m->index + 1;
      p->probing = 1;
      p->stalled_heartbeats = 0;
      p->inflight_start = p->inflight_count = 0;
      p->inflight_total = 0;
      p->snap_offset = 0;
      raft_maybe_commit(r);
      raft_send_append(r, from, 1);
    }
    return;
  }
  if (m->index != p->snap_index || p->next_index > r->log.base) return; /* an older transfer */
  uint64_t before = p->snap_offset;
  p->snap_offset = m->offset; /* may go back: the follower lost what it had (a restart) */
  if (m->offset > before) raft_send_snapshot(r, from);
}

/* ---- the follower's side ---- */

static void reply(raft *r, int to, uint64_t index, uint64_t offset, int done) {
  wire_writer *w = raft_send_begin(r, to);
  raft_encode_snapshot_reply(w, r->term, index, offset, done);
  raft_send_end(r);
}

static int same_meta(const raft_snapshot_meta *a, const raft_snapshot_meta *b) {
  return a->index == b->index && a->term == b->term;
}

/* Section 7's receiver rule, steps 6 to 8, with the received bytes. */
static void install(raft *r) {
  raft_snapshot_meta meta = r->snap_in.meta;
  size_t len = r->snap_in.bytes.len;
  uint8_t *data = r->snap_in.bytes.data; /* taken over */
  wire_writer_init(&r->snap_in.bytes);
  r->snap_in.active = 0;
  if (!data && !(data = malloc(1))) {
    r->out_of_memory = 1;
    return;
  }
  if (meta.index > r->log.base && raft_log_term_at(&r->log, meta.index) == meta.term) {
    raft_membership_rebase(r, meta.index, meta.conf);
    raft_log_compact(&r->log, meta.index); /* retain the entries following it */
  } else if (meta.index != r->log.base || meta.term != r->log.base_term) {
    raft_log_reset(&r->log, meta.index, meta.term);
    r->forced = 0; /* what a forced configuration overrode is gone with the log */
    raft_membership_rebase(r, meta.index, meta.conf);
  }
  raft_membership_refresh(r);
  set_snapshot(r, meta, data, len);
  if (r->commit_index < meta.index) r->commit_index = meta.index;
  if (r->emitted_index < meta.index) {
    r->emitted_index = meta.index;
    r->restore_pending = 1;
  }
  r->snap_asked = meta.index;
  raft_persist_replace_all(r);
}

void raft_recv_snapshot(raft *r, int from, const raft_msg *m) {
  /* "1. Reply immediately if term < currentTerm" */
  if (m->term < r->term) {
    reply(r, from, m->snap.index, 0, 0);
    return;
  }
  if (r->role == RAFT_LEADER && m->term == r->term) return; /* two leaders of a term: never */
  raft_become_follower(r, m->term, from);
  raft_note_leader_message(r, from);
  raft_reset_election_timer(r);
  if (raft_membership_nodes(&m->snap.conf) >> r->n) return; /* names nodes that do not exist */
  if (m->snap.index <= r->commit_index) {                   /* nothing new in it */
    reply(r, from, m->snap.index, 0, 1);
    return;
  }
  /* "2. Create new snapshot file if first chunk (offset is 0) ... 3. Write data into snapshot
   * file at given offset": chunks are taken in order only; the reply says where to go on. */
  if (m->offset == 0) {
    wire_writer_reset(&r->snap_in.bytes);
    r->snap_in.active = 1;
    r->snap_in.meta = m->snap;
  }
  if (!r->snap_in.active || !same_meta(&r->snap_in.meta, &m->snap) ||
      m->offset != r->snap_in.bytes.len) {
    int ours = r->snap_in.active && same_meta(&r->snap_in.meta, &m->snap);
    reply(r, from, m->snap.index, ours ? r->snap_in.bytes.len : 0, 0);
    return;
  }
  wire_put_bytes(&r->snap_in.bytes, m->chunk, m->chunk_len);
  if (r->snap_in.bytes.failed) {
    r->out_of_memory = 1;
    return;
  }
  /* "4. Reply and wait for more data chunks if done is false" */
  if (!m->done) {
    reply(r, from, m->snap.index, r->snap_in.bytes.len, 0);
    return;
  }
  install(r);
  reply(r, from, m->snap.index, 0, 1);
}
