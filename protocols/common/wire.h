/* wire.h: bounds-checked big-endian encoding and decoding shared by every protocol's codec.
 *
 * A writer appends into a growable buffer; a reader walks a borrowed byte run and, once anything
 * is out of bounds, stays failed: every later read returns zero and wire_reader_ok() says no.
 * Codecs read a whole message, then check wire_reader_done() once, instead of checking each
 * field. */
#ifndef CTK_WIRE_H
#define CTK_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct wire_writer {
  uint8_t *data;
  size_t len, cap;
  int failed; /* out of memory */
} wire_writer;

typedef struct wire_reader {
  const uint8_t *data;
  size_t len, pos;
  int failed;
} wire_reader;

void wire_writer_init(wire_writer *w);
void wire_writer_free(wire_writer *w);
void wire_writer_reset(wire_writer *w); /* len = 0, keeps the memory */
void wire_put_bytes(wire_writer *w, const void *bytes, size_t len);
void wire_put_u8(wire_writer *w, uint8_t v);
void wire_put_u32(wire_writer *w, uint32_t v);
void wire_put_u64(wire_writer *w, uint64_t v);
/* A u32 length followed by the bytes. */
void wire_put_blob(wire_writer *w, const void *bytes, size_t len);
/* Overwrites 4 bytes at pos (already written) with v, e.g. a length known only afterwards. */
void wire_patch_u32(wire_writer *w, size_t pos, uint32_t v);
void wire_patch_u64(wire_writer *w, size_t pos, uint64_t v);

static inline void wire_reader_init(wire_reader *r, const uint8_t *data, size_t len) {
  r->data = data;
  r->len = len;
  r->pos = 0;
  r->failed = 0;
}
static inline int wire_reader_ok(const wire_reader *r) { return !r->failed; }
/* True when everything was read in bounds and nothing is left over. */
static inline int wire_reader_done(const wire_reader *r) { return !r->failed && r->pos == r->len; }
static inline size_t wire_reader_left(const wire_reader *r) {
  return r->failed ? 0 : r->len - r->pos;
}

uint8_t wire_get_u8(wire_reader *r);
uint32_t wire_get_u32(wire_reader *r);
uint64_t wire_get_u64(wire_reader *r);
/* Borrows len bytes from the reader; NULL (and failed) when fewer are left. */
const uint8_t *wire_get_bytes(wire_reader *r, size_t len);
/* Reads a u32 length then borrows that many bytes; fails when the length exceeds max_len. */
const uint8_t *wire_get_blob(wire_reader *r, size_t max_len, size_t *len);

/* CRC-32C of a run of bytes, for framing durable records. */
uint32_t wire_crc32c(const void *bytes, size_t len);

#endif /* CTK_WIRE_H */
