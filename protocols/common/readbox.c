/* readbox.c: the reads one protocol step answers without its log (readbox.h). */
#include "readbox.h"

#include <stdlib.h>

#define READBOX_INITIAL_CAP 16
#define READBOX_KEEP_BYTES  (8u << 20) /* a buffer grown past this by one big step is released */

void ctk_readbox_reset(ctk_readbox *b) {
  if (b->buf.cap > READBOX_KEEP_BYTES) wire_writer_free(&b->buf);
  wire_writer_reset(&b->buf);
  b->n = 0;
}

void ctk_readbox_free(ctk_readbox *b) {
  wire_writer_free(&b->buf);
  free(b->len);
  free(b->reads);
  *b = (ctk_readbox){0};
}

int ctk_readbox_add(ctk_readbox *b, const uint8_t *data, size_t len) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : READBOX_INITIAL_CAP;
    size_t *lens = realloc(b->len, cap * sizeof *lens);
    if (lens) b->len = lens;
    ctk_bytes *reads = lens ? realloc(b->reads, cap * sizeof *reads) : NULL;
    if (reads) b->reads = reads;
    if (!lens || !reads) return -1;
    b->cap = cap;
  }
  wire_put_bytes(&b->buf, data, len);
  b->len[b->n++] = len;
  return 0;
}

int ctk_readbox_failed(const ctk_readbox *b) { return b->buf.failed; }

void ctk_readbox_output(ctk_readbox *b, ctk_output *out) {
  size_t offset = 0;
  for (size_t i = 0; i < b->n; i++) {
    b->reads[i] = (ctk_bytes){b->buf.data + offset, b->len[i]};
    offset += b->len[i];
  }
  out->reads = b->n ? b->reads : NULL;
  out->n_reads = b->n;
}
