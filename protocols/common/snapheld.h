/* snapheld.h: the state machine snapshot a protocol holds (the host's bytes through an index) and
 * the one it is receiving from a peer in chunks. Paxos, Multi-Paxos and VR share this part; what
 * a snapshot discards, how it is persisted and who sends it to whom stay in their snapshot.c. */
#ifndef CTK_SNAPHELD_H
#define CTK_SNAPHELD_H

#include <stddef.h>
#include <stdint.h>

#include "../protocol.h"

typedef struct ctk_snap_held {
  uint64_t index; /* 0: none */
  uint8_t *data;  /* owned */
  size_t len;
  uint64_t asked; /* the index last asked of the host (volatile) */
  int restored;   /* just installed: the host must replace its state machine (output.restore) */
} ctk_snap_held;

/* A snapshot being received: bytes [0, have) of the total of the one through index. */
typedef struct ctk_snap_rx {
  uint64_t index, total, have;
  uint64_t progress_us; /* when a chunk last came in order */
  uint8_t *data;        /* owned */
  size_t cap;
} ctk_snap_rx;

/* The checks on step(SNAPSHOT) every protocol makes before it looks at its own state:
 * CTK_ERR_INVALID for index 0, missing bytes or more than max_bytes, else CTK_OK. */
int ctk_snap_taken_check(const ctk_event *ev, size_t max_bytes);

/* A copy of data[0, len) the caller owns, or NULL when out of memory. */
uint8_t *ctk_snap_copy(const uint8_t *data, size_t len);

/* Holds data (taken over) as the snapshot through index; the one held before is freed. */
void ctk_snap_held_replace(ctk_snap_held *h, uint64_t index, uint8_t *data, size_t len);
/* Holds a copy of data[0, len) as the snapshot through index: 0, or -1 when out of memory (the
 * snapshot held is then unchanged). */
int ctk_snap_held_set(ctk_snap_held *h, uint64_t index, const uint8_t *data, size_t len);
/* The received snapshot, whole, becomes the one held (marked restored); rx starts empty. */
void ctk_snap_held_install(ctk_snap_held *h, ctk_snap_rx *rx);

/* Fills the output's snapshot part: restore once after an install or a recovery, and
 * snapshot_wanted when `applied` is `every` (0: never) past the last snapshot or request. */
void ctk_snap_held_output(ctk_snap_held *h, uint64_t applied, uint64_t every, ctk_output *out);

/* Where a chunk of a snapshot of len bytes starts (*offset; one past the end starts over) and its
 * length, at most chunk_bytes. */
size_t ctk_snap_chunk(size_t len, uint64_t *offset, uint64_t chunk_bytes);

/* Starts receiving the snapshot through index, of total bytes (empty: 0, 0). */
void ctk_snap_rx_reset(ctk_snap_rx *rx, uint64_t index, uint64_t total);
/* Appends the next chunk (have + len <= total): 0, or -1 when out of memory. */
int ctk_snap_rx_append(ctk_snap_rx *rx, const uint8_t *data, size_t len);

void ctk_snap_held_free(ctk_snap_held *h);
void ctk_snap_rx_free(ctk_snap_rx *rx);

#endif /* CTK_SNAPHELD_H */
