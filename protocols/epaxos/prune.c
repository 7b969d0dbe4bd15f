/* prune.c: snapshots of the state machine and the pruning of executed instances.
 *
 * EPaxos has no log to cut at one position: each command leader numbers its own instances, and a
 * node executes them in dependency order, not in instance order. What may be dropped, and when:
 *
 *   Executed watermarks. exec_floor[q] says every instance of leader q up to it is executed here
 *   (execute.c). Every node sends its floors with its periodic CATCHUP (a random peer every
 *   catchup_ms), so each node learns a lower bound of every peer's floors (peer_floor: floors
 *   only grow within an incarnation, and a restarted node restores a snapshot covering at least
 *   what it pruned and re-executes from its durable instances the rest, so a reported floor stays
 *   a true "committed there" bound for good).
 *
 *   Prunable: instance (q, i) with i <= pruned[q] = min(the floors of every node, this one's
 *   snapshot floor S[q]). Executed at every node means: no node will ever ask for it (catch-up
 *   asks only past a node's committed prefix, which is past its floor), no node will recover it
 *   (recovery runs only on instances not committed at the recovering node), and no node will
 *   execute it again (execution starts past the floor; after a restart past the snapshot's
 *   floor, and a node that had not pruned it re-executes it from its own durable instances).
 *   Dependencies on it are satisfied everywhere (execute.c skips instances up to the floor).
 *   Covered by this node's durable snapshot means: a restart does not need it either. A message
 *   about a pruned instance (a late duplicate) is ignored: ep_inst_get and ep_inst_find return
 *   NULL for it, so it can never be recreated as a fresh, uncommitted instance.
 *
 *   A node that is down or behind holds back the pruning of all (its floor does not advance):
 *   memory and durable bytes then grow as without snapshots, until it has caught up. Catching a
 *   far-behind node up with a peer's snapshot is not implemented: nothing it needs is ever
 *   pruned. (Catch-up itself sends EP_CATCHUP_BATCH commits per CATCHUP, which on a real cluster
 *   at ~2,500 ops/s is slower than new commits arrive: a node restarted under load there never
 *   catches up, with or without pruning, and then holds pruning back for good.)
 *
 *   The snapshot cut. The host snapshots the store after this node's last execution; the store
 *   then reflects exactly: every instance up to exec_floor[q], plus the instances executed above
 *   the floors (a non-interfering command can run before an earlier, uncommitted one). At the
 *   step that asks, the node records that cut (its floors and the list of those extra
 *   instances) with the index; the snapshot kept durably carries the cut, and a restart marks
 *   exactly those instances executed before executing the rest.
 *
 *   The index. EPaxos has no total order: commits are numbered 1, 2, 3, ... in this node's
 *   execution order (p->applied), and the host requires snapshot_wanted to be the number of the
 *   last commit it applied, which is exactly p->applied at the end of the asking step. A restart
 *   from the snapshot sets restore_index to that same number and numbers the commits that follow
 *   from it: to the host (and to the simulator's per-key order check, which finds the
 *   snapshot-taker's positions by the snapshot's bytes and this index) the restored node is the
 *   taker at the moment it took the snapshot. The index means nothing to other nodes.
 *
 * Every snapshot_every executions a snapshot is asked for (0: never); its arrival prunes what
 * may be pruned and rewrites the durable bytes (persist_replace): the snapshot with its cut and
 * pruned floors, then the instances past the pruned floors. Memory: chunks of EP_CHUNK instances
 * wholly pruned are freed; pruned instances of a partly pruned chunk lose their command and
 * deps. */
#include <stdlib.h>
#include <string.h>

#include "common/record.h"
#include "ep_internal.h"

#define DURABLE_CHUNK (1u << 20)

void ep_snapshot_free(epaxos *p) {
  free(p->snap_bytes);
  free(p->snap_extra);
  free(p->cut_extra);
  p->snap_bytes = NULL;
  p->snap_extra = p->cut_extra = NULL;
  p->snap_len = p->n_snap_extra = p->n_cut_extra = 0;
}

void ep_prune_note_floors(epaxos *p, int from, const uint64_t *floors) {
  for (int q = 0; q < p->n; q++)
    if (floors[q] > p->peer_floor[from][q]) p->peer_floor[from][q] = floors[q];
}

/* Records the cut the host's snapshot will reflect: the floors and the instances executed above
 * them. Returns 0, or -1 (no snapshot this time) when there are too many or out of memory. */
static int record_cut(epaxos *p) {
  size_t n = 0, cap = 0;
  uint64_t *extra = NULL;
  for (int q = 0; q < p->n; q++)
    for (uint64_t i = p->exec_floor[q] + 1; i <= p->known[q]; i++) {
      const ep_inst *x = ep_inst_find(p, q, i);
      if (!x || !x->executed) continue;
      if (n == EP_MAX_CUT_EXTRA) goto fail;
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        uint64_t *e = realloc(extra, cap * sizeof *e);
        if (!e) goto fail;
        extra = e;
      }
      extra[n++] = (uint64_t)q << 56 | i;
    }
  free(p->cut_extra);
  p->cut_extra = extra;
  p->n_cut_extra = n;
  memcpy(p->cut_floor, p->exec_floor, sizeof p->cut_floor);
  return 0;
fail:
  free(extra);
  return -1;
}

void ep_snapshot_maybe_ask(epaxos *p, ctk_output *out) {
  uint64_t every = (uint64_t)p->opt.snapshot_every;
  if (every == 0 || p->out_of_memory || p->applied < p->snap_index + every ||
      p->cut_index == p->applied)
    return;
  if (record_cut(p) != 0) return;
  p->cut_index = p->applied;
  out->snapshot_wanted = p->applied;
}

void ep_snapshot_output(epaxos *p, ctk_output *out) {
  if (!p->restore_pending) return;
  p->restore_pending = 0;
  out->restore_index = p->snap_index;
  out->restore = (ctk_bytes){p->snap_bytes, (size_t)p->snap_len};
}

/* Drops the instances of leader q in (pruned[q], upto]. */
static void prune_leader(epaxos *p, int q, uint64_t upto) {
  for (uint64_t i = p->pruned[q] + 1; i <= upto; i++) {
    ep_inst *x = ep_inst_find(p, q, i);
    if (!x) continue;
    free(x->cmd);
    free(x->deps);
    ep_fp_free(&x->fp);
    x->cmd = NULL;
    x->deps = NULL;
    x->len = 0;
  }
  p->pruned[q] = upto;
  for (uint64_t c = 0; c < p->n_chunks[q] && (c + 1) * EP_CHUNK <= upto; c++) {
    free(p->chunks[q][c]); /* every instance of it is pruned, their data freed above or before */
    p->chunks[q][c] = NULL;
  }
}

int ep_snapshot_taken(epaxos *p, const ctk_event *ev) {
  if (ev->index > p->applied || ev->bytes.len > EP_MAX_SNAPSHOT ||
      (ev->bytes.len && !ev->bytes.data))
    return CTK_ERR_INVALID;
  if (ev->index != p->cut_index || ev->index <= p->snap_index) return CTK_OK; /* not the cut */
  uint8_t *copy = ev->bytes.len ? malloc(ev->bytes.len) : NULL;
  if (ev->bytes.len && !copy) return CTK_ERR_NOMEM;
  if (ev->bytes.len) memcpy(copy, ev->bytes.data, ev->bytes.len);
  free(p->snap_bytes);
  free(p->snap_extra);
  p->snap_bytes = copy;
  p->snap_len = ev->bytes.len;
  p->snap_index = ev->index;
  memcpy(p->snap_floor, p->cut_floor, sizeof p->snap_floor);
  p->snap_extra = p->cut_extra;
  p->n_snap_extra = p->n_cut_extra;
  p->cut_extra = NULL;
  p->n_cut_extra = 0;
  for (int q = 0; q < p->n; q++) {
    uint64_t upto = p->snap_floor[q];
    for (int r = 0; r < p->n; r++)
      if (r != p->id && p->peer_floor[r][q] < upto) upto = p->peer_floor[r][q];
    if (upto > p->pruned[q]) prune_leader(p, q, upto);
  }
  ep_persist_replace_all(p);
  return CTK_OK;
}

/* ---- durable records ----
 *
 *   SNAPSHOT  index u64, n u8, n x (floor u64, pruned u64), n_extra u32, n_extra x (leader << 56
 *             | num) u64, total u64, offset u64, bytes
 * one record per megabyte of the snapshot, first in a fresh encoding. */

void ep_persist_snapshot(epaxos *p, uint8_t version, uint8_t type) {
  if (p->snap_index == 0) return;
  wire_writer *w = &p->persist;
  uint64_t offset = 0;
  do {
    uint64_t n = p->snap_len - offset < DURABLE_CHUNK ? p->snap_len - offset : DURABLE_CHUNK;
    size_t pos = record_begin(w, version, type);
    wire_put_u64(w, p->snap_index);
    wire_put_u8(w, (uint8_t)p->n);
    for (int q = 0; q < p->n; q++) {
      wire_put_u64(w, p->snap_floor[q]);
      wire_put_u64(w, p->pruned[q]);
    }
    wire_put_u32(w, (uint32_t)p->n_snap_extra);
    for (size_t k = 0; k < p->n_snap_extra; k++) wire_put_u64(w, p->snap_extra[k]);
    wire_put_u64(w, p->snap_len);
    wire_put_u64(w, offset);
    if (n) wire_put_bytes(w, p->snap_bytes + offset, (size_t)n);
    record_end(w, pos);
    offset += n;
  } while (offset < p->snap_len);
}

int ep_snapshot_recover_record(epaxos *p, wire_reader *r) {
  uint64_t index = wire_get_u64(r);
  uint8_t n = wire_get_u8(r);
  if (!wire_reader_ok(r) || index == 0 || n != p->n) return CTK_ERR_CORRUPT;
  uint64_t floor[CTK_MAX_NODES], pruned[CTK_MAX_NODES];
  for (int q = 0; q < n; q++) {
    floor[q] = wire_get_u64(r);
    pruned[q] = wire_get_u64(r);
    if (floor[q] >= EP_MAX_INST || pruned[q] > floor[q]) return CTK_ERR_CORRUPT;
  }
  uint32_t n_extra = wire_get_u32(r);
  if (!wire_reader_ok(r) || n_extra > EP_MAX_CUT_EXTRA) return CTK_ERR_CORRUPT;
  int first = p->snap_index == 0;
  if (first) {
    for (int q = 0; q < p->n; q++)
      if (p->known[q]) return CTK_ERR_CORRUPT; /* first in the bytes, once */
    if (n_extra && !(p->snap_extra = malloc(n_extra * sizeof *p->snap_extra))) return CTK_ERR_NOMEM;
  } else if (index != p->snap_index || n_extra != p->n_snap_extra) {
    return CTK_ERR_CORRUPT;
  }
  for (uint32_t k = 0; k < n_extra; k++) {
    uint64_t x = wire_get_u64(r);
    if ((int)(x >> 56) >= p->n || (x & 0xFFFFFFFFFFFFFFull) <= floor[x >> 56] ||
        (x & 0xFFFFFFFFFFFFFFull) >= EP_MAX_INST)
      return CTK_ERR_CORRUPT;
    if (first) p->snap_extra[k] = x;
  }
  uint64_t total = wire_get_u64(r), offset = wire_get_u64(r);
  size_t len = wire_reader_left(r);
  if (!wire_reader_ok(r) || total > EP_MAX_SNAPSHOT || offset != p->snap_len ||
      len > total - offset || (first && offset != 0) || (!first && total != p->snap_total))
    return CTK_ERR_CORRUPT;
  if (first) {
    p->snap_index = index;
    p->n_snap_extra = n_extra;
    p->snap_total = total;
    for (int q = 0; q < p->n; q++) {
      p->snap_floor[q] = floor[q];
      p->pruned[q] = p->committed[q] = p->known[q] = pruned[q];
    }
  }
  if (len) {
    uint8_t *b = realloc(p->snap_bytes, (size_t)(p->snap_len + len));
    if (!b) return CTK_ERR_NOMEM;
    memcpy(b + p->snap_len, r->data + r->pos, len);
    p->snap_bytes = b;
    p->snap_len += len;
  }
  return CTK_OK;
}

/* After replay: the restored store reflects the cut, so its instances are executed already. */
int ep_snapshot_recover_done(epaxos *p) {
  if (p->snap_index == 0) return CTK_OK;
  if (p->snap_len != p->snap_total) return CTK_ERR_CORRUPT;
  for (int q = 0; q < p->n; q++) {
    for (uint64_t i = p->pruned[q] + 1; i <= p->snap_floor[q]; i++) {
      ep_inst *x = ep_inst_find(p, q, i);
      if (!x || x->status != EP_COMMITTED) return CTK_ERR_CORRUPT;
      x->executed = 1;
    }
    p->exec_floor[q] = p->snap_floor[q];
  }
  for (size_t k = 0; k < p->n_snap_extra; k++) {
    ep_inst *x =
        ep_inst_find(p, (int)(p->snap_extra[k] >> 56), p->snap_extra[k] & 0xFFFFFFFFFFFFFFull);
    if (!x || x->status != EP_COMMITTED) return CTK_ERR_CORRUPT;
    x->executed = 1;
  }
  p->applied = p->cut_index = p->snap_index;
  p->restore_pending = 1;
  return CTK_OK;
}
