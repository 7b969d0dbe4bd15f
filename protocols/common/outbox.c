/* outbox.c: the messages of one protocol step (see outbox.h). */
#include "outbox.h"

#include <stdlib.h>

#define OUTBOX_INITIAL_CAP 64
#define OUTBOX_KEEP_BYTES  (8u << 20) /* a buffer grown past this by one big step is released */

int ctk_outbox_init(ctk_outbox *o) {
  *o = (ctk_outbox){0};
  wire_writer_init(&o->buf);
  o->cap = OUTBOX_INITIAL_CAP;
  o->entries = malloc(o->cap * sizeof *o->entries);
  o->messages = malloc(o->cap * sizeof *o->messages);
  return o->entries && o->messages ? 0 : -1;
}

void ctk_outbox_free(ctk_outbox *o) {
  wire_writer_free(&o->buf);
  free(o->entries);
  free(o->messages);
  *o = (ctk_outbox){0};
}

void ctk_outbox_reset(ctk_outbox *o) {
  if (o->buf.cap > OUTBOX_KEEP_BYTES) wire_writer_free(&o->buf);
  wire_writer_reset(&o->buf);
  o->n = 0;
  o->failed = 0;
}

wire_writer *ctk_outbox_begin(ctk_outbox *o, int to) {
  o->to = to;
  o->start = o->buf.len;
  return &o->buf;
}

/* Room for one more entry (and its ctk_message); 0 or -1. Both arrays grow before the capacity
 * changes. */
static int reserve(ctk_outbox *o) {
  if (o->n < o->cap) return 0;
  size_t cap = o->cap * 2;
  ctk_outbox_entry *e = realloc(o->entries, cap * sizeof *e);
  if (!e) return -1;
  o->entries = e;
  ctk_message *m = realloc(o->messages, cap * sizeof *m);
  if (!m) return -1;
  o->messages = m;
  o->cap = cap;
  return 0;
}

void ctk_outbox_end(ctk_outbox *o) {
  if (o->buf.failed || reserve(o) != 0) {
    o->failed = 1;
    if (!o->buf.failed) o->buf.len = o->start; /* the message is dropped */
    return;
  }
  o->entries[o->n++] = (ctk_outbox_entry){o->to, o->start, o->buf.len - o->start};
}

ctk_bytes ctk_outbox_bytes(const ctk_outbox *o, size_t i) {
  return (ctk_bytes){o->buf.data + o->entries[i].offset, o->entries[i].len};
}

const ctk_message *ctk_outbox_messages(ctk_outbox *o) {
  for (size_t i = 0; i < o->n; i++)
    o->messages[i] = (ctk_message){o->entries[i].to, ctk_outbox_bytes(o, i)};
  return o->messages;
}

int ctk_outbox_failed(const ctk_outbox *o) { return o->failed || o->buf.failed; }
