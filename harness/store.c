/* store.c: a node's durable bytes: staging of appends and replaces between syncs, statistics,
 * and dispatch to the backends (store_wal.c, store_lmdb.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"

struct ctk_store {
  ctk_store_kind kind;
  const ctk_store_backend *backend;
  void *impl;
  char dir[PATH_MAX];
  ctk_store_staged staged;
  ctk_store_stats stats;
};

/* Staging buffers larger than this are freed after a sync instead of kept for the next one: large
 * enough for a protocol's snapshot of a store of 100,000 keys, which would otherwise be staged
 * in fresh pages (a page fault each) at every snapshot. */
#define STAGED_KEEP_BYTES ((size_t)16 << 20)

void ctk_store_errf(char *err, size_t err_len, const char *fmt, ...) {
  if (!err || !err_len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

int ctk_store_sync_dir(const char *dir, char *err, size_t err_len) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    ctk_store_errf(err, err_len, "store: %s: open: %s", dir, strerror(errno));
    return -1;
  }
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc) {
    ctk_store_errf(err, err_len, "store: %s: fsync: %s", dir, strerror(e));
    return -1;
  }
  return 0;
}

int ctk_store_mkdirs(const char *dir, char *err, size_t err_len) {
  char path[PATH_MAX];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof path) {
    ctk_store_errf(err, err_len, "store: directory name empty or too long: '%s'", dir);
    return -1;
  }
  memcpy(path, dir, n + 1);
  while (n > 1 && path[n - 1] == '/') path[--n] = 0;
  /* Create each missing component from the top down. */
  for (size_t i = 1; i <= n; i++) {
    if (i < n && path[i] != '/') continue;
    char saved = path[i];
    path[i] = 0;
    struct stat sb;
    if (stat(path, &sb) == 0) {
      if (!S_ISDIR(sb.st_mode)) {
        ctk_store_errf(err, err_len, "store: %s: not a directory", path);
        return -1;
      }
    } else if (errno != ENOENT || (mkdir(path, 0755) && errno != EEXIST)) {
      ctk_store_errf(err, err_len, "store: %s: mkdir: %s", path, strerror(errno));
      return -1;
    } else {
      /* The new directory's entry is durable once its parent is synced. */
      char parent[PATH_MAX];
      memcpy(parent, path, i + 1);
      char *slash = strrchr(parent, '/');
      if (slash == parent)
        parent[1] = 0;
      else if (slash)
        *slash = 0;
      else
        strcpy(parent, ".");
      if (ctk_store_sync_dir(parent, err, err_len)) return -1;
    }
    path[i] = saved;
  }
  return 0;
}

void ctk_store_options_default(ctk_store_options *o) {
  memset(o, 0, sizeof *o);
  o->wal_prealloc_bytes = CTK_STORE_WAL_PREALLOC_BYTES;
  o->lmdb_map_bytes = CTK_STORE_LMDB_MAP_BYTES;
}

const char *ctk_store_kind_name(ctk_store_kind kind) {
  switch (kind) {
  case CTK_STORE_WAL: return "wal";
  case CTK_STORE_LMDB: return "lmdb";
  }
  return "?";
}

ctk_store *ctk_store_open_with(const char *dir, ctk_store_kind kind, int sync,
                               const ctk_store_options *o, char *err, size_t err_len) {
  ctk_store_options defaults;
  if (!o) {
    ctk_store_options_default(&defaults);
    o = &defaults;
  }
  const ctk_store_backend *backend = kind == CTK_STORE_WAL    ? &ctk_store_wal_backend
                                     : kind == CTK_STORE_LMDB ? &ctk_store_lmdb_backend
                                                              : NULL;
  if (!backend) {
    ctk_store_errf(err, err_len, "store: unknown kind %d", (int)kind);
    return NULL;
  }
  if (!dir || strlen(dir) >= PATH_MAX - 32) {
    ctk_store_errf(err, err_len, "store: directory name missing or too long");
    return NULL;
  }
  if (ctk_store_mkdirs(dir, err, err_len)) return NULL;
  ctk_store *s = calloc(1, sizeof *s);
  if (!s) {
    ctk_store_errf(err, err_len, "store: %s: out of memory", dir);
    return NULL;
  }
  s->kind = kind;
  s->backend = backend;
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  s->impl = backend->open(dir, sync != 0, o, err, err_len);
  if (!s->impl) {
    free(s);
    return NULL;
  }
  return s;
}

ctk_store *ctk_store_open(const char *dir, ctk_store_kind kind, int sync, char *err,
                          size_t err_len) {
  return ctk_store_open_with(dir, kind, sync, NULL, err, err_len);
}

int ctk_store_read(ctk_store *s, uint8_t **data, size_t *len, char *err, size_t err_len) {
  *data = NULL;
  *len = 0;
  return s->backend->read(s->impl, data, len, err, err_len);
}

static void staged_clear(ctk_store_staged *st) {
  st->len = 0;
  st->n = 0;
  st->replace = 0;
  if (st->cap > STAGED_KEEP_BYTES) {
    free(st->bytes);
    st->bytes = NULL;
    st->cap = 0;
  }
}

/* Makes room for `total` staged bytes and one more chunk, changing nothing else. */
static int staged_reserve(ctk_store *s, size_t total, char *err, size_t err_len) {
  ctk_store_staged *st = &s->staged;
  if (total > CTK_STORE_MAX_STAGED_BYTES) {
    ctk_store_errf(err, err_len,
                   "store: %s: %zu bytes staged since the last sync would exceed the limit of %zu",
                   s->dir, total, CTK_STORE_MAX_STAGED_BYTES);
    return -1;
  }
  if (total > st->cap) {
    size_t cap = st->cap ? st->cap : 4096;
    while (cap < total) cap *= 2;
    uint8_t *bytes = realloc(st->bytes, cap);
    if (!bytes) goto nomem;
    st->bytes = bytes;
    st->cap = cap;
  }
  if (st->n == st->n_cap) {
    size_t n_cap = st->n_cap ? st->n_cap * 2 : 64;
    size_t *ends = realloc(st->ends, n_cap * sizeof *ends);
    if (!ends) goto nomem;
    st->ends = ends;
    st->n_cap = n_cap;
  }
  return 0;
nomem:
  ctk_store_errf(err, err_len, "store: %s: out of memory staging %zu bytes", s->dir, total);
  return -1;
}

/* Adds a chunk; room was reserved. */
static void staged_put(ctk_store_staged *st, const uint8_t *data, size_t len) {
  memcpy(st->bytes + st->len, data, len);
  st->len += len;
  st->ends[st->n++] = st->len;
}

int ctk_store_append(ctk_store *s, const uint8_t *data, size_t len, char *err, size_t err_len) {
  if (len == 0) return 0;
  if (len > CTK_STORE_MAX_STAGED_BYTES - s->staged.len) {
    ctk_store_errf(err, err_len,
                   "store: %s: %zu more bytes staged since the last sync would exceed the limit "
                   "of %zu",
                   s->dir, len, CTK_STORE_MAX_STAGED_BYTES);
    return -1;
  }
  if (staged_reserve(s, s->staged.len + len, err, err_len)) return -1;
  staged_put(&s->staged, data, len);
  return 0;
}

int ctk_store_replace(ctk_store *s, const uint8_t *data, size_t len, char *err, size_t err_len) {
  if (staged_reserve(s, len, err, err_len)) return -1;
  /* Whatever was staged before is superseded. */
  s->staged.len = 0;
  s->staged.n = 0;
  s->staged.replace = 1;
  if (len) staged_put(&s->staged, data, len);
  return 0;
}

static uint64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

int ctk_store_sync(ctk_store *s, char *err, size_t err_len) {
  ctk_store_staged *st = &s->staged;
  if (!st->replace && st->n == 0) return 0;
  uint64_t t0 = now_us();
  if (s->backend->commit(s->impl, st, err, err_len)) return -1;
  s->stats.syncs++;
  s->stats.sync_us_total += now_us() - t0;
  s->stats.replaces += (uint64_t)st->replace;
  /* With a replace, the first chunk is the replacement, not an append. */
  size_t replaced = st->replace && st->n ? st->ends[0] : 0;
  s->stats.bytes_appended += st->len - replaced;
  staged_clear(st);
  return 0;
}

void ctk_store_stats_get(const ctk_store *s, ctk_store_stats *stats) { *stats = s->stats; }

void ctk_store_close(ctk_store **s_p) {
  if (!s_p || !*s_p) return;
  ctk_store *s = *s_p;
  s->backend->close(s->impl);
  free(s->staged.bytes);
  free(s->staged.ends);
  free(s);
  *s_p = NULL;
}
