/* session.c: the follower's end of a session, made to behave like the TCP connection ZooKeeper
 * runs ZAB over.
 *
 * The leader numbers its messages of a session 1, 2, 3, ... A message seen before is dropped (a
 * duplicate). One that arrives early, while an earlier one is missing, is held (as TCP's
 * receive buffer holds out-of-order segments) and delivered once the gap closes. A gap that stays
 * open for reorder_window_ms, or more early messages than the buffer takes, means a message was
 * lost: without retransmission that is a broken connection, and the follower opens a new
 * session, which synchronizes it again. With reorder_window_ms = 0 any reordering breaks the
 * connection. */
#include <stdlib.h>
#include <string.h>

#include "zab_internal.h"

void zab_session_clear(zab *z) {
  for (int i = 0; i < z->n_held; i++) free(z->held[i].bytes);
  z->n_held = 0;
  z->held_bytes = 0;
  z->gap_deadline_us = CTK_DEADLINE_NONE;
}

/* Holds a copy of an early message; -1 when the buffer is full (or memory is). */
static int hold(zab *z, uint64_t seq, const uint8_t *bytes, size_t len) {
  for (int i = 0; i < z->n_held; i++)
    if (z->held[i].seq == seq) return 0; /* a duplicate of one already held */
  if (z->n_held == ZAB_HOLD_MAX || z->held_bytes + len > ZAB_HOLD_MAX_BYTES) return -1;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return -1;
  memcpy(copy, bytes, len);
  z->held[z->n_held++] = (zab_held){seq, copy, len};
  z->held_bytes += len;
  return 0;
}

/* Removes the held message of sequence number seq, if any; the caller frees its bytes. */
static int take(zab *z, uint64_t seq, zab_held *out) {
  for (int i = 0; i < z->n_held; i++) {
    if (z->held[i].seq != seq) continue;
    *out = z->held[i];
    z->held[i] = z->held[--z->n_held];
    z->held_bytes -= out->len;
    return 1;
  }
  return 0;
}

void zab_session_recv(zab *z, const zab_msg *m, const uint8_t *bytes, size_t len) {
  if (m->seq < z->next_seq) return; /* a duplicate */
  if (m->seq > z->next_seq) {
    if (z->reorder_window_us == 0 || hold(z, m->seq, bytes, len) != 0) {
      zab_follower_reconnect(z);
      return;
    }
    if (z->gap_deadline_us == CTK_DEADLINE_NONE)
      z->gap_deadline_us = z->now_us + z->reorder_window_us;
    return;
  }
  uint64_t session = z->session;
  zab_follower_deliver(z, m);
  zab_held h;
  while (z->state == ZAB_FOLLOWING && z->session == session && take(z, z->next_seq, &h)) {
    zab_msg early;
    if (zab_msg_decode(h.bytes, h.len, &early) == CTK_OK) zab_follower_deliver(z, &early);
    free(h.bytes);
  }
  if (z->state == ZAB_FOLLOWING && z->session == session)
    z->gap_deadline_us = z->n_held ? z->now_us + z->reorder_window_us : CTK_DEADLINE_NONE;
}

void zab_session_timeout(zab *z) {
  if (z->now_us >= z->gap_deadline_us) zab_follower_reconnect(z);
}
