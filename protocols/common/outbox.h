/* outbox.h: the messages one protocol step sends. They are encoded one after the other into one
 * buffer (begin, encode into the returned writer, end), and handed to the host as ctk_message
 * entries pointing into that buffer, valid until the next reset. Running out of memory is
 * remembered (ctk_outbox_failed), never a crash: the step then reports CTK_ERR_NOMEM. */
#ifndef CTK_OUTBOX_H
#define CTK_OUTBOX_H

#include <stddef.h>

#include "../protocol.h"
#include "wire.h"

typedef struct ctk_outbox_entry {
  int to;
  size_t offset, len;
} ctk_outbox_entry;

typedef struct ctk_outbox {
  wire_writer buf;
  ctk_outbox_entry *entries;
  ctk_message *messages; /* filled by ctk_outbox_messages */
  size_t n, cap;
  size_t start; /* of the message being encoded */
  int to;
  int failed;
} ctk_outbox;

/* 0, or -1 when out of memory (free it all the same). */
int ctk_outbox_init(ctk_outbox *o);
void ctk_outbox_free(ctk_outbox *o);
void ctk_outbox_reset(ctk_outbox *o);

/* Starts a message to node `to`: encode it into the returned writer, then call ctk_outbox_end. */
wire_writer *ctk_outbox_begin(ctk_outbox *o, int to);
void ctk_outbox_end(ctk_outbox *o);

/* The i-th message's bytes (valid until the buffer grows or is reset). */
ctk_bytes ctk_outbox_bytes(const ctk_outbox *o, size_t i);

/* Every message as the host wants them, pointing into the buffer. */
const ctk_message *ctk_outbox_messages(ctk_outbox *o);

int ctk_outbox_failed(const ctk_outbox *o);

#endif /* CTK_OUTBOX_H */
