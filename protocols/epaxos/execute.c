/* execute.c: executing committed commands. From the paper (section 4.3.2): "1. Wait for the
 * instance to be committed. 2. Build the dependency graph by adding the instance and all
 * instances in its dependency list as nodes, with edges from the instance to them, repeating
 * recursively for all of the instance's dependencies. 3. Find the strongly connected components,
 * sort them topologically. 4. In inverse topological order, for each strongly connected
 * component, do: 4.1 sort all commands in the component by their sequence number; 4.2 execute
 * every un-executed command in increasing sequence number order, marking it executed."
 *
 * Edges go from a command to every instance of leader q up to deps[q] that interferes with it
 * (the dependency attributes name the highest instance per leader). An instance not committed
 * here blocks the traversal unless its command is known not to interfere (its final value is
 * then that command or a no-op, neither of which interferes). A no-op held uncommitted settles
 * nothing: a recovery proposed it, and another recovery at a higher ballot may commit the
 * leader's command instead (epaxos-snapshot-lag-harsh-sweep-3 seed 41368: a node executed a write
 * past an accepted no-op that the others committed as a conflicting write, and executed the two
 * in the other order). Tarjan's algorithm, iteratively,
 * finds components in reverse topological order as it goes: a component is complete when it is
 * popped, so it is executed at once even if the traversal later blocks elsewhere. Ties inside a
 * component are broken by (seq, leader, instance), the same on every node: the graph of committed
 * instances is the same everywhere, so every node executes interfering commands in one order.
 *
 * Unbounded chains (each command of a steady conflicting stream depending on a newer one still
 * being agreed on) are broken in leader.c: a node stops proposing while a committed command has
 * waited exec_stall_ms. The wait from commit to execution is measured (counters).
 *
 * A pass costs time in proportion to the committed commands waiting to execute (the backlog).
 * Run after every step, a backlog of thousands (a node that missed a Commit and waits for it)
 * made each message cost that much: on real processes such a node handled a few hundred
 * messages a second, its socket queues filled, the very Commits it waited for were lost in them,
 * and it never caught up. With a backlog above EP_EXEC_EAGER, a pass runs at most once per
 * backlog / EP_EXEC_RATE microseconds (at most catchup_ms), so execution takes a bounded share of
 * the node's time whatever the backlog (ep_exec_deadline). */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

int ep_exec_grow(epaxos *p, size_t need) {
  if (need <= p->exec_cap) return 0;
  size_t cap = p->exec_cap ? p->exec_cap : 64;
  while (cap < need) cap *= 2;
  ep_inst **s = realloc(p->exec_stack, cap * sizeof *s);
  if (s) p->exec_stack = s;
  ep_inst **d = realloc(p->dfs_inst, cap * sizeof *d);
  if (d) p->dfs_inst = d;
  uint64_t *q = realloc(p->dfs_q, cap * sizeof *q);
  if (q) p->dfs_q = q;
  uint64_t *j = realloc(p->dfs_j, cap * sizeof *j);
  if (j) p->dfs_j = j;
  if (!s || !d || !q || !j) {
    p->out_of_memory = 1;
    return -1;
  }
  p->exec_cap = cap;
  return 0;
}

/* The next edge out of v from the iterator (*q, *j): 1 and *w, 0 at the end, -1 when an
 * instance it may depend on is not committed here yet. */
static int next_edge(epaxos *p, ep_inst *v, uint64_t *q, uint64_t *j, ep_inst **w) {
  for (; *q < (uint64_t)p->n; (*q)++, *j = 0) {
    if (*j <= p->exec_floor[*q]) *j = p->exec_floor[*q] + 1;
    for (; *j <= v->deps[*q]; (*j)++) {
      p->count.exec_scanned++;
      ep_inst *x = ep_inst_find(p, (int)*q, *j);
      if (x == v || (x && x->executed)) continue;
      if (!x || x->status != EP_COMMITTED) {
        if (x && x->has_cmd && !x->fp.noop && !ep_fp_interfere(&v->fp, &x->fp)) continue;
        return -1;
      }
      if (x->blocked_pass == p->exec_pass) return -1;
      if (!ep_fp_interfere(&v->fp, &x->fp)) continue;
      *w = x;
      (*j)++;
      return 1;
    }
  }
  return 0;
}

static int order(const void *a, const void *b) {
  const ep_inst *x = *(ep_inst *const *)a, *y = *(ep_inst *const *)b;
  if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
  if (x->leader != y->leader) return x->leader < y->leader ? -1 : 1;
  return x->num < y->num ? -1 : x->num > y->num;
}

/* Emits the commands of an instance's batch, in batch order. */
static void emit(epaxos *p, ep_inst *in) {
  in->executed = 1;
  if (!in->len) return;
  uint32_t count = ep_batch_count(in->cmd, in->len);
  if (p->n_commits + count > p->cap_commits) {
    size_t cap = p->cap_commits;
    while (p->n_commits + count > cap) cap *= 2;
    ctk_commit *c = realloc(p->commits, cap * sizeof *c);
    if (!c) {
      p->out_of_memory = 1;
      return;
    }
    p->commits = c;
    p->cap_commits = cap;
  }
  ep_batch_iter it;
  ep_batch_begin(&it, in->cmd, in->len);
  const uint8_t *cmd;
  size_t len;
  while (ep_batch_next(&it, &cmd, &len))
    p->commits[p->n_commits++] = (ctk_commit){++p->applied, {cmd, len}};
  uint64_t delay = p->now_us - in->committed_us;
  p->count.executed += count;
  p->count.exec_delay_us_total += delay * count;
  if (delay > p->count.exec_delay_us_max) p->count.exec_delay_us_max = delay;
}

/* Executes the component rooted at v: the top of the Tarjan stack down to v. */
static void execute_component(epaxos *p, ep_inst *v, size_t *sp) {
  size_t top = *sp, k = top;
  do k--;
  while (p->exec_stack[k] != v);
  size_t n = top - k;
  for (size_t i = k; i < top; i++) p->exec_stack[i]->on_stack = 0;
  if (n > 1) qsort(p->exec_stack + k, n, sizeof *p->exec_stack, order);
  for (size_t i = k; i < top; i++) emit(p, p->exec_stack[i]);
  *sp = k;
}

static int visit(epaxos *p, ep_inst *w, size_t *sp, size_t *dp, uint32_t *counter) {
  if (ep_exec_grow(p, *sp + 1 > *dp + 1 ? *sp + 1 : *dp + 1) != 0) return -1;
  w->visit = p->visit_stamp;
  w->index = w->low = (*counter)++;
  w->on_stack = 1;
  p->exec_stack[(*sp)++] = w;
  p->dfs_inst[*dp] = w;
  p->dfs_q[*dp] = p->dfs_j[*dp] = 0;
  (*dp)++;
  return 0;
}

/* Tarjan's algorithm from root; 0, or -1 when it reached an instance not committed yet (the
 * instances left on the stack are then marked blocked for this pass). */
static int strongconnect(epaxos *p, ep_inst *root) {
  size_t sp = 0, dp = 0;
  uint32_t counter = 0;
  p->visit_stamp++;
  if (visit(p, root, &sp, &dp, &counter) != 0) return -1;
  while (dp > 0) {
    ep_inst *v = p->dfs_inst[dp - 1], *w = NULL;
    int r = next_edge(p, v, &p->dfs_q[dp - 1], &p->dfs_j[dp - 1], &w);
    if (r < 0) {
      for (size_t i = 0; i < sp; i++) {
        p->exec_stack[i]->on_stack = 0;
        p->exec_stack[i]->blocked_pass = p->exec_pass;
      }
      return -1;
    }
    if (r > 0) {
      if (w->visit != p->visit_stamp) {
        if (visit(p, w, &sp, &dp, &counter) != 0) return -1;
      } else if (w->on_stack && w->index < v->low) {
        v->low = w->index;
      }
      continue;
    }
    dp--;
    if (dp > 0 && v->low < p->dfs_inst[dp - 1]->low) p->dfs_inst[dp - 1]->low = v->low;
    if (v->low == v->index) execute_component(p, v, &sp);
  }
  return 0;
}

static void advance_floors(epaxos *p) {
  for (int q = 0; q < p->n; q++) {
    while (1) {
      const ep_inst *x = ep_inst_find(p, q, p->exec_floor[q] + 1);
      if (!x || x->status != EP_COMMITTED || !(x->executed || !x->len)) break;
      p->exec_floor[q]++;
    }
  }
}

/* When the next pass may run: now with a small backlog, later with a large one. */
uint64_t ep_exec_deadline(const epaxos *p) {
  if (!p->exec_dirty) return CTK_DEADLINE_NONE;
  if (p->exec_backlog <= EP_EXEC_EAGER) return 0;
  return p->exec_last_us + p->exec_gap_us;
}

void ep_execute(epaxos *p) {
  if (!p->exec_dirty || p->now_us < ep_exec_deadline(p)) return;
  p->exec_dirty = 0;
  p->exec_pass++;
  uint64_t oldest = CTK_DEADLINE_NONE, backlog = 0;
  for (int q = 0; q < p->n; q++) {
    for (uint64_t i = p->exec_floor[q] + 1; i <= p->known[q]; i++) {
      ep_inst *x = ep_inst_find(p, q, i);
      if (!x || x->status != EP_COMMITTED || x->executed) continue;
      if (!x->len) {
        x->executed = 1; /* a no-op: nothing to run, nothing depends on it */
        continue;
      }
      if (x->blocked_pass != p->exec_pass) strongconnect(p, x);
      /* The floors move up as the pass executes, not only at its end: next_edge scans every
       * instance above them, and a pass over a long backlog (a restart executes everything since
       * its snapshot in one) scanned all it had executed so far for each instance: quadratic,
       * 7.6 s for 73,615 commands. */
      advance_floors(p);
      if (x->executed) continue;
      backlog++;
      if (x->committed_us < oldest) oldest = x->committed_us;
    }
  }
  p->oldest_waiting_us = oldest;
  p->exec_backlog = backlog;
  p->exec_last_us = p->now_us;
  uint64_t gap = backlog / EP_EXEC_RATE, most = (uint64_t)p->opt.catchup_ms * 1000;
  p->exec_gap_us = gap < most ? gap : most;
  advance_floors(p);
}
