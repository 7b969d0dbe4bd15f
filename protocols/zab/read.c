/* read.c: ZAB's read modes (option read_mode). "log": every get is proposed like a write.
 * "local": as ZooKeeper serves reads, a node in the broadcast phase (following or leading)
 * answers a get from its own state at once, without asking anyone. Such reads may be stale (a
 * follower behind the leader, a leader deposed without knowing it); a run that uses them says so
 * with workload.stale_reads. What stays true is ZooKeeper's per-client FIFO order: a client that
 * stays with one server (workload.sticky_sessions) was answered its write by that server once
 * the server had applied it, so its later reads there see that write.
 *
 * ZooKeeper's sync-then-read (a follower catching up with the leader before a read) is not
 * implemented yet. */
#include <stdlib.h>

#include "zab_internal.h"

void zab_read_reset(zab *z) {
  if (z->read_buf.cap > (8u << 20)) wire_writer_free(&z->read_buf);
  wire_writer_reset(&z->read_buf);
  z->n_reads = 0;
}

void zab_read_free(zab *z) {
  wire_writer_free(&z->read_buf);
  free(z->read_len);
  free(z->reads);
}

int zab_read_command(zab *z, const uint8_t *data, size_t len) {
  if (z->opt.read_mode != ZAB_READ_LOCAL || z->phase != ZAB_BROADCAST) return 0;
  if (z->state != ZAB_FOLLOWING && z->state != ZAB_LEADING) return 0;
  ctk_footprint f = ctk_command_footprint(data, len);
  if (!f.known || f.write) return 0;
  if (z->n_reads == z->cap_reads) {
    size_t cap = z->cap_reads ? z->cap_reads * 2 : 16;
    size_t *lens = realloc(z->read_len, cap * sizeof *lens);
    if (lens) z->read_len = lens;
    ctk_bytes *reads = lens ? realloc(z->reads, cap * sizeof *reads) : NULL;
    if (reads) z->reads = reads;
    if (!lens || !reads) {
      z->out_of_memory = 1;
      return 1;
    }
    z->cap_reads = cap;
  }
  wire_put_bytes(&z->read_buf, data, len);
  if (z->read_buf.failed) z->out_of_memory = 1;
  z->read_len[z->n_reads++] = len;
  return 1;
}

void zab_read_output(zab *z, ctk_output *out) {
  size_t offset = 0;
  for (size_t i = 0; i < z->n_reads; i++) {
    z->reads[i] = (ctk_bytes){z->read_buf.data + offset, z->read_len[i]};
    offset += z->read_len[i];
  }
  out->reads = z->n_reads ? z->reads : NULL;
  out->n_reads = z->n_reads;
}
