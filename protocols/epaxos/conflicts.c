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

/* ---- an open-addressing map from a hash to its frontiers ----
 *
 * An entry is `id` (0: an empty slot), then the frontier of the writes (n instance numbers, one
 * per command leader, and a seq), then that of the reads: 1 + 2 * (n + 1) words. */

static size_t entry_words(const epaxos *p) { return 1 + 2 * ((size_t)p->n + 1); }

static uint64_t *entry_writes(uint64_t *e) { return e + 1; }
static uint64_t *entry_reads(const epaxos *p, uint64_t *e) { return e + 2 + p->n; }

static size_t first_slot(uint64_t id, size_t cap) {
  return (size_t)(id * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

/* Asks for the cache lines of the slots where the hashes h[0..n) start their probes. A batch's
 * lookups otherwise miss the cache one after the other: a table of 100,000 keys is some 18 MB
 * per node. The empty statement that uses the address keeps GCC from deleting the loop. */
static void prefetch_slots(const epaxos *p, const ep_conflict_table *t, const uint64_t *h,
                           uint32_t n) {
  if (!t->cap) return;
  size_t words = entry_words(p);
  for (uint32_t i = 0; i < n; i++) {
    const uint64_t *e = t->words + first_slot(h[i], t->cap) * words;
    __builtin_prefetch(e);
    __builtin_prefetch(e + words - 1); /* an entry can straddle two lines */
    __asm__ volatile("" : : "r"(e));
  }
}

static uint64_t *lookup(const epaxos *p, ep_conflict_table *t, uint64_t id, int create) {
  size_t words = entry_words(p);
  if (create && (t->n + 1) * 2 > t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 64;
    uint64_t *w = calloc(ncap, words * sizeof *w);
    if (!w) return NULL;
    for (size_t i = 0; i < t->cap; i++) {
      const uint64_t *e = t->words + i * words;
      if (!e[0]) continue;
      size_t j = first_slot(e[0], ncap);
      while (w[j * words]) j = (j + 1) & (ncap - 1);
      memcpy(w + j * words, e, words * sizeof *w);
    }
    free(t->words);
    t->words = w;
    t->cap = ncap;
  }
  if (!t->cap) return NULL;
  size_t j = first_slot(id, t->cap);
  while (t->words[j * words] && t->words[j * words] != id) j = (j + 1) & (t->cap - 1);
  uint64_t *e = t->words + j * words;
  if (e[0]) return e;
  if (!create) return NULL;
  memset(e, 0, words * sizeof *e);
  e[0] = id;
  t->n++;
  return e;
}

/* A frontier is n instance numbers followed by its seq. */
static void merge(const epaxos *p, const uint64_t *f, uint64_t *seq, uint64_t *deps) {
  for (int q = 0; q < p->n; q++)
    if (f[q] > deps[q]) deps[q] = f[q];
  if (f[p->n] + 1 > *seq) *seq = f[p->n] + 1;
}

static void merge_frontier(const epaxos *p, const ep_frontier *f, uint64_t *seq, uint64_t *deps) {
  for (int q = 0; q < p->n; q++)
    if (f->inst[q] > deps[q]) deps[q] = f->inst[q];
  if (f->seq + 1 > *seq) *seq = f->seq + 1;
}

int ep_conflicts_attributes(epaxos *p, const ep_fp *fp, uint64_t *seq, uint64_t *deps) {
  ep_conflicts *c = &p->conflicts;
  if (fp->noop) return 0;
  if (fp->unknown) {
    merge_frontier(p, &c->all, seq, deps);
    return 0;
  }
  merge_frontier(p, &c->unknown, seq, deps);
  const uint64_t *h = ep_fp_hashes(fp);
  prefetch_slots(p, &c->keys, h + fp->n_sessions, fp->n_writes + fp->n_reads);
  for (uint32_t i = 0; i < fp->n_sessions; i++) {
    uint64_t *s = lookup(p, &c->sessions, h[i], 0);
    if (s) merge(p, entry_writes(s), seq, deps);
  }
  h += fp->n_sessions;
  for (uint32_t i = 0; i < fp->n_writes + fp->n_reads; i++) {
    uint64_t *k = lookup(p, &c->keys, h[i], 0);
    if (!k) continue;
    merge(p, entry_writes(k), seq, deps);
    if (i < fp->n_writes) merge(p, entry_reads(p, k), seq, deps);
  }
  return 0;
}

static void raise_to(const epaxos *p, uint64_t *f, int leader, uint64_t num, uint64_t seq) {
  if (num > f[leader]) f[leader] = num;
  if (seq > f[p->n]) f[p->n] = seq;
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
    uint64_t *s = lookup(p, &c->sessions, h[i], 1);
    if (!s) goto nomem;
    raise_to(p, entry_writes(s), leader, num, seq);
  }
  h += fp->n_sessions;
  for (uint32_t i = 0; i < fp->n_writes + fp->n_reads; i++) {
    uint64_t *k = lookup(p, &c->keys, h[i], 1);
    if (!k) goto nomem;
    raise_to(p, i < fp->n_writes ? entry_writes(k) : entry_reads(p, k), leader, num, seq);
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
  free(c->keys.words);
  free(c->sessions.words);
  memset(c, 0, sizeof *c);
}
