/* leader.c: the command leader. A client command gets the next instance of this node, attributes
 * from what this node knows, and goes to the others in PreAccept. From the paper (Figure 2):
 *
 *   "If L receives replies from a fast quorum (including itself) and all of them have the same
 *   seq and deps: commit (fast path). Otherwise: update deps to the union of all deps, seq to the
 *   highest seq, and run the Paxos-Accept phase with them (slow path)"; Accept is answered by
 *   "at least floor(N/2) other replicas", after which the command commits.
 *
 * The fast quorum is the paper's optimized F + floor((F + 1) / 2) (never below a majority); the
 * recovery rules of recovery.c are written for it. With thrifty on (off by default), as in the
 * paper's implementation, PreAccept goes to just the nodes a fast quorum needs (the next ones by
 * id; the paper picks the closest); a retry goes to every node that has not answered. Off, the
 * first answers to arrive make the quorum: on 3 real processes that was faster (a node pausing,
 * e.g. for a snapshot, no longer holds up its neighbour's commands) and, across wide-area sites,
 * each leader's fast quorum is its nearest nodes.
 *
 * Batching: a node keeps at most max_inflight of its own instances being agreed on; the client
 * commands that arrive meanwhile wait in the queue, and the next free instance takes up to
 * batch_size of them (and batch_bytes) as one batch (batch.c). Under load, instances grow with
 * the load instead of their number; while fewer are in flight, a command leaves at once. The same
 * PreAccept and Accept phases serve a recovery at a higher ballot, without the fast path. Proposals
 * (ep_prop) hold the volatile state of a phase; a restart forgets them, and the node's own
 * unfinished instances are then recovered like anyone's. */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static uint64_t retry_us(const epaxos *p) { return (uint64_t)p->opt.retry_timeout_ms * 1000; }

ep_prop *ep_prop_find(epaxos *p, int leader, uint64_t num) {
  for (size_t i = 0; i < p->props_top; i++)
    if (p->props[i].active && p->props[i].leader == leader && p->props[i].num == num)
      return &p->props[i];
  return NULL;
}

void ep_prop_activated(epaxos *p, const ep_prop *pr) {
  size_t end = (size_t)(pr - p->props) + 1;
  if (end > p->props_top) p->props_top = end;
}

void ep_prop_free(epaxos *p, ep_prop *pr) {
  free(pr->cmd);
  memset(pr, 0, sizeof *pr);
  while (p->props_top > 0 && !p->props[p->props_top - 1].active) p->props_top--;
}

int ep_submit(epaxos *p, const uint8_t *cmd, size_t len) {
  if (p->queue_count >= EP_MAX_QUEUE) return CTK_ERR_BUSY;
  size_t k = (p->queue_head + p->queue_count) % EP_MAX_QUEUE;
  if (len > p->queue_cap[k]) {
    size_t cap = len > 128 ? len : 128;
    uint8_t *bigger = realloc(p->queue[k], cap);
    if (!bigger) return CTK_ERR_NOMEM;
    p->queue[k] = bigger;
    p->queue_cap[k] = (uint32_t)cap;
  }
  if (len) memcpy(p->queue[k], cmd, len);
  p->queue_len[k] = (uint32_t)len;
  p->queue_count++;
  return CTK_OK;
}

static void send_phase(epaxos *p, ep_prop *pr, int type, int retry) {
  ep_msg m = {.type = (uint8_t)type,
              .leader = (uint8_t)pr->leader,
              .inst = pr->num,
              .ballot = pr->ballot,
              .has_cmd = type != EP_MSG_PREPARE,
              .cmd = pr->cmd,
              .cmd_len = type != EP_MSG_PREPARE ? pr->len : 0};
  if (type == EP_MSG_PREACCEPT || type == EP_MSG_ACCEPT) {
    m.n_deps = p->n;
    if (type == EP_MSG_ACCEPT || pr->ballot != 0) {
      m.seq = type == EP_MSG_ACCEPT ? pr->seq : 0;
      if (type == EP_MSG_ACCEPT) memcpy(m.deps, pr->deps, sizeof m.deps);
    } else { /* the command leader's own attributes, as first sent */
      const ep_inst *in = ep_inst_find(p, pr->leader, pr->num);
      if (!in || !in->deps) return;
      m.seq = in->seq;
      memcpy(m.deps, in->deps, (size_t)p->n * sizeof *m.deps);
    }
  }
  pr->deadline_us = p->now_us + retry_us(p);
  /* Thrifty: the first PreAccept of an own command goes to fast quorum - 1 peers. */
  int own = type == EP_MSG_PREACCEPT && pr->ballot == 0 && pr->leader == p->id;
  int peers = own && !retry && p->opt.thrifty ? ep_fast_quorum(p) - 1 : p->n;
  for (int k = 0; k < p->n && peers > 0; k++) {
    int i = (p->id + k) % p->n;
    if (retry && (pr->replies & 1u << i)) continue;
    /* The command leader's own PreAccept at the default ballot is already recorded. */
    if (i == p->id && own) continue;
    ep_send(p, i, &m);
    if (i != p->id) peers--;
  }
}

static int own_slot_free(const epaxos *p) {
  for (int64_t i = 0; i < p->opt.max_inflight; i++)
    if (!p->props[i].active) return (int)i;
  return -1;
}

/* True while a committed command has waited longer than exec_stall_ms to execute: new commands
 * wait, so a chain of dependencies among concurrent commands stops growing and closes. */
static int exec_stalled(epaxos *p) {
  return p->oldest_waiting_us != CTK_DEADLINE_NONE &&
         p->now_us - p->oldest_waiting_us >= (uint64_t)p->opt.exec_stall_ms * 1000;
}

/* The next batch: queued commands, oldest first, up to batch_size and batch_bytes (the first
 * always fits). Returns it (owned) and its length in *len, or NULL out of memory. */
static uint8_t *take_batch(epaxos *p, uint32_t *len) {
  size_t bytes = 2, count = 0;
  while (count < p->queue_count && count < (size_t)p->opt.batch_size) {
    size_t more = 2 + p->queue_len[(p->queue_head + count) % EP_MAX_QUEUE];
    if (count > 0 && bytes + more > (size_t)p->opt.batch_bytes) break;
    bytes += more;
    count++;
  }
  uint8_t *batch = malloc(bytes);
  if (!batch) {
    p->out_of_memory = 1;
    return NULL;
  }
  size_t pos = 0;
  for (size_t k = 0; k < count; k++) {
    pos = ep_batch_put(batch, pos, p->queue[p->queue_head], p->queue_len[p->queue_head]);
    p->queue_head = (p->queue_head + 1) % EP_MAX_QUEUE;
    p->queue_count--;
  }
  *len = (uint32_t)pos;
  return batch;
}

static void propose(epaxos *p, ep_prop *pr, uint8_t *cmd, uint32_t len) {
  uint64_t num = p->next_own;
  ep_inst *in = ep_inst_get(p, p->id, num);
  if (!in) {
    free(cmd);
    return;
  }
  p->next_own++;
  uint64_t seq = 0, deps[CTK_MAX_NODES] = {0};
  ep_fp fp;
  if (ep_fp_build(&fp, cmd, len, 1) != 0) {
    p->out_of_memory = 1;
    free(cmd);
    return;
  }
  ep_conflicts_attributes(p, &fp, &seq, deps);
  if (seq == 0) seq = 1;
  int rc = ep_inst_set(p, in, 1, cmd, len, &fp, seq, deps);
  ep_fp_free(&fp);
  if (rc != 0) {
    free(cmd);
    return;
  }
  in->status = EP_PREACCEPTED;
  in->ballot = in->vballot = 0;
  in->eq = 1;
  ep_persist_inst(p, in);
  *pr = (ep_prop){.active = 1,
                  .phase = EP_PH_PREACCEPT,
                  .leader = p->id,
                  .num = num,
                  .fast = p->opt.fast_path,
                  .replies = 1u << p->id,
                  .seq = seq,
                  .has_cmd = 1,
                  .cmd = cmd,
                  .len = len};
  memcpy(pr->deps, deps, sizeof pr->deps);
  ep_prop_activated(p, pr);
  send_phase(p, pr, EP_MSG_PREACCEPT, 0);
}

static void check_preaccept(epaxos *p, ep_prop *pr);

void ep_pump(epaxos *p) {
  while (p->queue_count > 0 && p->next_own <= p->committed[p->id] + EP_WINDOW) {
    if (exec_stalled(p)) {
      p->count.exec_stalls++;
      return;
    }
    int slot = own_slot_free(p);
    if (slot < 0) return;
    uint32_t len;
    uint8_t *cmd = take_batch(p, &len);
    if (!cmd) return;
    ep_prop *pr = &p->props[slot];
    propose(p, pr, cmd, len);
    if (pr->active) check_preaccept(p, pr); /* a cluster of one commits at once */
  }
}

static int count_deps(const epaxos *p, const uint64_t *deps) {
  int k = 0;
  for (int q = 0; q < p->n; q++) k += deps[q] != 0;
  return k;
}

/* Commits pr's instance with the given attributes and tells every other node. */
static void commit(epaxos *p, ep_prop *pr, uint64_t seq, const uint64_t *deps) {
  ep_inst *in = ep_inst_get(p, pr->leader, pr->num);
  if (!in) return;
  if (pr->leader == p->id && pr->ballot == 0) {
    p->count.commits_led++;
    p->count.commands_led += ep_batch_count(pr->cmd, pr->len);
    p->count.deps_total += (uint64_t)count_deps(p, deps);
  }
  uint64_t d[CTK_MAX_NODES];
  memcpy(d, deps, sizeof d);
  uint32_t holders = pr->ballot == 0 ? pr->holders : 0;
  ep_commit_local(p, in, pr->has_cmd, pr->cmd, pr->len, seq, d); /* frees pr */
  if (in->status == EP_COMMITTED) ep_send_commit(p, -1, in, holders);
}

void ep_start_accept(epaxos *p, ep_prop *pr) {
  if (pr->leader == p->id && pr->ballot == 0) p->count.slow_path++;
  pr->phase = EP_PH_ACCEPT;
  pr->replies = 0;
  send_phase(p, pr, EP_MSG_ACCEPT, 0);
}

void ep_start_preaccept(epaxos *p, ep_prop *pr) {
  pr->phase = EP_PH_PREACCEPT;
  pr->fast = 0;
  pr->replies = 0;
  pr->eq_count = 0;
  pr->seq = 0;
  memset(pr->deps, 0, sizeof pr->deps);
  send_phase(p, pr, EP_MSG_PREACCEPT, 0);
}

static void check_preaccept(epaxos *p, ep_prop *pr) {
  int replies = __builtin_popcount(pr->replies);
  const ep_inst *in = ep_inst_find(p, pr->leader, pr->num);
  if (!in) return;
  /* The fast path: a fast quorum preaccepted the leader's attributes unchanged, and the leader
   * has promised no higher ballot (a recovery that found it not committed relies on that). */
  int fast_quorum = pr->eq_count + 1 >= ep_fast_quorum(p) ||
                    (p->opt.bug_fast_path_mismatched && replies + 1 >= ep_fast_quorum(p));
  if (pr->fast && in->ballot == 0 && in->status == EP_PREACCEPTED && in->vballot == 0 &&
      fast_quorum) {
    p->count.fast_path++;
    uint64_t deps[CTK_MAX_NODES];
    memcpy(deps, in->deps, sizeof deps);
    return commit(p, pr, in->seq, deps);
  }
  if (replies >= (pr->fast ? ep_fast_quorum(p) : ep_majority(p))) ep_start_accept(p, pr);
}

/* A higher ballot took the instance over: leave it to that recovery, or try again later. */
static void give_up(epaxos *p, ep_prop *pr) {
  ep_inst *in = ep_inst_get(p, pr->leader, pr->num);
  if (in && in->status != EP_COMMITTED)
    in->recover_at_us = p->now_us + ep_random_ms(p, p->opt.recovery_timeout_ms) * 1000;
  ep_prop_free(p, pr);
}

void ep_recv_preaccept_ok(epaxos *p, int from, const ep_msg *m) {
  ep_prop *pr = ep_prop_find(p, m->leader, m->inst);
  if (!pr || pr->phase != EP_PH_PREACCEPT || pr->ballot != m->ballot) return;
  if (pr->replies & 1u << from) return;
  if (!m->ok) return give_up(p, pr);
  if (m->n_deps != p->n) return;
  pr->replies |= 1u << from;
  pr->holders |= 1u << from;
  if (m->eq && from != p->id) pr->eq_count++;
  if (m->seq > pr->seq) pr->seq = m->seq;
  for (int q = 0; q < p->n; q++)
    if (m->deps[q] > pr->deps[q]) pr->deps[q] = m->deps[q];
  check_preaccept(p, pr);
}

void ep_recv_accept_ok(epaxos *p, int from, const ep_msg *m) {
  ep_prop *pr = ep_prop_find(p, m->leader, m->inst);
  if (!pr || pr->phase != EP_PH_ACCEPT || pr->ballot != m->ballot) return;
  if (!m->ok) return give_up(p, pr);
  pr->replies |= 1u << from;
  pr->holders |= 1u << from;
  if (__builtin_popcount(pr->replies) < ep_majority(p)) return;
  uint64_t deps[CTK_MAX_NODES];
  memcpy(deps, pr->deps, sizeof deps);
  commit(p, pr, pr->seq, deps);
}

void ep_props_timeout(epaxos *p) {
  for (size_t i = 0; i < p->props_top; i++) {
    ep_prop *pr = &p->props[i];
    if (!pr->active || pr->deadline_us > p->now_us) continue;
    const ep_inst *in = ep_inst_find(p, pr->leader, pr->num);
    if (!in || in->status == EP_COMMITTED) {
      ep_prop_free(p, pr);
      continue;
    }
    if (in->ballot > pr->ballot) { /* promised to a recovery since */
      give_up(p, pr);
      continue;
    }
    switch (pr->phase) {
    case EP_PH_PREACCEPT:
      if (__builtin_popcount(pr->replies) >= ep_majority(p))
        ep_start_accept(p, pr);
      else
        send_phase(p, pr, EP_MSG_PREACCEPT, 1);
      break;
    case EP_PH_ACCEPT: send_phase(p, pr, EP_MSG_ACCEPT, 1); break;
    case EP_PH_PREPARE: send_phase(p, pr, EP_MSG_PREPARE, 1); break;
    }
  }
}

uint64_t ep_props_deadline(const epaxos *p) {
  uint64_t d = CTK_DEADLINE_NONE;
  for (size_t i = 0; i < p->props_top; i++)
    if (p->props[i].active && p->props[i].deadline_us < d) d = p->props[i].deadline_us;
  return d;
}
