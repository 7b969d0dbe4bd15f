/* durable.c: the persisted record format of Raft's state, and recovery from it.
 *
 * From Figure 2: "Persistent state on all servers (Updated on stable storage before responding
 * to RPCs): currentTerm, votedFor, log[]". The durable bytes are a sequence of self-delimiting
 * records, appended as the state changes:
 *
 *   record     = payload_len u32, crc32c(payload) u32, crc32c(the 8 bytes before) u32, payload
 *   payload    = version u8, type u8, fields
 *   HARD_STATE   term u64, voted_for u32 (0xffffffff: none)
 *   ENTRIES      first_index u64, n u32, n x (term u64, type u8, blob)
 *   TRUNCATE     from_index u64 (deletes every entry at index >= from_index)
 *   FORCE        base_index u64, configuration (membership.c): a forced reconfiguration
 *   SNAPSHOT     meta blob (snapshot.c: index, term, configuration), state machine blob
 *   LOG_BASE     index u64, term u64, configuration (membership.c) as of that index (the log
 *                restarts empty after that position)
 *
 * Version 2 added the entry type (membership configurations in the log), FORCE, SNAPSHOT and
 * LOG_BASE. A snapshot (snapshot.c) is only ever written by a rewrite of the whole state: hard
 * state, SNAPSHOT, LOG_BASE, the entries after the base, then FORCE when one is in effect.
 * Version 1 streams (entries without a type) are refused as corrupt, not migrated.
 *
 * A step's records go out in the order of the changes, and the hard state always precedes the
 * log records of the same step, so no prefix of the stream holds an entry newer than its term.
 * A crash may tear the last append: a last record that is incomplete or fails its CRC was never
 * synced (nothing was sent on its account) and is dropped. A bad record followed by more records
 * is corruption. The header has its own CRC so that a damaged length cannot pass for a torn
 * tail and silently swallow the records after it. When the stream grows past
 * RAFT_COMPACT_FACTOR times the live state, the next step replaces it with a fresh encoding
 * (persist_replace). */
#include <stdlib.h>
#include <string.h>

#include "common/record.h"
#include "raft_internal.h"

#define DURABLE_VERSION            2
#define COMPACT_ENTRIES_PER_RECORD 4096
enum {
  REC_HARD_STATE = 1,
  REC_ENTRIES = 2,
  REC_TRUNCATE = 3,
  REC_FORCE = 4,
  REC_SNAPSHOT = 5,
  REC_LOG_BASE = 6
};

static void put_hard_state(wire_writer *w, uint64_t term, int voted_for) {
  size_t pos = record_begin(w, DURABLE_VERSION, REC_HARD_STATE);
  wire_put_u64(w, term);
  wire_put_u32(w, voted_for < 0 ? 0xFFFFFFFFu : (uint32_t)voted_for);
  record_end(w, pos);
}

static void put_entries(wire_writer *w, const raft_log *log, uint64_t first, uint64_t n) {
  size_t pos = record_begin(w, DURABLE_VERSION, REC_ENTRIES);
  wire_put_u64(w, first);
  wire_put_u32(w, (uint32_t)n);
  for (uint64_t i = first; i < first + n; i++) {
    const raft_entry *e = raft_log_get(log, i);
    wire_put_u64(w, e->term);
    wire_put_u8(w, e->type);
    wire_put_blob(w, e->data, e->len);
  }
  record_end(w, pos);
}

static void put_force(wire_writer *w, uint64_t base_index, const raft_membership *base) {
  size_t pos = record_begin(w, DURABLE_VERSION, REC_FORCE);
  wire_put_u64(w, base_index);
  raft_membership_encode(w, base);
  record_end(w, pos);
}

void raft_persist_force(raft *r) {
  raft_persist_hard_state(r);
  put_force(&r->persist, r->base_index, &r->base);
}

void raft_persist_hard_state(raft *r) {
  if (!r->hard_state_dirty) return;
  put_hard_state(&r->persist, r->term, r->opt.bug_forget_vote ? RAFT_NO_NODE : r->voted_for);
  r->hard_state_dirty = 0;
}

void raft_persist_entries(raft *r, uint64_t first, uint64_t n) {
  raft_persist_hard_state(r);
  while (n > 0) {
    uint64_t k = n < COMPACT_ENTRIES_PER_RECORD ? n : COMPACT_ENTRIES_PER_RECORD;
    put_entries(&r->persist, &r->log, first, k);
    first += k;
    n -= k;
  }
}

void raft_persist_truncate(raft *r, uint64_t from) {
  raft_persist_hard_state(r);
  size_t pos = record_begin(&r->persist, DURABLE_VERSION, REC_TRUNCATE);
  wire_put_u64(&r->persist, from);
  record_end(&r->persist, pos);
}

void raft_persist_replace_all(raft *r) {
  wire_writer_reset(&r->persist);
  r->persist_replace = 1;
  r->hard_state_dirty = 1;
  raft_persist_hard_state(r);
  if (r->snap.meta.index) {
    size_t pos = record_begin(&r->persist, DURABLE_VERSION, REC_SNAPSHOT);
    raft_snapshot_meta_put(&r->persist, &r->snap.meta);
    wire_put_blob(&r->persist, r->snap.data, r->snap.len);
    record_end(&r->persist, pos);
  }
  if (r->log.base) {
    size_t pos = record_begin(&r->persist, DURABLE_VERSION, REC_LOG_BASE);
    wire_put_u64(&r->persist, r->log.base);
    wire_put_u64(&r->persist, r->log.base_term);
    raft_membership_encode(&r->persist, &r->base); /* base_index == log.base unless forced */
    record_end(&r->persist, pos);
  }
  raft_persist_entries(r, r->log.base + 1, r->log.n);
  if (r->forced) put_force(&r->persist, r->base_index, &r->base);
}

void raft_persist_maybe_compact(raft *r) {
  uint64_t total = r->persist_replace ? r->persist.len : r->durable_bytes + r->persist.len;
  uint64_t live =
      r->log.bytes + r->snap.len + 128 + (r->log.n / COMPACT_ENTRIES_PER_RECORD + 1) * 32;
  if (total > RAFT_COMPACT_MIN_BYTES && total > RAFT_COMPACT_FACTOR * live)
    raft_persist_replace_all(r);
}

/* ---- recovery ---- */

typedef struct recovered {
  uint64_t term;
  int voted_for;
  raft_log log;
  int forced;
  uint64_t base_index;
  raft_membership base;
  raft_snapshot_meta snap;  /* index 0: none */
  const uint8_t *snap_data; /* borrowed from the durable bytes */
  size_t snap_len;
  raft_membership log_base_conf; /* the configuration as of the log's base (LOG_BASE) */
} recovered;

static int apply_snapshot(recovered *s, wire_reader *r, int n_nodes) {
  raft_snapshot_meta meta;
  if (raft_snapshot_meta_get(r, &meta, s->term, n_nodes) != 0) return CTK_ERR_CORRUPT;
  size_t len;
  const uint8_t *data = wire_get_blob(r, RAFT_MAX_SNAPSHOT_BYTES, &len);
  if (!wire_reader_ok(r) || meta.index < s->snap.index) return CTK_ERR_CORRUPT;
  s->snap = meta;
  s->snap_data = data;
  s->snap_len = len;
  return CTK_OK;
}

static int apply_log_base(recovered *s, wire_reader *r, int n_nodes) {
  uint64_t base = wire_get_u64(r), term = wire_get_u64(r);
  const uint8_t *conf = wire_get_bytes(r, RAFT_MEMBERSHIP_BYTES);
  if (!wire_reader_ok(r) || base == 0 || base >= RAFT_MAX_INDEX || term == 0 || term > s->term)
    return CTK_ERR_CORRUPT;
  if (raft_membership_decode(conf, RAFT_MEMBERSHIP_BYTES, n_nodes, &s->log_base_conf) != 0)
    return CTK_ERR_CORRUPT;
  raft_log_reset(&s->log, base, term);
  return CTK_OK;
}

static int apply_entries(recovered *s, wire_reader *r, int n_nodes) {
  uint64_t first = wire_get_u64(r);
  uint32_t n = wire_get_u32(r);
  if (!wire_reader_ok(r) || first != raft_log_last(&s->log) + 1 || n == 0) return CTK_ERR_CORRUPT;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t term = wire_get_u64(r);
    uint8_t type = wire_get_u8(r);
    size_t len;
    const uint8_t *data = wire_get_blob(r, CTK_MAX_COMMAND_BYTES, &len);
    if (!wire_reader_ok(r) || type > RAFT_ENTRY_CONFIG) return CTK_ERR_CORRUPT;
    raft_membership conf;
    if (type == RAFT_ENTRY_CONFIG && raft_membership_decode(data, len, n_nodes, &conf) != 0)
      return CTK_ERR_CORRUPT;
    /* Terms are >= 1, never decrease along the log, and never pass the term persisted before. */
    if (term == 0 || term < raft_log_last_term(&s->log) || term > s->term) return CTK_ERR_CORRUPT;
    if (raft_log_append_typed(&s->log, term, type, data, len) != 0) return CTK_ERR_NOMEM;
  }
  return CTK_OK;
}

static int apply_record(recovered *s, const uint8_t *payload, size_t len, int n_nodes) {
  wire_reader r;
  wire_reader_init(&r, payload, len);
  uint8_t version = wire_get_u8(&r);
  uint8_t type = wire_get_u8(&r);
  if (!wire_reader_ok(&r) || version != DURABLE_VERSION) return CTK_ERR_CORRUPT;
  int rc = CTK_OK;
  if (type == REC_HARD_STATE) {
    uint64_t term = wire_get_u64(&r);
    uint32_t vote = wire_get_u32(&r);
    int voted_for = vote == 0xFFFFFFFFu ? RAFT_NO_NODE : (int)(vote & 0x7FFFFFFF);
    if (term < s->term || term >= RAFT_MAX_TERM) return CTK_ERR_CORRUPT;
    if (vote != 0xFFFFFFFFu && vote >= (uint32_t)n_nodes) return CTK_ERR_CORRUPT;
    s->term = term;
    s->voted_for = voted_for;
  } else if (type == REC_ENTRIES) {
    rc = apply_entries(s, &r, n_nodes);
  } else if (type == REC_FORCE) {
    s->base_index = wire_get_u64(&r);
    const uint8_t *conf = wire_get_bytes(&r, RAFT_MEMBERSHIP_BYTES);
    if (!wire_reader_ok(&r) || s->base_index >= RAFT_MAX_INDEX ||
        raft_membership_decode(conf, RAFT_MEMBERSHIP_BYTES, n_nodes, &s->base) != 0)
      return CTK_ERR_CORRUPT;
    s->forced = 1;
  } else if (type == REC_TRUNCATE) {
    uint64_t from = wire_get_u64(&r);
    if (from <= s->log.base || from > raft_log_last(&s->log) + 1) return CTK_ERR_CORRUPT;
    raft_log_truncate(&s->log, from);
  } else if (type == REC_SNAPSHOT) {
    rc = apply_snapshot(s, &r, n_nodes);
  } else if (type == REC_LOG_BASE) {
    rc = apply_log_base(s, &r, n_nodes);
  } else {
    return CTK_ERR_CORRUPT;
  }
  if (rc == CTK_OK && !wire_reader_done(&r)) rc = CTK_ERR_CORRUPT;
  return rc;
}

typedef struct replay_ctx {
  recovered *s;
  int n_nodes;
} replay_ctx;

static int replay_one(void *ctx, const uint8_t *payload, size_t len) {
  replay_ctx *c = ctx;
  return apply_record(c->s, payload, len, c->n_nodes);
}

int raft_recover(raft *r, const uint8_t *bytes, size_t len, int *torn_tail) {
  recovered s = {.term = 0, .voted_for = RAFT_NO_NODE};
  raft_log_init(&s.log);
  replay_ctx ctx = {&s, r->n};
  int rc = record_replay(bytes, len, replay_one, &ctx, torn_tail);
  /* The log starts at or before the snapshot (a leader keeps entries before it). */
  if (rc == CTK_OK && s.log.base > s.snap.index) rc = CTK_ERR_CORRUPT;
  uint8_t *snap_data = NULL;
  if (rc == CTK_OK && s.snap.index && !(snap_data = malloc(s.snap_len ? s.snap_len : 1)))
    rc = CTK_ERR_NOMEM;
  if (rc != CTK_OK) {
    raft_log_free(&s.log);
    return rc;
  }
  if (s.snap.index) {
    /* Only a lab bug truncates below the snapshot; then the snapshot is the log's start. */
    if (raft_log_term_at(&s.log, s.snap.index) != s.snap.term) {
      raft_log_reset(&s.log, s.snap.index, s.snap.term);
      s.log_base_conf = s.snap.conf;
    }
    if (s.snap_len) memcpy(snap_data, s.snap_data, s.snap_len);
    free(r->snap.data);
    r->snap.meta = s.snap;
    r->snap.data = snap_data;
    r->snap.len = s.snap_len;
  }
  raft_log_free(&r->log);
  r->log = s.log;
  r->term = s.term;
  r->voted_for = s.voted_for;
  if (s.log.base) { /* the configuration as of the log's base, where its entries start */
    r->base = s.log_base_conf;
    r->base_index = s.log.base;
  }
  if (s.forced) {
    r->forced = 1;
    r->base = s.base;
    r->base_index = s.base_index > s.log.base ? s.base_index : s.log.base;
  }
  raft_membership_refresh(r);
  return CTK_OK;
}
