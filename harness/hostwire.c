/* hostwire.c: encoding and bounds-checked decoding of the frames in hostwire.h. */
#include "hostwire.h"

#include <math.h>
#include <string.h>

#include "kv.h"

static void put_header(wire_writer *w, hw_kind kind) {
  wire_put_u8(w, HW_MAGIC);
  wire_put_u8(w, (uint8_t)kind);
}

/* Starts reading a frame of the given kind; the reader is failed when it is another. */
static void get_header(wire_reader *r, const uint8_t *frame, size_t len, hw_kind kind) {
  wire_reader_init(r, frame, len);
  if (wire_get_u8(r) != HW_MAGIC || wire_get_u8(r) != kind) r->failed = 1;
}

static void put_double(wire_writer *w, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  wire_put_u64(w, bits);
}

static double get_double(wire_reader *r) {
  uint64_t bits = wire_get_u64(r);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

void hw_peer_identity(int node_id, uint32_t cluster_tag, uint8_t out[HW_PEER_ID_LEN]) {
  out[0] = 'P';
  out[1] = (uint8_t)node_id;
  out[2] = (uint8_t)(cluster_tag >> 24);
  out[3] = (uint8_t)(cluster_tag >> 16);
  out[4] = (uint8_t)(cluster_tag >> 8);
  out[5] = (uint8_t)cluster_tag;
}

int hw_peer_from_identity(const uint8_t *id, size_t len, uint32_t cluster_tag, int n_nodes) {
  uint8_t expected[HW_PEER_ID_LEN];
  if (len != HW_PEER_ID_LEN || id[0] != 'P' || id[1] >= n_nodes) return -1;
  hw_peer_identity(id[1], cluster_tag, expected);
  return memcmp(id, expected, HW_PEER_ID_LEN) == 0 ? id[1] : -1;
}

uint32_t hw_cluster_tag(const ctk_cluster *cluster) {
  wire_writer w;
  wire_writer_init(&w);
  wire_put_u32(&w, (uint32_t)cluster->nodes);
  for (int i = 0; i < cluster->nodes; i++)
    wire_put_blob(&w, cluster->endpoints[i], strlen(cluster->endpoints[i]));
  uint32_t tag = w.failed ? 0 : wire_crc32c(w.data, w.len);
  wire_writer_free(&w);
  return tag;
}

int hw_frame_kind(const uint8_t *frame, size_t len) {
  if (len < 2 || frame[0] != HW_MAGIC || frame[1] < HW_PEER || frame[1] > HW_BUNDLE) return -1;
  return frame[1];
}

void hw_put_peer(wire_writer *w, int from, uint32_t cluster_tag, const uint8_t *msg, size_t len) {
  put_header(w, HW_PEER);
  wire_put_u8(w, (uint8_t)from);
  wire_put_u32(w, cluster_tag);
  wire_put_bytes(w, msg, len);
}

int hw_get_peer(const uint8_t *frame, size_t len, int *from, uint32_t *cluster_tag,
                ctk_bytes *msg) {
  wire_reader r;
  get_header(&r, frame, len, HW_PEER);
  *from = wire_get_u8(&r);
  *cluster_tag = wire_get_u32(&r);
  if (!wire_reader_ok(&r)) return -1;
  msg->len = wire_reader_left(&r);
  msg->data = wire_get_bytes(&r, msg->len);
  return wire_reader_done(&r) && *from < CTK_MAX_NODES ? 0 : -1;
}

void hw_bundle_start(wire_writer *w) { put_header(w, HW_BUNDLE); }

void hw_bundle_add(wire_writer *w, const uint8_t *frame, size_t len) {
  wire_put_u32(w, (uint32_t)len);
  wire_put_bytes(w, frame, len);
}

int hw_bundle_open(hw_bundle_reader *r, const uint8_t *frame, size_t len) {
  if (len < 2 || frame[0] != HW_MAGIC || frame[1] != HW_BUNDLE) return -1;
  *r = (hw_bundle_reader){frame, len, 2};
  return 0;
}

int hw_bundle_next(hw_bundle_reader *r, ctk_bytes *inner) {
  if (r->pos == r->len) return 0;
  wire_reader wr;
  wire_reader_init(&wr, r->data + r->pos, r->len - r->pos);
  uint32_t n = wire_get_u32(&wr);
  const uint8_t *frame = wire_get_bytes(&wr, n);
  if (!wire_reader_ok(&wr) || n == 0 || hw_frame_kind(frame, n) == HW_BUNDLE) {
    r->pos = r->len;
    return -1;
  }
  r->pos += 4 + (size_t)n;
  *inner = (ctk_bytes){frame, n};
  return 1;
}

void hw_put_request(wire_writer *w, const uint8_t *command, size_t len) {
  put_header(w, HW_REQUEST);
  wire_put_bytes(w, command, len);
}

int hw_get_request(const uint8_t *frame, size_t len, ctk_bytes *command) {
  wire_reader r;
  get_header(&r, frame, len, HW_REQUEST);
  if (!wire_reader_ok(&r)) return -1;
  command->len = wire_reader_left(&r);
  command->data = wire_get_bytes(&r, command->len);
  return wire_reader_done(&r) && command->len > 0 && command->len <= CTK_MAX_COMMAND_BYTES ? 0 : -1;
}

void hw_put_reply(wire_writer *w, const hw_reply *reply) {
  put_header(w, HW_REPLY);
  wire_put_u64(w, reply->client_id);
  wire_put_u64(w, reply->seq);
  wire_put_u8(w, (uint8_t)((reply->rejected || reply->busy ? 1 : 0) | (reply->ok ? 2 : 0) |
                           (reply->found ? 4 : 0) | (reply->busy ? 8 : 0)));
  wire_put_u8(w, (uint8_t)(reply->leader_hint + 1));
  const char *value = reply->value ? reply->value : "";
  wire_put_blob(w, value, strlen(value));
}

int hw_get_reply(const uint8_t *frame, size_t len, hw_reply *reply, char *value_buf,
                 size_t value_cap) {
  wire_reader r;
  get_header(&r, frame, len, HW_REPLY);
  reply->client_id = wire_get_u64(&r);
  reply->seq = wire_get_u64(&r);
  uint8_t flags = wire_get_u8(&r);
  reply->leader_hint = (int)wire_get_u8(&r) - 1;
  size_t value_len;
  const uint8_t *value = wire_get_blob(&r, value_cap ? value_cap - 1 : 0, &value_len);
  if (!wire_reader_done(&r) || flags > 15 || reply->leader_hint >= CTK_MAX_NODES || !value_cap)
    return -1;
  reply->rejected = flags & 1;
  reply->busy = (flags >> 3) & 1;
  reply->ok = (flags >> 1) & 1;
  reply->found = (flags >> 2) & 1;
  memcpy(value_buf, value, value_len);
  value_buf[value_len] = '\0';
  if (memchr(value_buf, '\0', value_len)) return -1;
  reply->value = reply->found ? value_buf : NULL;
  return 0;
}

void hw_faults_clear(hw_faults *f) {
  memset(f, 0, sizeof *f);
  f->slow_factor = 1;
}

void hw_put_faults(wire_writer *w, const hw_faults *f) {
  put_header(w, HW_FAULTS);
  put_double(w, f->drop);
  put_double(w, f->duplicate);
  put_double(w, f->reorder);
  wire_put_u32(w, f->reorder_delay_us);
  wire_put_u32(w, f->delay_us);
  put_double(w, f->slow_factor);
  wire_put_u8(w, (uint8_t)((f->both_ways ? 1 : 0) | (f->isolated ? 2 : 0)));
  wire_put_u32(w, f->block_out);
  wire_put_u32(w, f->block_in);
}

static int probability_ok(double p) { return p >= 0 && p <= 1; }

int hw_get_faults(const uint8_t *frame, size_t len, hw_faults *f) {
  wire_reader r;
  get_header(&r, frame, len, HW_FAULTS);
  f->drop = get_double(&r);
  f->duplicate = get_double(&r);
  f->reorder = get_double(&r);
  f->reorder_delay_us = wire_get_u32(&r);
  f->delay_us = wire_get_u32(&r);
  f->slow_factor = get_double(&r);
  uint8_t flags = wire_get_u8(&r);
  f->both_ways = flags & 1;
  f->isolated = (flags >> 1) & 1;
  f->block_out = wire_get_u32(&r);
  f->block_in = wire_get_u32(&r);
  if (!wire_reader_done(&r) || flags > 3) return -1;
  if (!probability_ok(f->drop) || !probability_ok(f->duplicate) || !probability_ok(f->reorder) ||
      !(f->slow_factor >= 1 && f->slow_factor <= 1e6))
    return -1;
  return 0;
}

void hw_put_admin(wire_writer *w, const char *request, size_t len) {
  put_header(w, HW_ADMIN);
  wire_put_blob(w, request, len);
}

int hw_get_admin(const uint8_t *frame, size_t len, ctk_bytes *request) {
  wire_reader r;
  get_header(&r, frame, len, HW_ADMIN);
  request->data = wire_get_blob(&r, HW_ADMIN_MAX_BYTES, &request->len);
  if (!wire_reader_done(&r) || request->len == 0) return -1;
  for (size_t i = 0; i < request->len; i++)
    if (request->data[i] < 0x20 || request->data[i] > 0x7E) return -1;
  return 0;
}

void hw_put_admin_reply(wire_writer *w, int rc, int leader_hint) {
  put_header(w, HW_ADMIN_REPLY);
  wire_put_u8(w, (uint8_t)-rc); /* 0 or a small positive number */
  wire_put_u8(w, (uint8_t)(leader_hint + 1));
}

int hw_get_admin_reply(const uint8_t *frame, size_t len, int *rc, int *leader_hint) {
  wire_reader r;
  get_header(&r, frame, len, HW_ADMIN_REPLY);
  uint8_t code = wire_get_u8(&r);
  uint8_t hint = wire_get_u8(&r);
  if (!wire_reader_done(&r) || code > 64 || hint > CTK_MAX_NODES) return -1;
  *rc = -(int)code;
  *leader_hint = (int)hint - 1;
  return 0;
}

void hw_put_status_request(wire_writer *w) { put_header(w, HW_STATUS); }
void hw_put_faults_ack(wire_writer *w) { put_header(w, HW_FAULTS_ACK); }

void hw_put_status(wire_writer *w, const hw_status *s) {
  put_header(w, HW_STATUS_REPLY);
  wire_put_u8(w, (uint8_t)s->node_id);
  wire_put_u8(w, (uint8_t)s->proto.role);
  wire_put_u64(w, s->proto.term);
  wire_put_u8(w, (uint8_t)(s->proto.leader_id + 1));
  wire_put_u64(w, s->proto.commit_index);
  wire_put_u64(w, s->proto.log_length);
  const uint64_t counters[] = {s->applied,           s->kv_digest,          s->msgs_sent,
                               s->bytes_sent,        s->msgs_received,      s->msgs_malformed,
                               s->frames_rejected,   s->became_leader,      s->syncs,
                               s->bytes_persisted,   s->requests,           s->replies,
                               s->rejected_commands, s->started_from_bytes, s->handshakes_failed};
  for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) wire_put_u64(w, counters[i]);
  wire_put_u8(w, (uint8_t)s->counters.n);
  for (size_t i = 0; i < s->counters.n; i++) {
    wire_put_blob(w, s->counters.c[i].name, strlen(s->counters.c[i].name));
    wire_put_u64(w, s->counters.c[i].value);
  }
  wire_put_u32(w, s->proto.members);
  wire_put_u32(w, s->proto.learners);
}

int hw_get_status(const uint8_t *frame, size_t len, hw_status *s) {
  wire_reader r;
  get_header(&r, frame, len, HW_STATUS_REPLY);
  s->node_id = wire_get_u8(&r);
  s->proto.role = (ctk_role)wire_get_u8(&r);
  s->proto.term = wire_get_u64(&r);
  s->proto.leader_id = (int)wire_get_u8(&r) - 1;
  s->proto.commit_index = wire_get_u64(&r);
  s->proto.log_length = wire_get_u64(&r);
  uint64_t *counters[] = {&s->applied,           &s->kv_digest,          &s->msgs_sent,
                          &s->bytes_sent,        &s->msgs_received,      &s->msgs_malformed,
                          &s->frames_rejected,   &s->became_leader,      &s->syncs,
                          &s->bytes_persisted,   &s->requests,           &s->replies,
                          &s->rejected_commands, &s->started_from_bytes, &s->handshakes_failed};
  for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) *counters[i] = wire_get_u64(&r);
  uint8_t n = wire_get_u8(&r);
  if (n > CTK_MAX_COUNTERS) return -1;
  s->counters.n = n;
  for (size_t i = 0; i < n; i++) {
    size_t len = 0;
    const uint8_t *name = wire_get_blob(&r, CTK_COUNT_NAME_LEN - 1, &len);
    if (!wire_reader_ok(&r)) return -1;
    memcpy(s->counters.c[i].name, name, len);
    s->counters.c[i].name[len] = 0;
    s->counters.c[i].value = wire_get_u64(&r);
  }
  s->proto.members = wire_get_u32(&r);
  s->proto.learners = wire_get_u32(&r);
  return wire_reader_done(&r) && s->proto.role <= CTK_ROLE_NONE ? 0 : -1;
}
