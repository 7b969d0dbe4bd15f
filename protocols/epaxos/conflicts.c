/* conflicts.c: which instances a batch interferes with, as this node knows them.
 *
 * From the paper (Figure 2, PreAccept): "seq = 1 + max({seq of all interfering commands} ∪ {0});
 * deps = the set of all instances of interfering commands". deps is kept, as in the paper's
 * implementation, as one instance number per command leader: "every instance of that leader up
 * to this number that interferes"; execution walks them. Interference is protocol.h's: same
 * session, or same key with at least one write; a command without the header interferes with
 * every command. A batch (batch.c) gets the attributes of all its commands at once: what any of
 * its sessions and keys met. Keys and sessions are indexed by a 64-bit hash: two keys that collide
 * merely look interfering, which costs order, never safety. */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

/* ---- an open-addressing map from a hash to its frontiers ---- */

static ep_conflict_entry *lookup(ep_conflict_entry **tab, size_t *n, size_t *cap, uint64_t id,
                                 int create) {
  if (create && (*n + 1) * 2 > *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    ep_conflict_entry *t = calloc(ncap, sizeof *t);
    if (!t) return NULL;
    for (size_t i = 0; i < *cap; i++) {
      if (!(*tab)[i].id) continue;
      size_t j = (size_t)((*tab)[i].id * 0x9E3779B97F4A7C15ull) & (ncap - 1);
      while (t[j].id) j = (j + 1) & (ncap - 1);
      t[j] = (*tab)[i];
    }
    free(*tab);
    *tab = t;
    *cap = ncap;
  }
  if (!*cap) return NULL;
  size_t j = (size_t)(id * 0x9E3779B97F4A7C15ull) & (*cap - 1);
  while ((*tab)[j].id && (*tab)[j].id != id) j = (j + 1) & (*cap - 1);
  if ((*tab)[j].id) return &(*tab)[j];
  if (!create) return NULL;
  memset(&(*tab)[j], 0, sizeof(*tab)[j]);
  (*tab)[j].id = id;
  (*n)++;
  return &(*tab)[j];
}

static void merge(const epaxos *p, const ep_frontier *f, uint64_t *seq, uint64_t *deps) {
  for (int q = 0; q < p->n; q++)
    if (f->inst[q] > deps[q]) deps[q] = f->inst[q];
  if (f->seq + 1 > *seq) *seq = f->seq + 1;
}

int ep_conflicts_attributes(epaxos *p, const ep_fp *fp, uint64_t *seq, uint64_t *deps) {
  ep_conflicts *c = &p->conflicts;
  if (fp->noop) return 0;
  if (fp->unknown) {
    merge(p, &c->all, seq, deps);
    return 0;
  }
  merge(p, &c->unknown, seq, deps);
  const uint64_t *h = ep_fp_hashes(fp);
  for (uint32_t i = 0; i < fp->n_sessions; i++) {
    ep_conflict_entry *s = lookup(&c->sessions, &c->sessions_n, &c->sessions_cap, h[i], 0);
    if (s) merge(p, &s->writes, seq, deps);
  }
  h += fp->n_sessions;
  for (uint32_t i = 0; i < fp->n_writes + fp->n_reads; i++) {
    ep_conflict_entry *k = lookup(&c->keys, &c->keys_n, &c->keys_cap, h[i], 0);
    if (!k) continue;
    merge(p, &k->writes, seq, deps);
    if (i < fp->n_writes) merge(p, &k->reads, seq, deps);
  }
  return 0;
}

static void frontier_raise(ep_frontier *f, int leader, uint64_t num, uint64_t seq) {
  if (num > f->inst[leader]) f->inst[leader] = num;
  if (seq > f->seq) f->seq = seq;
}

int ep_conflicts_add(epaxos *p, const ep_fp *fp, int leader, uint64_t num, uint64_t seq) {
  ep_conflicts *c = &p->conflicts;
  if (fp->noop) return 0;
  frontier_raise(&c->all, leader, num, seq);
  if (fp->unknown) frontier_raise(&c->unknown, leader, num, seq);
  const uint64_t *h = ep_fp_hashes(fp);
  for (uint32_t i = 0; i < fp->n_sessions; i++) {
    ep_conflict_entry *s = lookup(&c->sessions, &c->sessions_n, &c->sessions_cap, h[i], 1);
    if (!s) goto nomem;
    frontier_raise(&s->writes, leader, num, seq);
  }
  h += fp->n_sessions;
  for (uint32_t i = 0; i < fp->n_writes + fp->n_reads; i++) {
    ep_conflict_entry *k = lookup(&c->keys, &c->keys_n, &c->keys_cap, h[i], 1);
    if (!k) goto nomem;
    frontier_raise(i < fp->n_writes ? &k->writes : &k->reads, leader, num, seq);
  }
  return 0;
nomem:
  p->out_of_memory = 1;
  return -1;
}

/* Instances this node does not hold but that a command may interfere with (prune.c): they join
 * the frontier of commands without a footprint, which every command's attributes cover. */
void ep_conflicts_raise_base(epaxos *p, const uint64_t *inst, uint64_t seq) {
  ep_conflicts *c = &p->conflicts;
  for (int q = 0; q < p->n; q++) {
    frontier_raise(&c->unknown, q, inst[q], seq);
    frontier_raise(&c->all, q, inst[q], seq);
  }
}

void ep_conflicts_free(ep_conflicts *c) {
  free(c->keys);
  free(c->sessions);
  memset(c, 0, sizeof *c);
}
