/* store_lmdb.c: the LMDB backend of store.h: one LMDB environment in DIR (data.mdb, lock.mdb),
 * its unnamed database holding the durable bytes as chunks:
 *
 *   key   = chunk number, big-endian u64: 0, 1, 2, ... with no gaps
 *   value = the chunk, then crc32c(chunk) as a big-endian u32
 *
 * LMDB checksums nothing itself; the CRC lets a read report a damaged value instead of handing
 * it to the protocol. A sync is one write transaction (the commit is the group commit: LMDB
 * writes the dirty pages, fdatasyncs, writes the meta page and fdatasyncs again); a replace
 * drops every chunk and numbers from 0 again in the same transaction. sync=0 opens the
 * environment with MDB_NOSYNC. LMDB is copy-on-write: a commit that fails (ENOSPC, EFBIG,
 * MDB_MAP_FULL) leaves the previous state intact, and a crash cannot tear one. The map is
 * lmdb_map_bytes (4 GiB) of address space; the file is sparse and grows as pages are written
 * (no MDB_WRITEMAP, under which a full disk would be a SIGBUS). */
#include <lmdb.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"
#include "store_internal.h"

typedef struct lmdb_store {
  char dir[PATH_MAX];
  MDB_env *env;
  MDB_dbi dbi;
  uint64_t next_key; /* the number of chunks */
} lmdb_store;

static void key_put(uint8_t k[8], uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) k[i] = (uint8_t)v;
}

static uint64_t key_get(const MDB_val *k) {
  uint64_t v = 0;
  const uint8_t *p = k->mv_data;
  for (size_t i = 0; i < k->mv_size; i++) v = v << 8 | p[i];
  return v;
}

static void lmdb_close(void *impl) {
  lmdb_store *l = impl;
  if (!l) return;
  if (l->env) mdb_env_close(l->env);
  free(l);
}

static void *lmdb_open(const char *dir, int sync, const ctk_store_options *o, char *err,
                       size_t err_len) {
  lmdb_store *l = calloc(1, sizeof *l);
  if (!l) {
    ctk_store_errf(err, err_len, "store: %s: out of memory", dir);
    return NULL;
  }
  snprintf(l->dir, sizeof l->dir, "%s", dir);
  const char *what = "mdb_env_create";
  int rc = mdb_env_create(&l->env);
  if (rc) {
    l->env = NULL;
    goto fail;
  }
  what = "mdb_env_set_mapsize";
  if ((rc = mdb_env_set_mapsize(l->env, o->lmdb_map_bytes))) goto fail;
  what = "mdb_env_open";
  if ((rc = mdb_env_open(l->env, dir, MDB_NOTLS | (sync ? 0 : MDB_NOSYNC), 0644))) goto fail;
  /* The unnamed database and the number of its last chunk. */
  MDB_txn *txn;
  what = "mdb_txn_begin";
  if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))) goto fail;
  what = "mdb_dbi_open";
  rc = mdb_dbi_open(txn, NULL, 0, &l->dbi);
  MDB_cursor *cur = NULL;
  if (!rc) {
    what = "mdb_cursor_open";
    rc = mdb_cursor_open(txn, l->dbi, &cur);
  }
  if (!rc) {
    MDB_val k, v;
    what = "mdb_cursor_get";
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size != 8) rc = MDB_CORRUPTED;
    if (rc == 0) l->next_key = key_get(&k) + 1;
    if (rc == MDB_NOTFOUND) rc = 0;
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
  if (rc) goto fail;
  return l;
fail:
  ctk_store_errf(err, err_len, "store: %s (lmdb): %s: %s", dir, what, mdb_strerror(rc));
  lmdb_close(l);
  return NULL;
}

/* Walks the chunks in key order; with out == NULL only checks them and sums their sizes. */
static int walk(lmdb_store *l, MDB_txn *txn, uint8_t *out, size_t *total, char *err,
                size_t err_len) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, l->dbi, &cur);
  if (rc) {
    ctk_store_errf(err, err_len, "store: %s (lmdb): mdb_cursor_open: %s", l->dir, mdb_strerror(rc));
    return -1;
  }
  MDB_val k, v;
  uint64_t expect = 0;
  size_t sum = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), expect++) {
    const uint8_t *p = v.mv_data;
    size_t len = v.mv_size - 4;
    if (k.mv_size != 8 || key_get(&k) != expect || v.mv_size < 5 ||
        wire_crc32c(p, len) != ((uint32_t)p[len] << 24 | (uint32_t)p[len + 1] << 16 |
                                (uint32_t)p[len + 2] << 8 | p[len + 3])) {
      ctk_store_errf(err, err_len, "store: %s (lmdb): chunk %llu is damaged or missing", l->dir,
                     (unsigned long long)expect);
      mdb_cursor_close(cur);
      return -1;
    }
    if (out) memcpy(out + sum, p, len);
    sum += len;
  }
  mdb_cursor_close(cur);
  if (rc != MDB_NOTFOUND) {
    ctk_store_errf(err, err_len, "store: %s (lmdb): mdb_cursor_get: %s", l->dir, mdb_strerror(rc));
    return -1;
  }
  *total = sum;
  return 0;
}

static int lmdb_read(void *impl, uint8_t **data, size_t *len, char *err, size_t err_len) {
  lmdb_store *l = impl;
  MDB_txn *txn;
  int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
  if (rc) {
    ctk_store_errf(err, err_len, "store: %s (lmdb): mdb_txn_begin: %s", l->dir, mdb_strerror(rc));
    return -1;
  }
  size_t total = 0, copied = 0;
  uint8_t *buf = NULL;
  if (walk(l, txn, NULL, &total, err, err_len)) goto fail;
  if (total) {
    if (!(buf = malloc(total))) {
      ctk_store_errf(err, err_len, "store: %s (lmdb): out of memory reading %zu bytes", l->dir,
                     total);
      goto fail;
    }
    if (walk(l, txn, buf, &copied, err, err_len)) goto fail;
  }
  mdb_txn_abort(txn);
  *data = buf;
  *len = total;
  return 0;
fail:
  free(buf);
  mdb_txn_abort(txn);
  return -1;
}

static int lmdb_commit(void *impl, const ctk_store_staged *st, char *err, size_t err_len) {
  lmdb_store *l = impl;
  MDB_txn *txn;
  const char *what = "mdb_txn_begin";
  int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
  if (rc) goto fail;
  uint64_t key = l->next_key;
  if (st->replace) {
    what = "mdb_drop";
    if ((rc = mdb_drop(txn, l->dbi, 0))) goto abort;
    key = 0;
  }
  what = "mdb_put";
  for (size_t i = 0; i < st->n; i++, key++) {
    size_t start = ctk_store_chunk_start(st, i), len = st->ends[i] - start;
    uint8_t kb[8];
    key_put(kb, key);
    MDB_val k = {sizeof kb, kb}, v = {len + 4, NULL};
    /* Keys only grow: MDB_APPEND skips the search; MDB_RESERVE lets us write in place. */
    if ((rc = mdb_put(txn, l->dbi, &k, &v, MDB_APPEND | MDB_RESERVE))) goto abort;
    uint8_t *p = v.mv_data;
    memcpy(p, st->bytes + start, len);
    uint32_t crc = wire_crc32c(st->bytes + start, len);
    p[len] = (uint8_t)(crc >> 24), p[len + 1] = (uint8_t)(crc >> 16);
    p[len + 2] = (uint8_t)(crc >> 8), p[len + 3] = (uint8_t)crc;
  }
  what = "mdb_txn_commit";
  if ((rc = mdb_txn_commit(txn))) goto fail; /* frees txn */
  l->next_key = key;
  return 0;
abort:
  mdb_txn_abort(txn);
fail:
  ctk_store_errf(err, err_len, "store: %s (lmdb): %s: %s", l->dir, what, mdb_strerror(rc));
  return -1;
}

const ctk_store_backend ctk_store_lmdb_backend = {
    .open = lmdb_open, .read = lmdb_read, .commit = lmdb_commit, .close = lmdb_close};
