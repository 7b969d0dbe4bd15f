/* record.c: writing and framing the CRC-framed durable records of record.h. */
#include "record.h"

#include "protocol.h"

size_t record_begin(wire_writer *w, uint8_t version, uint8_t type) {
  size_t pos = w->len;
  wire_put_u32(w, 0);
  wire_put_u32(w, 0);
  wire_put_u32(w, 0);
  wire_put_u8(w, version);
  wire_put_u8(w, type);
  return pos;
}

void record_end(wire_writer *w, size_t pos) {
  if (w->failed) return;
  size_t payload = w->len - pos - RECORD_HEADER_BYTES;
  wire_patch_u32(w, pos, (uint32_t)payload);
  wire_patch_u32(w, pos + 4, wire_crc32c(w->data + pos + RECORD_HEADER_BYTES, payload));
  wire_patch_u32(w, pos + 8, wire_crc32c(w->data + pos, 8));
}

typedef struct record_header {
  uint32_t payload_len, payload_crc;
  int ok;
} record_header;

static record_header read_header(const uint8_t *p) {
  wire_reader r;
  wire_reader_init(&r, p, RECORD_HEADER_BYTES);
  record_header h;
  h.payload_len = wire_get_u32(&r);
  h.payload_crc = wire_get_u32(&r);
  h.ok = wire_get_u32(&r) == wire_crc32c(p, 8);
  return h;
}

/* Whether a whole valid record starts anywhere in bytes[from, len). Only asked after a damaged
 * header, when where the next record starts is unknown. */
static int valid_record_after(const uint8_t *bytes, size_t len, size_t from) {
  for (size_t p = from; p + RECORD_HEADER_BYTES <= len; p++) {
    record_header h = read_header(bytes + p);
    if (h.ok && h.payload_len <= len - p - RECORD_HEADER_BYTES &&
        wire_crc32c(bytes + p + RECORD_HEADER_BYTES, h.payload_len) == h.payload_crc)
      return 1;
  }
  return 0;
}

int record_frame(const uint8_t *bytes, size_t len, size_t pos, size_t *end) {
  size_t left = len - pos;
  if (left < RECORD_HEADER_BYTES) return 0; /* a torn header */
  record_header h = read_header(bytes + pos);
  if (!h.ok) return valid_record_after(bytes, len, pos + 1) ? CTK_ERR_CORRUPT : 0;
  if (h.payload_len > left - RECORD_HEADER_BYTES) return 0; /* a torn payload */
  *end = pos + RECORD_HEADER_BYTES + h.payload_len;
  if (wire_crc32c(bytes + pos + RECORD_HEADER_BYTES, h.payload_len) == h.payload_crc) return 1;
  return *end == len ? 0 : CTK_ERR_CORRUPT; /* a bad last record is torn; before others, corrupt */
}

int record_replay(const uint8_t *bytes, size_t len,
                  int (*apply)(void *ctx, const uint8_t *payload, size_t len), void *ctx,
                  int *torn_tail) {
  *torn_tail = 0;
  for (size_t pos = 0; pos < len;) {
    size_t end = 0;
    int framed = record_frame(bytes, len, pos, &end);
    if (framed <= 0) {
      *torn_tail = framed == 0;
      return framed;
    }
    int rc = apply(ctx, bytes + pos + RECORD_HEADER_BYTES, end - pos - RECORD_HEADER_BYTES);
    if (rc != CTK_OK) return rc;
    pos = end;
  }
  return CTK_OK;
}
