/* transfer.c: catching a node up from a peer's snapshot when what it lacks was pruned (prune.c).
 *
 * Sending. A node that pruned instances a peer has not seen committed (the peer's CatchUp names a
 * committed prefix below this node's pruned floor, or a recovery at the peer asks about a pruned
 * instance, replica.c) offers its durable snapshot, at most once per retry_timeout_ms per peer.
 * What travels is the snapshot with its cut, the image:
 *
 *   version u8 = 1, index u64, n u8, floor u64 x n, base_seq u64, n_extra u32,
 *   n_extra x (leader << 56 | num) u64, the state machine's bytes
 *
 * in chunks of EP_SNAP_CHUNK bytes that the receiver pulls one after the other: SnapChunk (index,
 * total, offset, bytes) answered by SnapPull (index, total, bytes held). A lost message is made
 * good by the next offer or, once the transfer stalled for retry_timeout_ms, by a pull of what
 * is missing; a receiver takes one transfer at a time.
 *
 * Installing. An executed set is closed under dependencies: two interfering committed instances
 * have a dependency in at least one direction, and an instance executes only after (or in one
 * strongly connected component with) every interfering instance it depends on. So the cut C of
 * the sender's snapshot is a state every node passes through: an interfering instance outside C
 * depends on the instances of C it interferes with and executes after them everywhere. The
 * receiver replaces its state machine with the snapshot (output.restore, through the sender's
 * index: to the host and to the simulator's per-key order check the receiver is then the sender
 * at the moment it took the snapshot) and takes C as its executed set: the instances up to the
 * floors are dropped as pruned (it answers for them as a node that pruned them), those executed
 * above them are marked executed (held or not: one not held is committed elsewhere, and its
 * commit is learned like any other), and whatever it had executed outside C is executed again,
 * in dependency order, numbered after the index. Its own proposals of instances under the floor
 * end (they are committed), and its next own instance comes after them.
 *
 * It installs only when it can continue from C: the index is past every commit it emitted in
 * this incarnation (protocol.h: a restore never goes back), C's floors cover everything it pruned
 * (it could not re-execute instances it no longer holds), and C covers a commit it lacks (it
 * needs it). A snapshot it needs but cannot continue from is answered by a SnapPull of its whole
 * length, "too old": the sender then snapshots at once rather than after snapshot_every more
 * executions (a node that stopped at the same index as the sender's snapshot, with another cut,
 * waited forever once the clients were done: epaxos-snapshot-lag-harsh-sweep-3.toml seed 98).
 * Once the sender has executed everything committed, its snapshot's index is past the commits of
 * any node that lacks one, and its floors cover whatever any node pruned.
 *
 * Attributes. The receiver did not see the instances of C it lacks; it treats them as
 * interfering with every command from now on (base_inst: the floors and the instances above
 * them; base_seq: the sender's highest seq), so that a command it answers a PreAccept for still
 * gets every dependency (and a seq above every seq) a node in the quorum of those instances
 * would have given it.
 *
 * Durable: the install rewrites the durable bytes (persist_replace) in the step that installs, so
 * nothing based on it leaves before it is durable; until then the received bytes are volatile,
 * and a crash mid-transfer leaves the old durable state as it was. */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

#define IMAGE_VERSION 1
#define NUM_MASK      0xFFFFFFFFFFFFFFull

/* The image of this node's durable snapshot, built once per snapshot. 0, or -1 without one. */
static int build_image(epaxos *p) {
  if (!p->snap_index) return -1;
  if (p->image && p->image_index == p->snap_index) return 0;
  free(p->image);
  p->image = NULL;
  p->image_len = 0;
  p->image_index = 0;
  wire_writer w;
  wire_writer_init(&w);
  wire_put_u8(&w, IMAGE_VERSION);
  wire_put_u64(&w, p->snap_index);
  wire_put_u8(&w, (uint8_t)p->n);
  for (int q = 0; q < p->n; q++) wire_put_u64(&w, p->snap_floor[q]);
  /* every instance of the cut is known here, so its seq is at most this */
  wire_put_u64(&w, p->base_seq > p->conflicts.all.seq ? p->base_seq : p->conflicts.all.seq);
  wire_put_u32(&w, (uint32_t)p->n_snap_extra);
  for (size_t k = 0; k < p->n_snap_extra; k++) wire_put_u64(&w, p->snap_extra[k]);
  if (p->snap_len) wire_put_bytes(&w, p->snap_bytes, (size_t)p->snap_len);
  if (w.failed) {
    wire_writer_free(&w);
    p->out_of_memory = 1;
    return -1;
  }
  p->image = w.data;
  p->image_len = w.len;
  p->image_index = p->snap_index;
  return 0;
}

static void send_chunk(epaxos *p, int to, uint64_t offset) {
  if (offset >= p->image_len) offset = 0;
  size_t n = p->image_len - (size_t)offset;
  if (n > EP_SNAP_CHUNK) n = EP_SNAP_CHUNK;
  ep_msg m = {.type = EP_MSG_SNAP_CHUNK,
              .inst = p->image_index,
              .total = p->image_len,
              .offset = offset,
              .has_cmd = 1,
              .cmd = p->image + offset,
              .cmd_len = n};
  ep_send(p, to, &m);
}

void ep_snap_offer(epaxos *p, int to) {
  if (to == p->id || to < 0 || to >= p->n) return;
  uint64_t every_us = (uint64_t)p->opt.retry_timeout_ms * 1000;
  if (p->offered_us[to] && p->now_us < p->offered_us[to] + every_us) return;
  if (build_image(p) != 0) return;
  p->offered_us[to] = p->now_us;
  p->count.snap_offers++;
  send_chunk(p, to, 0);
}

void ep_recv_snap_pull(epaxos *p, int from, const ep_msg *m) {
  if (build_image(p) != 0) return;
  if (m->inst != p->image_index || m->total != p->image_len)
    return ep_snap_offer(p, from); /* a snapshot this node no longer holds: offer the new one */
  if (m->offset < p->image_len) return send_chunk(p, from, m->offset);
  p->snap_refresh = 1; /* too old for the peer: a new snapshot at once (prune.c) */
}

/* "Your snapshot is too old for me": a pull of its whole length. The sender takes a new one at
 * once (ep_recv_snap_pull), which, once it executed everything committed, is past this node's
 * commits and covers everything this node pruned. */
static void send_too_old(epaxos *p, int to, uint64_t index, uint64_t total) {
  ep_msg m = {.type = EP_MSG_SNAP_PULL, .inst = index, .total = total, .offset = total};
  ep_send(p, to, &m);
}

static void send_pull(epaxos *p, int to, const ctk_snap_rx *rx) {
  ep_msg m = {.type = EP_MSG_SNAP_PULL, .inst = rx->index, .total = rx->total, .offset = rx->have};
  ep_send(p, to, &m);
}

/* The cut an image carries, checked. */
typedef struct image_cut {
  uint64_t index, floor[CTK_MAX_NODES], top[CTK_MAX_NODES], base_seq;
  uint64_t *extra; /* owned */
  uint32_t n_extra;
  const uint8_t *state; /* the state machine's bytes, in the image */
  size_t state_len;
} image_cut;

/* Parses the received image: 0, or -1 when malformed (or out of memory: *nomem). */
static int parse_image(epaxos *p, const ctk_snap_rx *rx, image_cut *c, int *nomem) {
  wire_reader r;
  wire_reader_init(&r, rx->data, (size_t)rx->total);
  *c = (image_cut){0};
  uint8_t version = wire_get_u8(&r);
  c->index = wire_get_u64(&r);
  uint8_t n = wire_get_u8(&r);
  if (!wire_reader_ok(&r) || version != IMAGE_VERSION || c->index != rx->index || n != p->n)
    return -1;
  for (int q = 0; q < p->n; q++) {
    c->floor[q] = c->top[q] = wire_get_u64(&r);
    if (c->floor[q] >= EP_MAX_INST) return -1;
  }
  c->base_seq = wire_get_u64(&r);
  c->n_extra = wire_get_u32(&r);
  if (!wire_reader_ok(&r) || c->base_seq >= EP_MAX_INST || c->n_extra > EP_MAX_CUT_EXTRA ||
      wire_reader_left(&r) / 8 < c->n_extra)
    return -1;
  if (c->n_extra && !(c->extra = malloc(c->n_extra * sizeof *c->extra))) {
    *nomem = 1;
    return -1;
  }
  for (uint32_t k = 0; k < c->n_extra; k++) {
    uint64_t x = wire_get_u64(&r);
    int q = (int)(x >> 56);
    uint64_t i = x & NUM_MASK;
    if (q >= p->n || i <= c->floor[q] || i >= EP_MAX_INST) goto bad;
    if (i > c->top[q]) c->top[q] = i;
    c->extra[k] = x;
  }
  c->state_len = wire_reader_left(&r);
  c->state = rx->data + (rx->total - c->state_len);
  if (c->state_len > EP_MAX_SNAPSHOT) goto bad;
  return 0;
bad:
  free(c->extra);
  c->extra = NULL;
  return -1;
}

/* Whether this node needs the cut and can continue from it (see the top of the file). */
enum { CUT_INSTALL, CUT_NOT_NEEDED, CUT_TOO_OLD };
static int installable(epaxos *p, const image_cut *c) {
  int needed = 0, too_old = c->index <= p->applied;
  for (int q = 0; q < p->n; q++) {
    if (c->floor[q] < p->pruned[q]) too_old = 1;
    if (c->floor[q] > p->committed[q]) needed = 1;
    /* the instances above the floor get a place here (ep_inst_get's window) */
    if (c->top[q] > p->committed[q] + EP_WINDOW) needed = 0;
  }
  return !needed ? CUT_NOT_NEEDED : too_old ? CUT_TOO_OLD : CUT_INSTALL;
}

/* Installs the cut and the state machine; the checks passed. 0, or -1 out of memory (nothing
 * changed then). */
static int install(epaxos *p, image_cut *c) {
  uint8_t *state = ctk_snap_copy(c->state, c->state_len);
  if (!state) return -1;
  for (uint32_t k = 0; k < c->n_extra; k++) /* allocated before anything changes */
    if (!ep_inst_get(p, (int)(c->extra[k] >> 56), c->extra[k] & NUM_MASK)) {
      free(state);
      return -1;
    }
  for (size_t i = 0; i < p->props_top; i++) {
    ep_prop *pr = &p->props[i];
    if (pr->active && pr->num <= c->floor[pr->leader]) ep_prop_free(p, pr);
  }
  for (int q = 0; q < p->n; q++) {
    if (c->floor[q] > p->pruned[q]) ep_prune_leader(p, q, c->floor[q]);
    if (p->committed[q] < c->floor[q]) p->committed[q] = c->floor[q];
    while (1) {
      const ep_inst *next = ep_inst_find(p, q, p->committed[q] + 1);
      if (!next || next->status != EP_COMMITTED) break;
      p->committed[q]++;
    }
    ep_note_known(p, q, c->top[q]);
    for (uint64_t i = c->floor[q] + 1; i <= p->known[q]; i++) {
      ep_inst *x = ep_inst_find(p, q, i);
      if (x) x->executed = 0;
    }
    p->exec_floor[q] = c->floor[q];
    if (c->top[q] > p->base_inst[q]) p->base_inst[q] = c->top[q];
  }
  for (uint32_t k = 0; k < c->n_extra; k++)
    ep_inst_find(p, (int)(c->extra[k] >> 56), c->extra[k] & NUM_MASK)->executed = 1;
  if (c->base_seq > p->base_seq) p->base_seq = c->base_seq;
  ep_conflicts_raise_base(p, p->base_inst, p->base_seq);
  if (p->next_own <= p->base_inst[p->id]) p->next_own = p->base_inst[p->id] + 1;

  free(p->snap_bytes);
  free(p->snap_extra);
  free(p->cut_extra);
  p->snap_bytes = state;
  p->snap_len = p->snap_total = c->state_len;
  p->snap_index = p->cut_index = c->index;
  memcpy(p->snap_floor, c->floor, sizeof p->snap_floor);
  p->snap_extra = c->extra;
  p->n_snap_extra = c->n_extra;
  c->extra = NULL;
  p->cut_extra = NULL;
  p->n_cut_extra = 0;

  /* The commits emitted so far in this step are not applied: the host replaces the state
   * machine first (protocol.h), and they are in the cut or executed again after it. */
  p->n_commits = 0;
  p->applied = c->index;
  p->restore_pending = 1;
  p->exec_dirty = 1;
  p->exec_backlog = 0;
  p->oldest_waiting_us = CTK_DEADLINE_NONE;
  p->count.snap_installs++;
  ep_persist_replace_all(p);
  return 0;
}

void ep_recv_snap_chunk(epaxos *p, int from, const ep_msg *m) {
  ctk_snap_rx *rx = &p->rx;
  if (m->inst <= p->applied) {
    /* It could not be installed (a restore never goes back over this incarnation's commits):
     * this node executed more commands than the snapshot holds, yet lacks some it covers (it
     * was offered because it does). Ask for a newer one. */
    if (m->offset == 0) send_too_old(p, from, m->inst, m->total);
    return;
  }
  int stalled = p->now_us - rx->progress_us >= (uint64_t)p->opt.retry_timeout_ms * 1000;
  if (m->inst != rx->index || m->total != rx->total) {
    if (rx->index && !stalled) return; /* one transfer at a time */
    if (m->offset != 0) return;
    ctk_snap_rx_reset(rx, m->inst, m->total);
  }
  if (m->offset != rx->have) {
    if (stalled) {
      rx->progress_us = p->now_us; /* one pull per stall */
      send_pull(p, from, rx);
    }
    return;
  }
  if (ctk_snap_rx_append(rx, m->cmd, m->cmd_len) != 0) {
    p->out_of_memory = 1;
    return;
  }
  rx->progress_us = p->now_us;
  if (rx->have < rx->total) return send_pull(p, from, rx);
  image_cut c;
  int nomem = 0;
  if (parse_image(p, rx, &c, &nomem) != 0) {
    if (nomem)
      p->out_of_memory = 1;
    else
      p->count.snap_rejected++;
  } else {
    int verdict = installable(p, &c);
    if (verdict == CUT_TOO_OLD) send_too_old(p, from, rx->index, rx->total);
    if (verdict == CUT_INSTALL && install(p, &c) != 0) p->out_of_memory = 1;
  }
  free(c.extra);
  ctk_snap_rx_reset(rx, 0, 0);
  rx->progress_us = 0;
}
