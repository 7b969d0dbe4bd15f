/* record.h: the CRC-framed records every protocol's durable state is made of. A record is a
 * 12-byte header (payload length, CRC-32C of the payload, CRC-32C of those 8 bytes) and a payload
 * that starts with the protocol's format version and the record's type. Reading tells a torn
 * tail (a crash mid-append: dropped) from corruption (a bad record with a valid one after it). */
#ifndef CTK_RECORD_H
#define CTK_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define RECORD_HEADER_BYTES 12

/* Starts a record of `type` in w; returns its position, for record_end. */
size_t record_begin(wire_writer *w, uint8_t version, uint8_t type);
/* Fills in the header of the record started at pos, once its payload is written. */
void record_end(wire_writer *w, size_t pos);

/* Frames the record at pos of bytes[0, len): 1 and *end when it is whole and valid, 0 for a torn
 * tail (nothing valid after it), CTK_ERR_CORRUPT for a bad record with more records behind it.
 * Its payload is bytes[pos + RECORD_HEADER_BYTES, *end). */
int record_frame(const uint8_t *bytes, size_t len, size_t pos, size_t *end);

/* Hands the payload of every record of bytes[0, len) to apply, in order. Returns CTK_OK (a torn
 * tail is dropped, and *torn_tail set), CTK_ERR_CORRUPT, or the first error apply returned. */
int record_replay(const uint8_t *bytes, size_t len,
                  int (*apply)(void *ctx, const uint8_t *payload, size_t len), void *ctx,
                  int *torn_tail);

#endif /* CTK_RECORD_H */
