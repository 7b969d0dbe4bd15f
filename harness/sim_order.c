/* sim_order.c: the simulator's direct check of execution order, key by key, for every protocol
 * (it matters most for those without a total order, like EPaxos, where the commit-agreement check
 * of sim_check.c does not apply):
 *   - every two nodes execute the writes (puts and compare-and-swaps) of each key in the same
 *     order: each node's sequence of writes on a key is a prefix of one reference sequence;
 *   - reads sit between the same writes: the k-th execution of a read at every node comes after
 *     the same number of writes on its key.
 * Commands are noted as a node applies them, after the sync of the step that emitted them; a
 * node's sequences start over when it restarts (its store does too, and it executes every
 * command again), so the check also covers re-execution after a restart. Every executed command
 * is also remembered, for the "nothing acknowledged is lost" check of protocols without a log. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define READ_OCCURRENCES 4 /* executions of one read whose place is checked */

/* An open-addressing table of fixed-size records keyed by a nonzero u64 at their start. */
static void *table_slot(void **tab, size_t *n, size_t *cap, size_t size, uint64_t id) {
  if ((*n + 1) * 2 > *cap) {
    size_t ncap = *cap ? *cap * 2 : 256;
    uint8_t *t = calloc(ncap, size);
    if (!t) return NULL;
    for (size_t i = 0; i < *cap; i++) {
      uint8_t *rec = (uint8_t *)*tab + i * size;
      uint64_t rid;
      memcpy(&rid, rec, sizeof rid);
      if (!rid) continue;
      size_t j = (size_t)(rid * 0x9E3779B97F4A7C15ull) & (ncap - 1);
      while (1) {
        uint64_t tid;
        memcpy(&tid, t + j * size, sizeof tid);
        if (!tid) break;
        j = (j + 1) & (ncap - 1);
      }
      memcpy(t + j * size, rec, size);
    }
    free(*tab);
    *tab = t;
    *cap = ncap;
  }
  size_t j = (size_t)(id * 0x9E3779B97F4A7C15ull) & (*cap - 1);
  while (1) {
    uint8_t *rec = (uint8_t *)*tab + j * size;
    uint64_t rid;
    memcpy(&rid, rec, sizeof rid);
    if (rid == id) return rec;
    if (!rid) {
      memcpy(rec, &id, sizeof id);
      (*n)++;
      return rec;
    }
    j = (j + 1) & (*cap - 1);
  }
}

static uint64_t nonzero(uint64_t h) { return h ? h : 1; }

static void note_executed(ctk_simulator *self, uint64_t id) {
  sim_order *o = &self->order;
  if (o->n_executed == o->cap_executed) {
    size_t cap = o->cap_executed ? o->cap_executed * 2 : 1024;
    uint64_t *e = realloc(o->executed, cap * sizeof *e);
    if (!e) return sim_violation(self, "simulator out of memory");
    o->executed = e;
    o->cap_executed = cap;
  }
  o->executed[o->n_executed++] = id;
}

static void check_write(ctk_simulator *self, int node, sim_order_key *k, uint64_t cmd,
                        const char *key) {
  if (self->order.unanchored[node]) return;
  uint32_t pos = k->pos[node]++;
  if (pos < k->n_writes) {
    if (k->writes[pos] != cmd)
      sim_safety_violation(self,
                           "per-key order: n%d executed a different write as write #%" PRIu32
                           " of key '%s' than n%d did",
                           node, pos + 1, key, k->first_node[pos]);
    return;
  }
  if (k->n_writes == k->cap_writes) {
    size_t cap = k->cap_writes ? k->cap_writes * 2 : 16;
    uint64_t *w = realloc(k->writes, cap * sizeof *w);
    int *f = realloc(k->first_node, cap * sizeof *f);
    if (w) k->writes = w;
    if (f) k->first_node = f;
    if (!w || !f) return sim_violation(self, "simulator out of memory");
    k->cap_writes = cap;
  }
  k->writes[k->n_writes] = cmd;
  k->first_node[k->n_writes++] = node;
}

static void check_read(ctk_simulator *self, int node, const sim_order_key *k, uint64_t cmd,
                       const char *key) {
  sim_order *o = &self->order;
  if (o->unanchored[node]) return;
  sim_order_read *r =
      table_slot((void **)&o->reads, &o->reads_n, &o->reads_cap, sizeof *r, nonzero(cmd));
  if (!r) return sim_violation(self, "simulator out of memory");
  uint32_t occurrence = r->count[node]++;
  if (occurrence >= READ_OCCURRENCES) return;
  uint32_t gap = k->pos[node] + 1; /* stored + 1: 0 means "not seen yet" */
  if (!r->gap[occurrence]) {
    r->gap[occurrence] = gap;
    r->first_node[occurrence] = node;
  } else if (r->gap[occurrence] != gap) {
    sim_safety_violation(self,
                         "per-key order: n%d executed a read of key '%s' after %" PRIu32
                         " writes of it, n%d after %" PRIu32,
                         node, key, gap - 1, r->first_node[occurrence], r->gap[occurrence] - 1);
  }
}

void sim_order_note(ctk_simulator *self, int node, const uint8_t *data, uint32_t len) {
  if (!len || len > CTK_MAX_COMMAND_BYTES) return;
  ctk_kv_command cmd;
  char scratch[CTK_MAX_COMMAND_BYTES + 8];
  if (ctk_kv_decode(data, len, &cmd, scratch)) return; /* sim_node.c reports it */
  note_executed(self, cmd.client_id << 40 | cmd.seq);
  sim_order *o = &self->order;
  sim_order_key *k = table_slot((void **)&o->keys, &o->keys_n, &o->keys_cap, sizeof *k,
                                nonzero(XXH3_64bits(cmd.key, strlen(cmd.key))));
  if (!k) return sim_violation(self, "simulator out of memory");
  uint64_t h = XXH3_64bits(data, len);
  if (cmd.op == CTK_F_GET)
    check_read(self, node, k, h, cmd.key);
  else
    check_write(self, node, k, h, cmd.key);
}

void sim_order_node_reset(ctk_simulator *self, int node) {
  sim_order *o = &self->order;
  for (size_t i = 0; i < o->keys_cap; i++) o->keys[i].pos[node] = 0;
  for (size_t i = 0; i < o->reads_cap; i++) o->reads[i].count[node] = 0;
  o->unanchored[node] = 0;
}

/* ---- snapshots: a node that restores one continues from the snapshot-taker's place ---- */

#define SNAPSHOTS_KEPT (sizeof((sim_order *)0)->snapshots / sizeof((sim_order *)0)->snapshots[0])

/* Makes *dst a copy of *src (dst's arrays are freed first): 0, or -1 out of memory. */
static int snapshot_copy(struct sim_order_snapshot *dst, const struct sim_order_snapshot *src) {
  if (dst == src) return 0;
  free(dst->keys);
  free(dst->pos);
  memset(dst, 0, sizeof *dst);
  if (!src->hash) return 0;
  dst->keys = malloc((src->n ? src->n : 1) * sizeof *dst->keys);
  dst->pos = malloc((src->n ? src->n : 1) * sizeof *dst->pos);
  if (!dst->keys || !dst->pos) return -1;
  if (src->n) {
    memcpy(dst->keys, src->keys, src->n * sizeof *dst->keys);
    memcpy(dst->pos, src->pos, src->n * sizeof *dst->pos);
  }
  dst->hash = src->hash;
  dst->index = src->index;
  dst->n = src->n;
  return 0;
}

void sim_order_snapshot_taken(ctk_simulator *self, int node, uint64_t snapshot, uint64_t index) {
  sim_order *o = &self->order;
  struct sim_order_snapshot *s = &o->snapshots[o->next_snapshot++ % SNAPSHOTS_KEPT];
  free(s->keys);
  free(s->pos);
  memset(s, 0, sizeof *s);
  if (o->unanchored[node]) return; /* its own place is unknown: nothing to hand on */
  size_t n = 0;
  for (size_t i = 0; i < o->keys_cap; i++) n += o->keys[i].id && o->keys[i].pos[node];
  s->keys = malloc((n ? n : 1) * sizeof *s->keys);
  s->pos = malloc((n ? n : 1) * sizeof *s->pos);
  if (!s->keys || !s->pos) return sim_violation(self, "simulator out of memory");
  for (size_t i = 0; i < o->keys_cap; i++)
    if (o->keys[i].id && o->keys[i].pos[node]) {
      s->keys[s->n] = o->keys[i].id;
      s->pos[s->n++] = o->keys[i].pos[node];
    }
  s->hash = nonzero(snapshot);
  s->index = index;
  if (snapshot_copy(&o->held[node], s)) return sim_violation(self, "simulator out of memory");
}

/* Whether two snapshots stand at the same place in every key's writes. */
static int same_place(const struct sim_order_snapshot *a, const struct sim_order_snapshot *b) {
  if (a->n != b->n) return 0;
  for (size_t j = 0; j < a->n; j++) {
    size_t m = 0;
    while (m < b->n && b->keys[m] != a->keys[j]) m++;
    if (m == b->n || b->pos[m] != a->pos[j]) return 0;
  }
  return 1;
}

void sim_order_snapshot_restored(ctk_simulator *self, int node, uint64_t snapshot, uint64_t index) {
  sim_order *o = &self->order;
  const struct sim_order_snapshot *s = NULL;
  /* By bytes and index. Equal bytes can stand at different places (commands that change nothing
   * the store keeps, such as a retried request answered again, still count as executed writes
   * here), at different indexes and, where each node numbers its own commits (EPaxos), at one
   * index on two nodes: when the snapshots that match do not agree on the place, it is unknown. */
  int ambiguous = 0;
  for (size_t i = 0; i < SNAPSHOTS_KEPT + CTK_MAX_NODES; i++) {
    const struct sim_order_snapshot *c =
        i < SNAPSHOTS_KEPT
            ? &o->snapshots[(o->next_snapshot + SNAPSHOTS_KEPT - 1 - i) % SNAPSHOTS_KEPT]
            : &o->held[i - SNAPSHOTS_KEPT];
    if (c->hash != nonzero(snapshot) || c->index != index) continue;
    if (!s)
      s = c;
    else if (!same_place(s, c))
      ambiguous = 1;
  }
  if (ambiguous) {
    self->stats.restores_ambiguous++;
    s = NULL;
  }
  for (size_t i = 0; i < o->keys_cap; i++) o->keys[i].pos[node] = 0;
  /* The reads the snapshot covers are not executed here again; reads still to come are checked
   * from their first execution on. */
  for (size_t i = 0; i < o->reads_cap; i++) o->reads[i].count[node] = READ_OCCURRENCES;
  o->unanchored[node] = !s;
  if (!s) {
    if (!ambiguous) self->stats.restores_unmatched++;
    return;
  }
  if (snapshot_copy(&o->held[node], s)) return sim_violation(self, "simulator out of memory");
  s = &o->held[node];
  for (size_t j = 0; j < s->n; j++) {
    sim_order_key *k =
        table_slot((void **)&o->keys, &o->keys_n, &o->keys_cap, sizeof *k, s->keys[j]);
    if (!k) return sim_violation(self, "simulator out of memory");
    k->pos[node] = s->pos[j];
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int sim_order_executed_sorted(ctk_simulator *self, const uint64_t **ids, size_t *n) {
  sim_order *o = &self->order;
  qsort(o->executed, o->n_executed, sizeof *o->executed, cmp_u64);
  *ids = o->executed;
  *n = o->n_executed;
  return 0;
}

void sim_order_free(ctk_simulator *self) {
  sim_order *o = &self->order;
  for (size_t i = 0; i < o->keys_cap; i++) {
    free(o->keys[i].writes);
    free(o->keys[i].first_node);
  }
  free(o->keys);
  free(o->reads);
  free(o->executed);
  for (size_t i = 0; i < SNAPSHOTS_KEPT; i++) {
    free(o->snapshots[i].keys);
    free(o->snapshots[i].pos);
  }
  for (int i = 0; i < CTK_MAX_NODES; i++) {
    free(o->held[i].keys);
    free(o->held[i].pos);
  }
  memset(o, 0, sizeof *o);
}
