/* readbox.h: the reads one protocol step answers without writing its log (output.reads: ReadIndex,
 * leases, local reads). Each command is copied after the last into one buffer and handed to the
 * host as ctk_bytes pointing into it, valid until the next reset. Running out of memory is
 * returned or remembered (ctk_readbox_failed), never a crash. */
#ifndef CTK_READBOX_H
#define CTK_READBOX_H

#include <stddef.h>
#include <stdint.h>

#include "../protocol.h"
#include "wire.h"

typedef struct ctk_readbox {
  wire_writer buf;  /* the reads, back to back */
  size_t *len;      /* of each */
  ctk_bytes *reads; /* filled by ctk_readbox_output */
  size_t n, cap;
} ctk_readbox;

/* Empties it for a new step (a buffer one big step grew past 8 MiB is released). A zeroed
 * ctk_readbox is an empty one. */
void ctk_readbox_reset(ctk_readbox *b);
void ctk_readbox_free(ctk_readbox *b);

/* Adds a copy of data[0, len): 0, or -1 when out of memory for one more read (none added). A
 * buffer that could not grow is remembered by ctk_readbox_failed. */
int ctk_readbox_add(ctk_readbox *b, const uint8_t *data, size_t len);
int ctk_readbox_failed(const ctk_readbox *b);

/* Hands this step's reads to the host: out->reads (NULL when none) and out->n_reads. */
void ctk_readbox_output(ctk_readbox *b, ctk_output *out);

#endif /* CTK_READBOX_H */
