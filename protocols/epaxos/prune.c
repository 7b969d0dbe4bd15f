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
 *   Prunable: instance (q, i) with i <= pruned[q] = the least of this node's snapshot floor S[q]
 *   (a restart does not need it) and the floors of leader q reported by every peer but those
 *   that lag: a peer lags when it was heard from, its floors are at most S on every leader, and
 *   more than snapshot_lag instances below S[q] on leader q. A node close behind gets the
 *   commits it lacks one by one (catch-up); a node that lags (down, or far behind) no longer
 *   holds the others back, and is caught up from a snapshot instead (transfer.c).
 *
 *   "At most S on every leader" is what lets it install this node's snapshot: it pruned nothing
 *   the snapshot lacks (its pruned floors are at most its executed floors), so it needs no
 *   command it no longer holds to continue from the cut. Without it, two nodes each ahead of the
 *   other on a different leader pruned past each other: each lacked a commit only the other's
 *   snapshot held, could install neither, and the commands were gone (the cluster stalled:
 *   epaxos-snapshot-lag-harsh-sweep*.toml, snapshot_lag = 1). For the same reason a peer not
 *   heard from in this incarnation is waited for: its floors are unknown, not 0.
 *
 *   The echo. The floors a node heard are old, and two nodes could still each judge the other
 *   lagging from floors reported before the other moved ahead, and prune past each other (the
 *   harsh sweeps stalled at about 1 seed in 2,000 that way: 3-node seeds 43556, 43580, 5-node
 *   seeds 40963, 40968). So a CATCHUP also carries the sender's view of the receiver's floors
 *   (echo_floor at the receiver), and this node prunes leader q past a lagging peer r only up to
 *   its own floor as r last echoed it (at least r's floor). Then two nodes A and B never prune
 *   past each other: say A prunes i past B at time t and B prunes j past A at t'. B's bound is
 *   A's echo of B's floors, sent at some e_A with A's floors. If e_A <= t, A's view of B at t is
 *   at least that echo, hence >= j, and A judged B lagging, so S_A >= j: A has j. If e_A > t, the
 *   floors B got with the echo already have i (A pruned it, so executed it), B judged A lagging,
 *   so S_B >= i: B has i. Either way one of them lacks nothing the other pruned, and installs the
 *   other's snapshot (or needs none). The bound on one side of each pair is enough.
 *
 *   A peer that is down echoes nothing new, and pruning past it only up to its last echo would
 *   hold memory back while it is down. So a peer silent for EP_SILENT_ROUNDS catch-up rounds of
 *   the cluster, while this node hears a majority, is pruned past without the bound: a node that
 *   is down prunes nothing, and one restarted waits for a peer's floors before it prunes past it.
 *   What is left is two live nodes that do not hear each other, each hearing a majority (a
 *   partition between two nodes that both hear a third): both go without the bound, and could
 *   again prune past each other. The harsh sweeps (snapshot_lag = 1) have not shown it in 10,000
 *   seeds each; with the default snapshot_lag of 10,000 both would have to get 10,000 instances
 *   ahead of the other on different leaders while apart. snapshot_lag = 0 waits for every node,
 *   as before it existed: memory and durable bytes then grow while a node is down.
 *
 *   Dependencies on a pruned instance are satisfied here (execute.c skips instances up to the
 *   floor); a message about one never recreates it as a fresh, uncommitted instance (ep_inst_get
 *   and ep_inst_find return NULL for it).
 *
 *   Why pruning past a lagging node is safe. A pruned instance is committed and executed here;
 *   this node forgets its command and attributes but never its pruned floors (durable), and
 *   answers for the instance like a node that knows it committed but cannot say with what:
 *     - Recovery. A node that has not seen (q, i) committed may run Prepare on it (recovery.c).
 *       This node never answers ok (ep_inst_get is NULL; it offers its snapshot instead), so it
 *       is never counted in the majority of answers a recovery decides from. Every majority of
 *       ok answers therefore comes from nodes that kept their state of (q, i), exactly as when
 *       this node is down, which the recovery rules already tolerate; and the instance was
 *       committed, so a quorum holds it: no majority of answers can be all "never heard of it",
 *       the no-op over a committed command cannot happen. A node that installed a snapshot
 *       covering (q, i) pruned it too, and stays silent the same way.
 *     - PreAccept and Accept of new instances at a lagging node. Two interfering commands get a
 *       dependency because their quorums share a node that saw both. A lagging node that never
 *       saw a pruned instance was not in its quorum, so its answer is not the one that matters.
 *       A node that saw it and then forgot it (a restart after pruning, or an install that let
 *       its own copy go) would be: base_inst and base_seq, durable with the snapshot, make every
 *       command it gives attributes to from then on depend on every instance up to base_inst[q]
 *       (as if they interfered with everything) with a seq above them (conflicts.c).
 *     - Execution at a lagging node. An instance it lacks blocks execution of every instance
 *       that depends on it (execute.c), so it never executes past what peers pruned; it asks
 *       for those commits (its CatchUp names its committed prefix), and a peer that pruned them
 *       offers its snapshot instead. Once installed, the snapshot's cut is its executed set.
 *     - Catch-up. A CatchUp whose committed prefix is below this node's pruned floor of some
 *       leader is answered with the commits past the floor and the snapshot, chunked.
 *   Within an incarnation each node's floors only grow, except at an install (what it executed
 *   outside the cut is executed again); peer_floor keeps the highest reported, which then only
 *   makes this node prune a little early for that peer: it costs the peer another snapshot,
 *   never safety.
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
 * may be pruned and rewrites the durable bytes (persist_replace): the snapshot with its cut,
 * pruned floors and base, then the instances past the pruned floors. Memory: chunks of EP_CHUNK
 * instances wholly pruned are freed; pruned instances of a partly pruned chunk lose their command
 * and deps. */
#include <stdlib.h>
#include <string.h>

#include "common/record.h"
#include "ep_internal.h"

#define DURABLE_CHUNK (1u << 20)

void ep_snapshot_free(epaxos *p) {
  free(p->snap_bytes);
  free(p->snap_extra);
  free(p->cut_extra);
  free(p->image);
  ctk_snap_rx_free(&p->rx);
  p->snap_bytes = p->image = NULL;
  p->snap_extra = p->cut_extra = NULL;
  p->snap_len = p->n_snap_extra = p->n_cut_extra = p->image_len = 0;
  p->image_index = 0;
}

int ep_pruned(const epaxos *p, int leader, uint64_t num) {
  return leader >= 0 && leader < p->n && num >= 1 && num <= p->pruned[leader];
}

void ep_prune_note_floors(epaxos *p, int from, const uint64_t *floors, const uint64_t *echo) {
  p->floor_heard |= 1u << from;
  for (int q = 0; q < p->n; q++) {
    if (floors[q] > p->peer_floor[from][q]) p->peer_floor[from][q] = floors[q];
    if (echo[q] > p->echo_floor[from][q]) p->echo_floor[from][q] = echo[q];
  }
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
  /* Counted from the last cut asked for too, not only from the last snapshot taken: the host
   * answers in a later step, and asking again meanwhile made it serialize the store at every
   * step in between, each cut but the last then refused (ep_snapshot_taken). */
  uint64_t last = p->cut_index > p->snap_index ? p->cut_index : p->snap_index;
  if (every == 0 || p->out_of_memory || (p->applied < last + every && !p->snap_refresh) ||
      p->cut_index == p->applied)
    return;
  if (record_cut(p) != 0) return;
  p->snap_refresh = 0;
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
void ep_prune_leader(epaxos *p, int q, uint64_t upto) {
  for (uint64_t i = p->pruned[q] + 1; i <= upto; i++) {
    ep_inst *x = ep_inst_find(p, q, i);
    if (!x) continue;
    free(x->cmd);
    free(x->deps);
    ep_fp_free(&x->fp);
    x->cmd = NULL;
    x->deps = NULL;
    x->len = 0;
    x->cmd_durable = 0;
  }
  p->pruned[q] = upto;
  for (uint64_t c = 0; c < p->n_chunks[q] && (c + 1) * EP_CHUNK <= upto; c++) {
    free(p->chunks[q][c]); /* every instance of it is pruned, their data freed above or before */
    p->chunks[q][c] = NULL;
  }
}

/* A peer is silent when nothing came from it for EP_SILENT_ROUNDS catch-up rounds of the whole
 * cluster (a peer that is up sends this node a CATCHUP about every n catch-up intervals). */
static int silent(const epaxos *p, int r) {
  uint64_t window =
      (uint64_t)EP_SILENT_ROUNDS * (uint64_t)p->opt.catchup_ms * 1000 * (uint64_t)p->n;
  return p->now_us - p->heard_us[r] > window;
}

/* Whether this node hears a majority (itself included): only then may it prune past a silent
 * peer, see the top. */
static int heard_majority(const epaxos *p) {
  int heard = 1;
  for (int r = 0; r < p->n; r++) heard += r != p->id && p->heard_us[r] && !silent(p, r);
  return heard >= ep_majority(p);
}

/* How far this node may prune leader q past peer r, which lags (see the top): up to this node's
 * floor as r last told it has heard it (at least r's own floor), or without a bound when r is
 * silent and this node hears a majority. */
static uint64_t past_lagging_cap(const epaxos *p, int r, int q, int in_majority) {
  if (in_majority && silent(p, r)) return UINT64_MAX;
  uint64_t f = p->peer_floor[r][q], echo = p->echo_floor[r][q];
  return echo > f ? echo : f;
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
  uint64_t lag = (uint64_t)p->opt.snapshot_lag;
  int behind[CTK_MAX_NODES]; /* on every leader, as far as this node heard: see the top */
  for (int r = 0; r < p->n; r++) {
    behind[r] = lag != 0 && (p->floor_heard >> r & 1);
    for (int q = 0; q < p->n; q++)
      if (p->peer_floor[r][q] > p->snap_floor[q]) behind[r] = 0;
  }
  int in_majority = heard_majority(p);
  for (int q = 0; q < p->n; q++) {
    uint64_t upto = p->snap_floor[q];
    for (int r = 0; r < p->n; r++) {
      if (r == p->id) continue;
      uint64_t f = p->peer_floor[r][q];
      int waited_for = !behind[r] || f + lag >= p->snap_floor[q]; /* else: it takes a snapshot */
      uint64_t cap = waited_for ? f : past_lagging_cap(p, r, q, in_majority);
      if (cap < upto) upto = cap;
    }
    if (upto > p->pruned[q]) ep_prune_leader(p, q, upto);
    if (p->pruned[q] > p->base_inst[q]) p->base_inst[q] = p->pruned[q];
  }
  if (p->conflicts.all.seq > p->base_seq) p->base_seq = p->conflicts.all.seq;
  ep_persist_replace_all(p);
  return CTK_OK;
}

/* ---- durable records ----
 *
 *   SNAPSHOT  index u64, n u8, n x (floor u64, pruned u64, base u64), base_seq u64, n_extra u32,
 *             n_extra x (leader << 56 | num) u64, total u64, offset u64, bytes
 * one record per megabyte of the snapshot, first in a fresh encoding (versions 2 and 3 had no
 * base and base_seq: the base was the pruned floors). */

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
      wire_put_u64(w, p->base_inst[q]);
    }
    wire_put_u64(w, p->base_seq);
    wire_put_u32(w, (uint32_t)p->n_snap_extra);
    for (size_t k = 0; k < p->n_snap_extra; k++) wire_put_u64(w, p->snap_extra[k]);
    wire_put_u64(w, p->snap_len);
    wire_put_u64(w, offset);
    if (n) wire_put_bytes(w, p->snap_bytes + offset, (size_t)n);
    record_end(w, pos);
    offset += n;
  } while (offset < p->snap_len);
}

int ep_snapshot_recover_record(epaxos *p, wire_reader *r, uint8_t version) {
  uint64_t index = wire_get_u64(r);
  uint8_t n = wire_get_u8(r);
  if (!wire_reader_ok(r) || index == 0 || n != p->n) return CTK_ERR_CORRUPT;
  uint64_t floor[CTK_MAX_NODES], pruned[CTK_MAX_NODES], base[CTK_MAX_NODES], base_seq = 0;
  for (int q = 0; q < n; q++) {
    floor[q] = wire_get_u64(r);
    pruned[q] = wire_get_u64(r);
    base[q] = version >= 4 ? wire_get_u64(r) : pruned[q];
    if (floor[q] >= EP_MAX_INST || pruned[q] > floor[q] || base[q] >= EP_MAX_INST ||
        base[q] < pruned[q])
      return CTK_ERR_CORRUPT;
  }
  if (version >= 4) base_seq = wire_get_u64(r);
  uint32_t n_extra = wire_get_u32(r);
  if (!wire_reader_ok(r) || n_extra > EP_MAX_CUT_EXTRA || base_seq >= EP_MAX_INST)
    return CTK_ERR_CORRUPT;
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
    p->base_seq = base_seq;
    for (int q = 0; q < p->n; q++) {
      p->snap_floor[q] = floor[q];
      p->base_inst[q] = base[q];
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

/* After replay: the restored store reflects the cut, so its instances are executed already. An
 * instance executed above the floors may be one this node never held (a peer's snapshot it
 * installed executed it, transfer.c): it is marked executed all the same, and its commit is
 * learned like any other. The attributes of new commands cover what the snapshot let go. */
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
    int q = (int)(p->snap_extra[k] >> 56);
    uint64_t i = p->snap_extra[k] & 0xFFFFFFFFFFFFFFull;
    ep_inst *x = ep_inst_get(p, q, i);
    if (!x) return p->out_of_memory ? CTK_ERR_NOMEM : CTK_ERR_CORRUPT;
    x->executed = 1;
    ep_note_known(p, q, i);
  }
  if (p->next_own <= p->base_inst[p->id]) p->next_own = p->base_inst[p->id] + 1;
  ep_conflicts_raise_base(p, p->base_inst, p->base_seq);
  p->applied = p->cut_index = p->snap_index;
  p->restore_pending = 1;
  return CTK_OK;
}
