/* codec.c: Raft's wire format: a version byte, a type byte, then big-endian fields (wire.h).
 *
 *   PreVote, RequestVote       term u64, last_index u64, last_term u64, flags u8 (1: transfer)
 *   PreVoteReply, VoteReply    term u64, granted u8
 *   AppendEntries              term u64, prev_index u64, prev_term u64, commit u64, n u32,
 *                              n x (term u64, type u8, blob): a command, or a configuration
 *                              (membership.c's encoding, checked here)
 *   AppendEntriesReply         term u64, success u8, index u64, conflict_term u64,
 *                              conflict_index u64
 *   Forward                    n u32, n x command blob
 *   ReadProbe                  term u64, round u64            (read modes only, see read.c)
 *   ReadProbeReply             term u64, round u64, granted u8
 *   TimeoutNow                 term u64
 *   InstallSnapshot            term u64, meta blob (snapshot.c), offset u64, done u8, chunk blob
 *   InstallSnapshotReply       term u64, index u64, offset u64, done u8
 *
 * Messages come from the network and are untrusted: decoding validates every field before the
 * instance looks at any of it, so a handler never sees an impossible index or term. */
#include <stdio.h>

#include "raft_internal.h"

static void put_header(wire_writer *w, raft_msg_type type) {
  wire_put_u8(w, RAFT_WIRE_VERSION);
  wire_put_u8(w, (uint8_t)type);
}

void raft_encode_vote_request_flags(wire_writer *w, int prevote, uint64_t term, uint64_t last_index,
                                    uint64_t last_term, int transfer) {
  put_header(w, prevote ? RAFT_MSG_PREVOTE : RAFT_MSG_REQUEST_VOTE);
  wire_put_u64(w, term);
  wire_put_u64(w, last_index);
  wire_put_u64(w, last_term);
  wire_put_u8(w, transfer ? 1 : 0);
}

void raft_encode_vote_request(wire_writer *w, int prevote, uint64_t term, uint64_t last_index,
                              uint64_t last_term) {
  raft_encode_vote_request_flags(w, prevote, term, last_index, last_term, 0);
}

void raft_encode_timeout_now(wire_writer *w, uint64_t term) {
  put_header(w, RAFT_MSG_TIMEOUT_NOW);
  wire_put_u64(w, term);
}

void raft_encode_vote_reply(wire_writer *w, int prevote, uint64_t term, int granted) {
  put_header(w, prevote ? RAFT_MSG_PREVOTE_REPLY : RAFT_MSG_VOTE_REPLY);
  wire_put_u64(w, term);
  wire_put_u8(w, granted ? 1 : 0);
}

void raft_encode_append(wire_writer *w, uint64_t term, uint64_t prev_index, uint64_t prev_term,
                        uint64_t commit, const raft_log *log, uint64_t n) {
  put_header(w, RAFT_MSG_APPEND);
  wire_put_u64(w, term);
  wire_put_u64(w, prev_index);
  wire_put_u64(w, prev_term);
  wire_put_u64(w, commit);
  wire_put_u32(w, (uint32_t)n);
  for (uint64_t i = prev_index + 1; i <= prev_index + n; i++) {
    const raft_entry *e = raft_log_get(log, i);
    wire_put_u64(w, e->term);
    wire_put_u8(w, e->type);
    wire_put_blob(w, e->data, e->len);
  }
}

void raft_encode_append_reply(wire_writer *w, uint64_t term, int success, uint64_t index,
                              uint64_t conflict_term, uint64_t conflict_index) {
  put_header(w, RAFT_MSG_APPEND_REPLY);
  wire_put_u64(w, term);
  wire_put_u8(w, success ? 1 : 0);
  wire_put_u64(w, index);
  wire_put_u64(w, conflict_term);
  wire_put_u64(w, conflict_index);
}

void raft_encode_forward(wire_writer *w, const uint8_t *command, size_t len) {
  put_header(w, RAFT_MSG_FORWARD);
  wire_put_u32(w, 1);
  wire_put_blob(w, command, len);
}

void raft_encode_read_probe(wire_writer *w, int reply, uint64_t term, uint64_t round, int granted) {
  put_header(w, reply ? RAFT_MSG_READ_PROBE_REPLY : RAFT_MSG_READ_PROBE);
  wire_put_u64(w, term);
  wire_put_u64(w, round);
  if (reply) wire_put_u8(w, granted ? 1 : 0);
}

void raft_encode_snapshot(wire_writer *w, uint64_t term, const raft_snapshot_meta *meta,
                          uint64_t offset, int done, const uint8_t *chunk, size_t len) {
  put_header(w, RAFT_MSG_SNAPSHOT);
  wire_put_u64(w, term);
  raft_snapshot_meta_put(w, meta);
  wire_put_u64(w, offset);
  wire_put_u8(w, done ? 1 : 0);
  wire_put_blob(w, chunk, len);
}

void raft_encode_snapshot_reply(wire_writer *w, uint64_t term, uint64_t index, uint64_t offset,
                                int done) {
  put_header(w, RAFT_MSG_SNAPSHOT_REPLY);
  wire_put_u64(w, term);
  wire_put_u64(w, index);
  wire_put_u64(w, offset);
  wire_put_u8(w, done ? 1 : 0);
}

/* Index 0 has term 0 and every real entry has a term >= 1: a (index, term) pair is sane when
 * both are zero or both are not. */
static int sane_position(uint64_t index, uint64_t term, uint64_t max_term) {
  if (index >= RAFT_MAX_INDEX || term > max_term) return 0;
  return (index == 0) == (term == 0);
}

static int decode_vote_request(wire_reader *r, raft_msg *m) {
  m->term = wire_get_u64(r);
  m->last_index = wire_get_u64(r);
  m->last_term = wire_get_u64(r);
  uint8_t flags = wire_get_u8(r);
  if (!wire_reader_done(r) || m->term == 0 || m->term >= RAFT_MAX_TERM || flags > 1) return -1;
  m->transfer = flags;
  if (m->transfer && m->type == RAFT_MSG_PREVOTE) return -1;
  return sane_position(m->last_index, m->last_term, m->term) ? 0 : -1;
}

static int decode_vote_reply(wire_reader *r, raft_msg *m) {
  m->term = wire_get_u64(r);
  uint8_t granted = wire_get_u8(r);
  if (!wire_reader_done(r) || granted > 1 || m->term >= RAFT_MAX_TERM) return -1;
  m->granted = granted;
  return 0;
}

/* Entries must carry terms in [max(prev_term, 1), term], never decreasing: the receiver's log
 * keeps its terms sorted, which its binary searches rely on. */
static int decode_append(wire_reader *r, raft_msg *m) {
  m->term = wire_get_u64(r);
  m->prev_index = wire_get_u64(r);
  m->prev_term = wire_get_u64(r);
  m->commit = wire_get_u64(r);
  m->n_entries = wire_get_u32(r);
  if (!wire_reader_ok(r) || m->term == 0 || m->term >= RAFT_MAX_TERM) return -1;
  if (!sane_position(m->prev_index, m->prev_term, m->term)) return -1;
  if (m->commit >= RAFT_MAX_INDEX || m->n_entries > RAFT_MAX_ENTRIES_PER_MSG) return -1;
  m->entries = r->data + r->pos;
  uint64_t floor = m->prev_term ? m->prev_term : 1;
  for (uint32_t i = 0; i < m->n_entries; i++) {
    uint64_t term = wire_get_u64(r);
    uint8_t type = wire_get_u8(r);
    size_t len;
    const uint8_t *data = wire_get_blob(r, CTK_MAX_COMMAND_BYTES, &len);
    if (!wire_reader_ok(r) || term < floor || term > m->term || type > RAFT_ENTRY_CONFIG) return -1;
    raft_membership conf;
    if (type == RAFT_ENTRY_CONFIG && raft_membership_decode(data, len, 0, &conf) != 0) return -1;
    floor = term;
  }
  if (!wire_reader_done(r)) return -1;
  m->entries_len = (size_t)(r->data + r->pos - m->entries);
  return 0;
}

static int decode_append_reply(wire_reader *r, raft_msg *m) {
  m->term = wire_get_u64(r);
  uint8_t success = wire_get_u8(r);
  m->index = wire_get_u64(r);
  m->conflict_term = wire_get_u64(r);
  m->conflict_index = wire_get_u64(r);
  if (!wire_reader_done(r) || success > 1 || m->term >= RAFT_MAX_TERM) return -1;
  if (m->index >= RAFT_MAX_INDEX) return -1;
  m->granted = success;
  if (success) return m->conflict_term == 0 && m->conflict_index == 0 ? 0 : -1;
  if (m->conflict_index == 0) return m->conflict_term == 0 ? 0 : -1; /* a term rejection */
  /* A log rejection of prev index `index` >= 1: the hint points at or before it. */
  if (m->index == 0 || m->conflict_index > m->index || m->conflict_term > m->term) return -1;
  return 0;
}

/* The round goes in m->index. */
static int decode_read_probe(wire_reader *r, raft_msg *m) {
  m->term = wire_get_u64(r);
  m->index = wire_get_u64(r);
  uint8_t granted = m->type == RAFT_MSG_READ_PROBE_REPLY ? wire_get_u8(r) : 1;
  if (!wire_reader_done(r) || granted > 1 || m->term == 0 || m->term >= RAFT_MAX_TERM) return -1;
  m->granted = granted;
  return m->index >= 1 ? 0 : -1;
}

static int decode_timeout_now(wire_reader *r, raft_msg *m) {
  m->term = wire_get_u64(r);
  return wire_reader_done(r) && m->term > 0 && m->term < RAFT_MAX_TERM ? 0 : -1;
}

static int decode_forward(wire_reader *r, raft_msg *m) {
  m->n_entries = wire_get_u32(r);
  if (!wire_reader_ok(r) || m->n_entries == 0 || m->n_entries > RAFT_MAX_FORWARD) return -1;
  m->entries = r->data + r->pos;
  for (uint32_t i = 0; i < m->n_entries; i++) {
    size_t len;
    wire_get_blob(r, CTK_MAX_COMMAND_BYTES, &len);
    if (!wire_reader_ok(r) || len == 0) return -1;
  }
  if (!wire_reader_done(r)) return -1;
  m->entries_len = (size_t)(r->data + r->pos - m->entries);
  return 0;
}

/* A snapshot's terms never pass the sender's term; its chunks never pass the size a receiver
 * keeps. */
static int decode_snapshot(wire_reader *r, raft_msg *m) {
  m->term = wire_get_u64(r);
  if (!wire_reader_ok(r) || m->term == 0 || m->term >= RAFT_MAX_TERM) return -1;
  if (raft_snapshot_meta_get(r, &m->snap, m->term, 0) != 0) return -1;
  m->offset = wire_get_u64(r);
  uint8_t done = wire_get_u8(r);
  m->chunk = wire_get_blob(r, CTK_MAX_MESSAGE_BYTES, &m->chunk_len);
  if (!wire_reader_done(r) || done > 1) return -1;
  if (m->offset > RAFT_MAX_SNAPSHOT_BYTES || m->chunk_len > RAFT_MAX_SNAPSHOT_BYTES - m->offset)
    return -1;
  m->done = done;
  m->index = m->snap.index;
  return 0;
}

static int decode_snapshot_reply(wire_reader *r, raft_msg *m) {
  m->term = wire_get_u64(r);
  m->index = wire_get_u64(r);
  m->offset = wire_get_u64(r);
  uint8_t done = wire_get_u8(r);
  if (!wire_reader_done(r) || done > 1 || m->term >= RAFT_MAX_TERM) return -1;
  if (m->index >= RAFT_MAX_INDEX || m->offset > RAFT_MAX_SNAPSHOT_BYTES) return -1;
  m->done = done;
  return 0;
}

int raft_msg_decode(const uint8_t *bytes, size_t len, raft_msg *m) {
  *m = (raft_msg){0};
  if (!bytes || len < 2 || len > CTK_MAX_MESSAGE_BYTES) return CTK_ERR_MALFORMED;
  wire_reader r;
  wire_reader_init(&r, bytes, len);
  if (wire_get_u8(&r) != RAFT_WIRE_VERSION) return CTK_ERR_MALFORMED;
  m->type = wire_get_u8(&r);
  int rc;
  switch (m->type) {
  case RAFT_MSG_PREVOTE:
  case RAFT_MSG_REQUEST_VOTE: rc = decode_vote_request(&r, m); break;
  case RAFT_MSG_PREVOTE_REPLY:
  case RAFT_MSG_VOTE_REPLY: rc = decode_vote_reply(&r, m); break;
  case RAFT_MSG_APPEND: rc = decode_append(&r, m); break;
  case RAFT_MSG_APPEND_REPLY: rc = decode_append_reply(&r, m); break;
  case RAFT_MSG_FORWARD: rc = decode_forward(&r, m); break;
  case RAFT_MSG_READ_PROBE:
  case RAFT_MSG_READ_PROBE_REPLY: rc = decode_read_probe(&r, m); break;
  case RAFT_MSG_TIMEOUT_NOW: rc = decode_timeout_now(&r, m); break;
  case RAFT_MSG_SNAPSHOT: rc = decode_snapshot(&r, m); break;
  case RAFT_MSG_SNAPSHOT_REPLY: rc = decode_snapshot_reply(&r, m); break;
  default: rc = -1;
  }
  return rc == 0 ? CTK_OK : CTK_ERR_MALFORMED;
}

void raft_entry_iter_init(raft_entry_iter *it, const raft_msg *m) {
  wire_reader_init(&it->r, m->entries, m->entries_len);
  it->forward = m->type == RAFT_MSG_FORWARD;
}

void raft_entry_iter_next_typed(raft_entry_iter *it, uint64_t *term, uint8_t *type,
                                const uint8_t **data, size_t *len) {
  *term = it->forward ? 0 : wire_get_u64(&it->r);
  *type = it->forward ? RAFT_ENTRY_COMMAND : wire_get_u8(&it->r);
  *data = wire_get_blob(&it->r, CTK_MAX_COMMAND_BYTES, len);
}

void raft_entry_iter_next(raft_entry_iter *it, uint64_t *term, const uint8_t **data, size_t *len) {
  uint8_t type;
  raft_entry_iter_next_typed(it, term, &type, data, len);
}

/* snprintf's result clipped to what fits, so callers can trust the return as a length. */
static int clip(int n, size_t buf_len) {
  if (n < 0) return n;
  if (buf_len == 0) return 0;
  return (size_t)n >= buf_len ? (int)(buf_len - 1) : n;
}

int raft_describe(const uint8_t *bytes, size_t len, char *buf, size_t buf_len) {
  raft_msg m;
  if (raft_msg_decode(bytes, len, &m) != CTK_OK) return CTK_ERR_MALFORMED;
  unsigned long long t = m.term;
  int n;
  switch (m.type) {
  case RAFT_MSG_PREVOTE:
  case RAFT_MSG_REQUEST_VOTE:
    n = snprintf(buf, buf_len, "%s t=%llu last=%llu/%llu%s",
                 m.type == RAFT_MSG_PREVOTE ? "PreVote" : "RequestVote", t,
                 (unsigned long long)m.last_index, (unsigned long long)m.last_term,
                 m.transfer ? " transfer" : "");
    break;
  case RAFT_MSG_PREVOTE_REPLY:
  case RAFT_MSG_VOTE_REPLY:
    n = snprintf(buf, buf_len, "%s t=%llu %s",
                 m.type == RAFT_MSG_PREVOTE_REPLY ? "PreVoteReply" : "VoteReply", t,
                 m.granted ? "granted" : "refused");
    break;
  case RAFT_MSG_APPEND:
    n = snprintf(buf, buf_len, "AppendEntries t=%llu prev=%llu/%llu n=%u commit=%llu", t,
                 (unsigned long long)m.prev_index, (unsigned long long)m.prev_term, m.n_entries,
                 (unsigned long long)m.commit);
    break;
  case RAFT_MSG_APPEND_REPLY:
    if (m.granted)
      n = snprintf(buf, buf_len, "AppendEntriesReply t=%llu ok match=%llu", t,
                   (unsigned long long)m.index);
    else if (m.conflict_index == 0)
      n = snprintf(buf, buf_len, "AppendEntriesReply t=%llu stale-term", t);
    else
      n = snprintf(buf, buf_len, "AppendEntriesReply t=%llu reject prev=%llu hint=%llu/%llu", t,
                   (unsigned long long)m.index, (unsigned long long)m.conflict_index,
                   (unsigned long long)m.conflict_term);
    break;
  case RAFT_MSG_READ_PROBE:
    n = snprintf(buf, buf_len, "ReadProbe t=%llu round=%llu", t, (unsigned long long)m.index);
    break;
  case RAFT_MSG_READ_PROBE_REPLY:
    n = snprintf(buf, buf_len, "ReadProbeReply t=%llu round=%llu %s", t,
                 (unsigned long long)m.index, m.granted ? "ok" : "refused");
    break;
  case RAFT_MSG_TIMEOUT_NOW: n = snprintf(buf, buf_len, "TimeoutNow t=%llu", t); break;
  case RAFT_MSG_SNAPSHOT:
    n = snprintf(buf, buf_len, "InstallSnapshot t=%llu last=%llu/%llu offset=%llu len=%zu%s", t,
                 (unsigned long long)m.snap.index, (unsigned long long)m.snap.term,
                 (unsigned long long)m.offset, m.chunk_len, m.done ? " done" : "");
    break;
  case RAFT_MSG_SNAPSHOT_REPLY:
    n = snprintf(buf, buf_len, "InstallSnapshotReply t=%llu last=%llu %s%llu", t,
                 (unsigned long long)m.index, m.done ? "installed at " : "offset=",
                 (unsigned long long)(m.done ? m.index : m.offset));
    break;
  default: n = snprintf(buf, buf_len, "Forward n=%u", m.n_entries); break;
  }
  return clip(n, buf_len);
}
