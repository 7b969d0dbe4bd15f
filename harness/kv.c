/* kv.c: the key-value state machine and its command encoding (see kv.h).
 *
 * Encoding, version 1, big-endian:
 *   u8 version=1 | u8 op | u64 client_id | u64 seq | u8 flags (bit 0: expected present)
 *   | u16 key_len | key | u16 value_len | value | [u16 expected_len | expected]
 */
#include "kv.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define KV_VERSION       1
#define KV_FLAG_EXPECTED 1

/* ---- command encoding ---- */

static size_t put_u16(uint8_t *p, size_t n) {
  p[0] = (uint8_t)(n >> 8);
  p[1] = (uint8_t)n;
  return 2;
}

static size_t put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
  return 8;
}

int ctk_kv_encode(const ctk_kv_command *cmd, uint8_t *buf, size_t cap) {
  size_t key_len = strlen(cmd->key);
  size_t value_len = cmd->value ? strlen(cmd->value) : 0;
  size_t expected_len = cmd->expected ? strlen(cmd->expected) : 0;
  if (key_len == 0 || key_len > CTK_KV_MAX_KEY || value_len > CTK_KV_MAX_VALUE ||
      expected_len > CTK_KV_MAX_VALUE)
    return -1;
  int has_expected = cmd->op == CTK_F_CAS && cmd->expected != NULL;
  size_t need =
      1 + 1 + 8 + 8 + 1 + 2 + key_len + 2 + value_len + (has_expected ? 2 + expected_len : 0);
  if (need > cap) return -1;
  uint8_t *p = buf;
  *p++ = KV_VERSION;
  *p++ = (uint8_t)cmd->op;
  p += put_u64(p, cmd->client_id);
  p += put_u64(p, cmd->seq);
  *p++ = has_expected ? KV_FLAG_EXPECTED : 0;
  p += put_u16(p, key_len);
  memcpy(p, cmd->key, key_len);
  p += key_len;
  p += put_u16(p, value_len);
  if (value_len) memcpy(p, cmd->value, value_len);
  p += value_len;
  if (has_expected) {
    p += put_u16(p, expected_len);
    if (expected_len) memcpy(p, cmd->expected, expected_len);
    p += expected_len;
  }
  return (int)(p - buf);
}

typedef struct kv_cursor {
  const uint8_t *p, *end;
} kv_cursor;

static int take(kv_cursor *c, size_t n, const uint8_t **out) {
  if ((size_t)(c->end - c->p) < n) return -1;
  *out = c->p;
  c->p += n;
  return 0;
}

static int take_u64(kv_cursor *c, uint64_t *v) {
  const uint8_t *b;
  if (take(c, 8, &b)) return -1;
  *v = 0;
  for (int i = 0; i < 8; i++) *v = *v << 8 | b[i];
  return 0;
}

/* Copies a u16-length string into scratch, NUL-terminated; advances scratch. */
static int take_string(kv_cursor *c, size_t max, char **scratch, const char **out) {
  const uint8_t *b;
  if (take(c, 2, &b)) return -1;
  size_t n = (size_t)b[0] << 8 | b[1];
  if (n > max || take(c, n, &b)) return -1;
  if (memchr(b, 0, n)) return -1;
  memcpy(*scratch, b, n);
  (*scratch)[n] = 0;
  *out = *scratch;
  *scratch += n + 1;
  return 0;
}

int ctk_kv_decode(const uint8_t *bytes, size_t len, ctk_kv_command *cmd, char *scratch) {
  kv_cursor c = {bytes, bytes + len};
  const uint8_t *head;
  memset(cmd, 0, sizeof *cmd);
  if (take(&c, 2, &head) || head[0] != KV_VERSION || head[1] > CTK_F_CAS) return -1;
  cmd->op = (ctk_op_f)head[1];
  if (take_u64(&c, &cmd->client_id) || take_u64(&c, &cmd->seq)) return -1;
  const uint8_t *flags;
  if (take(&c, 1, &flags) || (flags[0] & ~KV_FLAG_EXPECTED)) return -1;
  if (take_string(&c, CTK_KV_MAX_KEY, &scratch, &cmd->key) || cmd->key[0] == 0) return -1;
  const char *value;
  if (take_string(&c, CTK_KV_MAX_VALUE, &scratch, &value)) return -1;
  cmd->value = cmd->op == CTK_F_GET ? NULL : value;
  if (flags[0] & KV_FLAG_EXPECTED) {
    if (cmd->op != CTK_F_CAS) return -1;
    if (take_string(&c, CTK_KV_MAX_VALUE, &scratch, &cmd->expected)) return -1;
  }
  return c.p == c.end ? 0 : -1;
}

/* ---- the store: open addressing, linear probing ----
 *
 * Each key lives in one allocation with its value (kv_entry), which a put of a value no longer
 * than the one before overwrites in place: a put costs no allocation once the key exists. */

typedef struct kv_entry {
  uint16_t key_len, value_len, value_cap;
  char data[]; /* key, NUL, then value_cap + 1 bytes: the value, NUL */
} kv_entry;

static char *entry_key(kv_entry *e) { return e->data; }
static char *entry_value(kv_entry *e) { return e->data + e->key_len + 1; }

typedef struct kv_slot {
  kv_entry *e; /* NULL: empty */
  uint64_t hash;
} kv_slot;

/* A client's last command and its answer, kept to answer a retry of it. The table is probed once
 * per command: the answer's value lives in an allocation of its own (reused while it fits), so an
 * entry is 32 bytes and 1,024 clients' entries fit a core's cache, where a whole ctk_kv_result in
 * each (2 KiB) made every probe a cache and TLB miss. */
typedef struct kv_client {
  uint64_t client_id; /* slot used when seq != 0 */
  uint64_t seq;
  uint8_t ok, found;
  uint16_t value_len, value_cap;
  char *value; /* value_len bytes and a NUL; NULL while value_cap is 0 */
} kv_client;

struct ctk_kv {
  kv_slot *slots;
  size_t cap, count;
  size_t text_bytes; /* the lengths of every key and value, for a snapshot's size */
  kv_client *clients;
  size_t clients_cap, clients_count;
  uint64_t digest; /* ctk_kv_digest, kept up to date by every change */
};

/* The digest is a sum of per-entry hashes (independent of table layout and insertion order), so
 * a change subtracts the old entry's and adds the new one's: the runner asks every node for it
 * ten times a second, and summing a store of 100,000 keys each time cost a node more than its
 * operations did. */
static uint64_t entry_hash(kv_entry *e) {
  return XXH64(entry_value(e), e->value_len, XXH64(entry_key(e), e->key_len, 1));
}

static uint64_t client_hash(uint64_t client_id, uint64_t seq) {
  uint64_t pair[2] = {client_id, seq};
  return XXH64(pair, sizeof pair, 2);
}

ctk_kv *ctk_kv_new(void) { return calloc(1, sizeof(ctk_kv)); }

void ctk_kv_destroy(ctk_kv **self_p) {
  ctk_kv *self = *self_p;
  if (!self) return;
  for (size_t i = 0; i < self->cap; i++) free(self->slots[i].e);
  free(self->slots);
  for (size_t i = 0; i < self->clients_cap; i++) free(self->clients[i].value);
  free(self->clients);
  free(self);
  *self_p = NULL;
}

static kv_slot *kv_find(const ctk_kv *self, const char *key, size_t key_len, uint64_t hash) {
  if (!self->cap) return NULL;
  for (size_t i = hash & (self->cap - 1);; i = (i + 1) & (self->cap - 1)) {
    kv_slot *s = &self->slots[i];
    if (!s->e) return s;
    if (s->hash == hash && s->e->key_len == key_len && memcmp(s->e->data, key, key_len) == 0)
      return s;
  }
}

/* ---- prefetching (kv.h) ---- */

/* Asks for the cache line at p. An empty statement that uses p follows: GCC 12 otherwise takes
 * a loop of prefetches alone for one without effects and deletes it. */
static void prefetch(const void *p) {
  __builtin_prefetch(p);
  __asm__ volatile("" : : "r"(p));
}

/* The key of an encoded command, in place: its hash, or 0 when the bytes are too short for one
 * (0 is then only a hint's loss). */
static uint64_t key_hash_of(const uint8_t *bytes, size_t len) {
  enum { KEY_AT = 1 + 1 + 8 + 8 + 1 }; /* the key's u16 length, after the header */
  if (len < KEY_AT + 2) return 0;
  size_t n = (size_t)bytes[KEY_AT] << 8 | bytes[KEY_AT + 1];
  if (n == 0 || n > len - KEY_AT - 2) return 0;
  return XXH64(bytes + KEY_AT + 2, n, 0);
}

void ctk_kv_prefetch_slot(const ctk_kv *self, const uint8_t *bytes, size_t len) {
  uint64_t hash = key_hash_of(bytes, len);
  if (hash && self->cap) prefetch(&self->slots[hash & (self->cap - 1)]);
}

void ctk_kv_prefetch_entry(const ctk_kv *self, const uint8_t *bytes, size_t len) {
  uint64_t hash = key_hash_of(bytes, len);
  if (!hash || !self->cap) return;
  for (size_t i = hash & (self->cap - 1);; i = (i + 1) & (self->cap - 1)) {
    const kv_slot *s = &self->slots[i];
    if (!s->e) return;
    if (s->hash == hash) {
      prefetch(s->e);
      return;
    }
  }
}

/* Makes the table hold `want` keys at most 3/4 full. */
static int kv_reserve(ctk_kv *self, size_t want) {
  if (want * 4 <= self->cap * 3) return 0;
  size_t cap = self->cap ? self->cap : 64;
  while (want * 4 > cap * 3) cap *= 2;
  kv_slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  for (size_t i = 0; i < self->cap; i++) {
    kv_slot *old = &self->slots[i];
    if (!old->e) continue;
    size_t j = old->hash & (cap - 1);
    while (slots[j].e) j = (j + 1) & (cap - 1);
    slots[j] = *old;
  }
  free(self->slots);
  self->slots = slots;
  self->cap = cap;
  return 0;
}

static kv_client *kv_client_slot(ctk_kv *self, uint64_t client_id) {
  if (self->clients_count * 2 >= self->clients_cap) {
    size_t cap = self->clients_cap ? self->clients_cap * 2 : 16;
    kv_client *clients = calloc(cap, sizeof *clients);
    if (!clients) return NULL;
    for (size_t i = 0; i < self->clients_cap; i++) {
      kv_client *old = &self->clients[i];
      if (!old->seq) continue;
      size_t j = XXH64(&old->client_id, 8, 0) & (cap - 1);
      while (clients[j].seq) j = (j + 1) & (cap - 1);
      clients[j] = *old;
    }
    free(self->clients);
    self->clients = clients;
    self->clients_cap = cap;
  }
  size_t j = XXH64(&client_id, 8, 0) & (self->clients_cap - 1);
  while (self->clients[j].seq && self->clients[j].client_id != client_id)
    j = (j + 1) & (self->clients_cap - 1);
  return &self->clients[j];
}

/* Sets key (key_len bytes, at most CTK_KV_MAX_KEY) to value (at most CTK_KV_MAX_VALUE). s is
 * kv_find's answer for the key, found just before (NULL in an empty table). */
static int kv_set(ctk_kv *self, kv_slot *s, const char *key, size_t key_len, uint64_t hash,
                  const char *value, size_t value_len) {
  if (!s || !s->e) { /* a new key: the table may have to grow first, and its slot move */
    size_t cap = self->cap;
    if (kv_reserve(self, self->count + 1)) return -1;
    if (self->cap != cap) s = kv_find(self, key, key_len, hash);
  }
  kv_entry *e = s->e;
  if (e && value_len <= e->value_cap) {
    self->digest -= entry_hash(e);
    self->text_bytes -= e->value_len;
  } else {
    kv_entry *fresh = malloc(sizeof *fresh + key_len + 1 + value_len + 1);
    if (!fresh) return -1;
    fresh->key_len = (uint16_t)key_len;
    fresh->value_cap = (uint16_t)value_len;
    memcpy(fresh->data, key, key_len);
    fresh->data[key_len] = 0;
    if (e) {
      self->digest -= entry_hash(e);
      self->text_bytes -= e->value_len;
      free(e);
    } else {
      s->hash = hash;
      self->count++;
      self->text_bytes += key_len;
    }
    s->e = e = fresh;
  }
  e->value_len = (uint16_t)value_len;
  memcpy(entry_value(e), value, value_len);
  entry_value(e)[value_len] = 0;
  self->text_bytes += value_len;
  self->digest += entry_hash(e);
  return 0;
}

/* Makes room for a value of len bytes and its NUL in the client's answer. */
static int client_value_reserve(kv_client *c, size_t len) {
  if (len == 0 || len <= c->value_cap) return 0;
  char *value = realloc(c->value, len + 1);
  if (!value) return -1;
  c->value = value;
  c->value_cap = (uint16_t)len;
  return 0;
}

/* Sets the client's answer: room for the value was reserved (client_value_reserve). */
static void client_value_set(kv_client *c, const char *value, size_t len) {
  c->value_len = (uint16_t)len;
  if (!c->value) return; /* len is 0 */
  memcpy(c->value, value, len);
  c->value[len] = 0;
}

static void client_answer(const kv_client *c, ctk_kv_result *result) {
  result->ok = c->ok;
  result->found = c->found;
  if (c->value_len) memcpy(result->value, c->value, c->value_len);
  result->value[c->value_len] = 0;
}

int ctk_kv_apply(ctk_kv *self, const uint8_t *bytes, size_t len, ctk_kv_result *result,
                 int *duplicate) {
  char scratch[CTK_KV_MAX_KEY + 2 * CTK_KV_MAX_VALUE + 8];
  ctk_kv_command cmd;
  *duplicate = 0;
  if (len > sizeof scratch - 3 || ctk_kv_decode(bytes, len, &cmd, scratch)) return -1;
  kv_client *client = kv_client_slot(self, cmd.client_id);
  if (!client) return -1;
  memset(result, 0, offsetof(ctk_kv_result, value) + 1);
  result->client_id = cmd.client_id;
  result->seq = cmd.seq;
  if (client->seq && cmd.seq <= client->seq) {
    *duplicate = 1;
    client_answer(client, result);
    return 0;
  }
  size_t key_len = strlen(cmd.key);
  uint64_t hash = XXH64(cmd.key, key_len, 0);
  kv_slot *s = kv_find(self, cmd.key, key_len, hash);
  kv_entry *current = s ? s->e : NULL;
  /* Room for the answer first: nothing may fail once the store has changed. */
  size_t answer_len = cmd.op == CTK_F_GET && current ? current->value_len : 0;
  if (client_value_reserve(client, answer_len)) return -1;
  switch (cmd.op) {
  case CTK_F_GET:
    result->ok = 1;
    result->found = current != NULL;
    if (current) memcpy(result->value, entry_value(current), current->value_len + 1u);
    break;
  case CTK_F_PUT:
    if (kv_set(self, s, cmd.key, key_len, hash, cmd.value, strlen(cmd.value))) return -1;
    result->ok = 1;
    break;
  case CTK_F_CAS: {
    int match =
        cmd.expected ? current && strcmp(entry_value(current), cmd.expected) == 0 : current == NULL;
    if (match && kv_set(self, s, cmd.key, key_len, hash, cmd.value, strlen(cmd.value))) return -1;
    result->ok = match;
    break;
  }
  }
  if (!client->seq)
    self->clients_count++;
  else
    self->digest -= client_hash(client->client_id, client->seq);
  client->client_id = cmd.client_id;
  client->seq = cmd.seq;
  self->digest += client_hash(client->client_id, client->seq);
  client->ok = (uint8_t)(result->ok != 0);
  client->found = (uint8_t)(result->found != 0);
  client_value_set(client, result->value, answer_len);
  return 0;
}

int ctk_kv_read(const ctk_kv *self, const uint8_t *bytes, size_t len, ctk_kv_result *result) {
  char scratch[CTK_KV_MAX_KEY + 2 * CTK_KV_MAX_VALUE + 8];
  ctk_kv_command cmd;
  if (len > sizeof scratch - 3 || ctk_kv_decode(bytes, len, &cmd, scratch)) return -1;
  if (cmd.op != CTK_F_GET) return -1;
  memset(result, 0, offsetof(ctk_kv_result, value) + 1);
  result->client_id = cmd.client_id;
  result->seq = cmd.seq;
  result->ok = 1;
  size_t key_len = strlen(cmd.key);
  uint64_t hash = XXH64(cmd.key, key_len, 0);
  const kv_slot *s = kv_find(self, cmd.key, key_len, hash);
  if (s && s->e) {
    result->found = 1;
    memcpy(result->value, entry_value(s->e), s->e->value_len + 1u);
  }
  return 0;
}

uint64_t ctk_kv_digest(const ctk_kv *self) { return self->digest; }

uint64_t ctk_kv_digest_recompute(const ctk_kv *self) {
  uint64_t digest = 0;
  for (size_t i = 0; i < self->cap; i++) {
    const kv_slot *s = &self->slots[i];
    if (s->e) digest += entry_hash(s->e);
  }
  for (size_t i = 0; i < self->clients_cap; i++) {
    const kv_client *c = &self->clients[i];
    if (c->seq) digest += client_hash(c->client_id, c->seq);
  }
  return digest;
}

size_t ctk_kv_size(const ctk_kv *self) { return self->count; }

/* ---- snapshots ----
 *
 * Format, version 1, big-endian:
 *   u8 version=1 | u32 n_keys | n_keys * (u16 key_len | key | u16 value_len | value)
 *   | u32 n_clients | n_clients * (u64 client_id | u64 seq | u8 ok | u8 found
 *   | u16 value_len | value), client ids ascending
 * The keys are in the order of their 64-bit hash (XXH64, seed 0; equal hashes in byte order of
 * the keys), which a store knows without reading its keys: sorting 100,000 keys by strcmp cost a
 * node tens of milliseconds per snapshot, during which it answered nothing. Any order restores;
 * this one makes equal stores give equal bytes. */

#define KV_SNAPSHOT_VERSION 1

/* A key's place in the order of a snapshot. */
typedef struct kv_ref {
  uint64_t hash;
  kv_entry *e;
} kv_ref;

static int ref_less(const kv_ref *a, const kv_ref *b) {
  if (a->hash != b->hash) return a->hash < b->hash;
  return strcmp(entry_key(a->e), entry_key(b->e)) < 0;
}

static int cmp_ref(const void *a, const void *b) {
  const kv_ref *x = a, *y = b;
  return ref_less(x, y) ? -1 : ref_less(y, x);
}

/* Sorts refs[0..n) by (hash, key) into out: one pass into buckets by the hash's top bits (about
 * one key per bucket, as the hashes are uniform), then each bucket on its own. */
static int sort_refs(const kv_ref *refs, size_t n, kv_ref *out) {
  int bits = 1;
  while (bits < 20 && ((size_t)1 << bits) < n) bits++;
  size_t buckets = (size_t)1 << bits;
  size_t *start = calloc(buckets + 1, sizeof *start);
  if (!start) return -1;
  for (size_t i = 0; i < n; i++) start[(refs[i].hash >> (64 - bits)) + 1]++;
  for (size_t b = 0; b < buckets; b++) start[b + 1] += start[b];
  for (size_t i = 0; i < n; i++) out[start[refs[i].hash >> (64 - bits)]++] = refs[i];
  /* start[b] is now the end of bucket b, the start of bucket b + 1. */
  for (size_t b = 0, from = 0; b < buckets; from = start[b++]) {
    size_t len = start[b] - from;
    kv_ref *r = out + from;
    if (len > 16) {
      qsort(r, len, sizeof *r, cmp_ref);
      continue;
    }
    for (size_t i = 1; i < len; i++) {
      kv_ref x = r[i];
      size_t j = i;
      for (; j > 0 && ref_less(&x, &r[j - 1]); j--) r[j] = r[j - 1];
      r[j] = x;
    }
  }
  free(start);
  return 0;
}

static int cmp_client_ptr(const void *a, const void *b) {
  const kv_client *x = *(const kv_client *const *)a, *y = *(const kv_client *const *)b;
  return x->client_id < y->client_id ? -1 : x->client_id > y->client_id;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
  return p + 4;
}

static uint8_t *put_text(uint8_t *p, const char *s, size_t n) {
  p += put_u16(p, n);
  memcpy(p, s, n);
  return p + n;
}

int ctk_kv_serialize(const ctk_kv *self, uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  size_t n = self->count;
  kv_ref *refs = malloc((n ? n : 1) * 2 * sizeof *refs);
  const kv_client **clients =
      malloc((self->clients_count ? self->clients_count : 1) * sizeof *clients);
  size_t need = 1 + 4 + 4 + 4 * n + self->text_bytes, n_clients = 0;
  for (size_t i = 0; clients && i < self->clients_cap; i++)
    if (self->clients[i].seq) {
      clients[n_clients++] = &self->clients[i];
      need += 8 + 8 + 2 + 2 + self->clients[i].value_len;
    }
  uint8_t *buf = refs && clients ? malloc(need) : NULL;
  size_t n_refs = 0;
  for (size_t i = 0; buf && i < self->cap; i++)
    if (self->slots[i].e) refs[n_refs++] = (kv_ref){self->slots[i].hash, self->slots[i].e};
  kv_ref *sorted = refs + n;
  if (!buf || sort_refs(refs, n_refs, sorted)) {
    free(buf);
    free(refs);
    free(clients);
    return -1;
  }
  qsort(clients, n_clients, sizeof *clients, cmp_client_ptr);
  uint8_t *p = buf;
  *p++ = KV_SNAPSHOT_VERSION;
  p = put_u32(p, (uint32_t)n_refs);
  for (size_t i = 0; i < n_refs; i++) {
    if (i + 8 < n_refs) __builtin_prefetch(sorted[i + 8].e);
    kv_entry *e = sorted[i].e;
    p = put_text(p, entry_key(e), e->key_len);
    p = put_text(p, entry_value(e), e->value_len);
  }
  p = put_u32(p, (uint32_t)n_clients);
  for (size_t i = 0; i < n_clients; i++) {
    const kv_client *c = clients[i];
    p += put_u64(p, c->client_id);
    p += put_u64(p, c->seq);
    *p++ = c->ok;
    *p++ = c->found;
    p = put_text(p, c->value ? c->value : "", c->value_len);
  }
  assert((size_t)(p - buf) == need);
  free(refs);
  free(clients);
  *out = buf;
  *out_len = (size_t)(p - buf);
  return 0;
}

static int take_u32(kv_cursor *c, uint32_t *v) {
  const uint8_t *p;
  if (take(c, 4, &p)) return -1;
  *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  return 0;
}

/* Reads a u16-prefixed string of 1..max bytes (0..max when empty_ok) in place: *text points
 * into the snapshot, *len is its length. */
static int take_snapshot_text(kv_cursor *c, size_t max, int empty_ok, const char **text,
                              size_t *len) {
  const uint8_t *p;
  if (take(c, 2, &p)) return -1;
  size_t n = (size_t)p[0] << 8 | p[1];
  if (n > max || (!n && !empty_ok) || take(c, n, &p) || memchr(p, 0, n)) return -1;
  *text = (const char *)p;
  *len = n;
  return 0;
}

int ctk_kv_restore(ctk_kv *self, const uint8_t *bytes, size_t len) {
  kv_cursor c = {bytes, bytes + len};
  const uint8_t *version;
  uint32_t n;
  if (take(&c, 1, &version) || *version != KV_SNAPSHOT_VERSION || take_u32(&c, &n)) return -1;
  ctk_kv *fresh = ctk_kv_new();
  if (!fresh) return -1;
  /* Every key takes at least 5 bytes: a count beyond that is a lie, not a size to reserve. */
  if (n > len / 5 || kv_reserve(fresh, n)) goto fail;
  const char *key, *value;
  size_t key_len, value_len;
  for (uint32_t i = 0; i < n; i++) {
    if (take_snapshot_text(&c, CTK_KV_MAX_KEY, 0, &key, &key_len) ||
        take_snapshot_text(&c, CTK_KV_MAX_VALUE, 1, &value, &value_len))
      goto fail;
    uint64_t hash = XXH64(key, key_len, 0);
    kv_slot *s = kv_find(fresh, key, key_len, hash);
    if ((s && s->e) || kv_set(fresh, s, key, key_len, hash, value, value_len))
      goto fail; /* duplicate key */
  }
  if (take_u32(&c, &n)) goto fail;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t client_id, seq;
    const uint8_t *flags;
    if (take_u64(&c, &client_id) || take_u64(&c, &seq) || !seq || take(&c, 2, &flags) ||
        take_snapshot_text(&c, CTK_KV_MAX_VALUE, 1, &value, &value_len))
      goto fail;
    kv_client *slot = kv_client_slot(fresh, client_id);
    if (!slot || slot->seq) goto fail; /* out of memory, or a duplicate client */
    *slot = (kv_client){
        .client_id = client_id, .seq = seq, .ok = flags[0] != 0, .found = flags[1] != 0};
    if (client_value_reserve(slot, value_len)) goto fail;
    client_value_set(slot, value, value_len);
    fresh->clients_count++;
    fresh->digest += client_hash(client_id, seq);
  }
  if (c.p != c.end) goto fail;
  /* Swap the contents: self keeps its address. */
  ctk_kv old = *self;
  *self = *fresh;
  *fresh = old;
  ctk_kv_destroy(&fresh);
  return 0;
fail:
  ctk_kv_destroy(&fresh);
  return -1;
}
