/* conflicts.c: which instances a command interferes with, as this node knows them.
 *
 * From the paper (Figure 2, PreAccept): "seq = 1 + max({seq of all interfering commands} ∪ {0});
 * deps = the set of all instances of interfering commands". deps is kept, as in the paper's
 * implementation, as one instance number per command leader: "every instance of that leader up
 * to this number that interferes"; execution walks them. Interference is protocol.h's: same
 * session, or same key with at least one write; a command without the header interferes with
 * every command. Keys and sessions are indexed by a 64-bit hash: two keys that collide merely
 * look interfering, which costs order, never safety. */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static uint64_t hash_bytes(uint64_t h, const uint8_t *b, size_t len) {
  for (size_t i = 0; i < len; i++) h = (h ^ b[i]) * 0x100000001B3ull;
  h ^= h >> 29;
  return h ? h : 1;
}

ep_fp ep_footprint(const uint8_t *cmd, size_t len, int has_cmd) {
  ep_fp fp = {0};
  if (!has_cmd || len == 0) {
    fp.noop = 1;
    return fp;
  }
  ctk_footprint f = ctk_command_footprint(cmd, len);
  if (!f.known) return fp;
  fp.known = 1;
  fp.write = f.write;
  fp.key = hash_bytes(0xCBF29CE484222325ull, f.key, f.key_len);
  uint8_t s[8];
  for (int i = 0; i < 8; i++) s[i] = (uint8_t)(f.session >> (56 - 8 * i));
  fp.session = hash_bytes(0x84222325CBF29CE4ull, s, sizeof s);
  return fp;
}

int ep_fp_interfere(const ep_fp *a, const ep_fp *b) {
  if (a->noop || b->noop) return 0;
  if (!a->known || !b->known || a->session == b->session) return 1;
  return a->key == b->key && (a->write || b->write);
}

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
  if (!fp->known) {
    merge(p, &c->all, seq, deps);
    return 0;
  }
  merge(p, &c->unknown, seq, deps);
  ep_conflict_entry *s = lookup(&c->sessions, &c->sessions_n, &c->sessions_cap, fp->session, 0);
  if (s) merge(p, &s->writes, seq, deps);
  ep_conflict_entry *k = lookup(&c->keys, &c->keys_n, &c->keys_cap, fp->key, 0);
  if (k) {
    merge(p, &k->writes, seq, deps);
    if (fp->write) merge(p, &k->reads, seq, deps);
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
  if (!fp->known) {
    frontier_raise(&c->unknown, leader, num, seq);
    return 0;
  }
  ep_conflict_entry *s = lookup(&c->sessions, &c->sessions_n, &c->sessions_cap, fp->session, 1);
  ep_conflict_entry *k = lookup(&c->keys, &c->keys_n, &c->keys_cap, fp->key, 1);
  if (!s || !k) {
    p->out_of_memory = 1;
    return -1;
  }
  frontier_raise(&s->writes, leader, num, seq);
  frontier_raise(fp->write ? &k->writes : &k->reads, leader, num, seq);
  return 0;
}

void ep_conflicts_free(ep_conflicts *c) {
  free(c->keys);
  free(c->sessions);
  memset(c, 0, sizeof *c);
}
