/* wire.c: bounds-checked big-endian encoding and decoding (see wire.h). */
#include "wire.h"

#include <stdlib.h>

void wire_writer_init(wire_writer *w) { memset(w, 0, sizeof *w); }

void wire_writer_free(wire_writer *w) {
  free(w->data);
  memset(w, 0, sizeof *w);
}

void wire_writer_reset(wire_writer *w) {
  w->len = 0;
  w->failed = 0;
}

static int wire_reserve(wire_writer *w, size_t more) {
  if (w->failed) return 0;
  if (w->len + more <= w->cap) return 1;
  size_t cap = w->cap ? w->cap : 256;
  while (cap < w->len + more) cap *= 2;
  uint8_t *data = realloc(w->data, cap);
  if (!data) {
    w->failed = 1;
    return 0;
  }
  w->data = data;
  w->cap = cap;
  return 1;
}

void wire_put_bytes(wire_writer *w, const void *bytes, size_t len) {
  if (len == 0 || !wire_reserve(w, len)) return;
  memcpy(w->data + w->len, bytes, len);
  w->len += len;
}

void wire_put_u8(wire_writer *w, uint8_t v) { wire_put_bytes(w, &v, 1); }

void wire_put_u32(wire_writer *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  wire_put_bytes(w, b, sizeof b);
}

void wire_put_u64(wire_writer *w, uint64_t v) {
  wire_put_u32(w, (uint32_t)(v >> 32));
  wire_put_u32(w, (uint32_t)v);
}

void wire_put_blob(wire_writer *w, const void *bytes, size_t len) {
  wire_put_u32(w, (uint32_t)len);
  wire_put_bytes(w, bytes, len);
}

void wire_patch_u32(wire_writer *w, size_t pos, uint32_t v) {
  if (w->failed || pos + 4 > w->len) return;
  w->data[pos] = (uint8_t)(v >> 24);
  w->data[pos + 1] = (uint8_t)(v >> 16);
  w->data[pos + 2] = (uint8_t)(v >> 8);
  w->data[pos + 3] = (uint8_t)v;
}

const uint8_t *wire_get_bytes(wire_reader *r, size_t len) {
  if (r->failed || len > r->len - r->pos) {
    r->failed = 1;
    return NULL;
  }
  const uint8_t *p = r->data + r->pos;
  r->pos += len;
  return p;
}

uint8_t wire_get_u8(wire_reader *r) {
  const uint8_t *p = wire_get_bytes(r, 1);
  return p ? p[0] : 0;
}

uint32_t wire_get_u32(wire_reader *r) {
  const uint8_t *p = wire_get_bytes(r, 4);
  if (!p) return 0;
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

uint64_t wire_get_u64(wire_reader *r) {
  uint64_t hi = wire_get_u32(r);
  uint64_t lo = wire_get_u32(r);
  return hi << 32 | lo;
}

const uint8_t *wire_get_blob(wire_reader *r, size_t max_len, size_t *len) {
  uint32_t n = wire_get_u32(r);
  if (r->failed || n > max_len) {
    r->failed = 1;
    *len = 0;
    return NULL;
  }
  *len = n;
  return wire_get_bytes(r, n);
}

uint32_t wire_crc32c(const void *bytes, size_t len) {
  /* Bitwise CRC-32C (Castagnoli); durable records are small, so no table is kept. */
  const uint8_t *p = bytes;
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}
