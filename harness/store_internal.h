/* store_internal.h: what store.c (staging, stats, dispatch) shares with its backends,
 * store_wal.c and store_lmdb.c, plus the tuning knobs benchmarks and tests reach for. */
#ifndef CTK_STORE_INTERNAL_H
#define CTK_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Knobs with defaults that suit this machine (bench/bench_disk.c measures them). */
typedef struct ctk_store_options {
  /* WAL: the log file is extended by fallocate in steps of this many bytes (0: never), so that
   * most syncs write inside the file's size and fdatasync has no size change to commit. */
  size_t wal_prealloc_bytes;
  int wal_prealloc_keep_size; /* 1: fallocate with FALLOC_FL_KEEP_SIZE instead (for measuring) */
  size_t lmdb_map_bytes;      /* LMDB map size (the file is sparse; this is a ceiling) */
} ctk_store_options;

#define CTK_STORE_WAL_PREALLOC_BYTES ((size_t)4 << 20)
#define CTK_STORE_LMDB_MAP_BYTES     ((size_t)4 << 30)

void ctk_store_options_default(ctk_store_options *o);

/* ctk_store_open with explicit options (NULL: the defaults). */
ctk_store *ctk_store_open_with(const char *dir, ctk_store_kind kind, int sync,
                               const ctk_store_options *o, char *err, size_t err_len);

/* What was staged since the last sync: chunks back to back in bytes, chunk i ending at ends[i]. */
typedef struct ctk_store_staged {
  uint8_t *bytes;
  size_t len, cap;
  size_t *ends;
  size_t n, n_cap;
  int replace; /* 1: the chunks replace everything durable (possibly with nothing) */
} ctk_store_staged;

static inline size_t ctk_store_chunk_start(const ctk_store_staged *st, size_t i) {
  return i ? st->ends[i - 1] : 0;
}

/* A backend. open returns its state or NULL with err; read returns the durable bytes (staged
 * ones excluded); commit makes st durable in one go (with one sync unless sync=0) and on failure
 * leaves what was durable before intact. */
typedef struct ctk_store_backend {
  void *(*open)(const char *dir, int sync, const ctk_store_options *o, char *err, size_t err_len);
  int (*read)(void *impl, uint8_t **data, size_t *len, char *err, size_t err_len);
  int (*commit)(void *impl, const ctk_store_staged *st, char *err, size_t err_len);
  void (*close)(void *impl);
} ctk_store_backend;

extern const ctk_store_backend ctk_store_wal_backend;
extern const ctk_store_backend ctk_store_lmdb_backend;

/* Helpers for the backends. */
void ctk_store_errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* mkdir -p; 0 or -1 with err. Syncs the parent of every directory it creates. */
int ctk_store_mkdirs(const char *dir, char *err, size_t err_len);
/* fsync of a directory, so that a creation or rename in it is durable. 0 or -1 with err. */
int ctk_store_sync_dir(const char *dir, char *err, size_t err_len);

#endif /* CTK_STORE_INTERNAL_H */
