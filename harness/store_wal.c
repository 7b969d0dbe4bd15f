/* store_wal.c: the WAL backend of store.h: the durable bytes as an append-only log of
 * CRC-framed records in DIR/wal.log, one record per appended chunk.
 *
 *   record = len u32, back u32, crc32c(body) u32, crc32c(the 12 bytes before) u32, body
 *
 * all big-endian; len >= 1. `back` is the record's distance from the start of its group commit
 * (the bytes one sync wrote), so recovery can tell which records were written together.
 *
 * A sync writes the staged records with one pwritev at the log's end and one fdatasync. A replace
 * writes DIR/wal.log.tmp, fdatasyncs it, renames it over the log and fsyncs the directory; the
 * replaced log is closed by a thread of its own, as closing the last descriptor of an unlinked
 * file frees its blocks and pages there and then (5 ms for a few megabytes here, for every
 * snapshot a protocol takes).
 * The file is extended by fallocate in steps of wal_prealloc_bytes, so that most syncs write
 * inside the file's size and fdatasync has no size change to commit (bench_disk measures it);
 * the log therefore ends at its last good record, not at the file's size.
 *
 * Recovery at open walks the good records from the start. Where they stop:
 * - only zeros to the end of the file: preallocated space (or a torn tail that was never
 *   written); the log ends there.
 * - anything else is a torn tail, cut off (and the truncation synced), when every good record
 *   after it belongs to the same group commit (its `back` reaches back to or before the damage):
 *   a crash loses an unsynced group commit in pieces, as writeback order is arbitrary.
 * - a good record after the damage that was written by a later group commit means the damage
 *   hit bytes that were synced: corruption, reported by ctk_store_read. Only a replace can be
 *   synced then (it does not need the old log).
 * Damage confined to the last group commit cannot be told from a torn write and is dropped.
 * The header has its own CRC so that a damaged length cannot pass for a torn tail and swallow
 * the records after it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/wire.h"
#include "store_internal.h"

#define WAL_FILE     "wal.log"
#define WAL_TMP_FILE "wal.log.tmp"
#define HDR_BYTES    16u

typedef struct wal {
  char dir[PATH_MAX], path[PATH_MAX], tmp_path[PATH_MAX];
  int dir_fd; /* flock'ed: one process at a time; fsync'ed after a rename */
  int fd;
  int sync;
  uint64_t end;       /* the log's end: every byte before it belongs to a good record */
  uint64_t alloc_end; /* space allocated so far (the file's size, unless keep_size) */
  size_t prealloc;    /* fallocate step; 0 when off or unsupported */
  int keep_size;
  int tail_dirty; /* a failed write may have left bytes past end: cut them before writing */
  int corrupt;
  char corrupt_msg[PATH_MAX + 128];
  uint8_t *frame; /* the records of one sync */
  size_t frame_cap;
} wal;

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off) {
  while (n) {
    ssize_t k = pread(fd, p, n, (off_t)off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -1;
    if (k == 0) {
      errno = ENODATA; /* the file shrank under us */
      return -1;
    }
    p += k, n -= (size_t)k, off += (uint64_t)k;
  }
  return 0;
}

/* Header checks of the record at p of buf[0..size): 1 when the header is whole and its CRC
 * holds (then *len and *back are set), else 0. */
static int header_at(const uint8_t *buf, uint64_t size, uint64_t p, uint32_t *len, uint32_t *back) {
  if (size - p < HDR_BYTES) return 0;
  const uint8_t *h = buf + p;
  *len = get_u32(h);
  if (*len == 0) return 0; /* fast rejection of zeros */
  if (wire_crc32c(h, 12) != get_u32(h + 12)) return 0;
  *back = get_u32(h + 4);
  return 1;
}

/* 1 when a whole, good record starts at p (its total length in *total, its group commit's
 * start in *batch). */
static int record_at(const uint8_t *buf, uint64_t size, uint64_t p, uint64_t *total,
                     uint64_t *batch) {
  uint32_t len, back;
  if (!header_at(buf, size, p, &len, &back)) return 0;
  if (back > p || len > size - p - HDR_BYTES) return 0;
  if (wire_crc32c(buf + p + HDR_BYTES, len) != get_u32(buf + p + 8)) return 0;
  *total = HDR_BYTES + (uint64_t)len;
  *batch = p - back;
  return 1;
}

/* The recovery rules of the file comment, over the whole file buf[0..size). Sets *end to the
 * end of the good records and *dirty when non-zero bytes follow it; returns -1 (and the offset
 * of the damage in *end) when the damage is corruption. */
static int scan(const uint8_t *buf, uint64_t size, uint64_t *end, int *dirty) {
  uint64_t p = 0, total, batch;
  while (p < size && record_at(buf, size, p, &total, &batch)) p += total;
  *end = p;
  *dirty = 0;
  uint64_t q = p;
  while (q < size && buf[q] == 0) q++;
  if (q == size) return 0;
  *dirty = 1;
  /* Where to look for good records after the damage: past the damaged record when its header
   * (and so its length) can be trusted, else at every offset. */
  uint32_t len, back;
  q = p + 1;
  if (header_at(buf, size, p, &len, &back)) q = p + HDR_BYTES + (uint64_t)len;
  while (q < size) {
    if (!record_at(buf, size, q, &total, &batch)) {
      q++;
      continue;
    }
    if (batch > p) return -1; /* written by a later group commit */
    q += total;
  }
  return 0;
}

/* Cuts the file back to the log's end after a failed write. */
static void cut_back(wal *w) {
  if (ftruncate(w->fd, (off_t)w->end) == 0) {
    w->tail_dirty = 0;
    w->alloc_end = w->end;
  } else {
    w->tail_dirty = 1;
  }
}

static void wal_close(void *impl) {
  wal *w = impl;
  if (!w) return;
  if (w->fd >= 0) close(w->fd);
  if (w->dir_fd >= 0) close(w->dir_fd); /* releases the flock */
  free(w->frame);
  free(w);
}

/* Reads the whole file, applies the recovery rules, cuts a torn tail. */
static int recover(wal *w, char *err, size_t err_len) {
  struct stat sb;
  if (fstat(w->fd, &sb)) {
    ctk_store_errf(err, err_len, "store: %s: fstat: %s", w->path, strerror(errno));
    return -1;
  }
  uint64_t size = (uint64_t)sb.st_size;
  if (size > SIZE_MAX) {
    ctk_store_errf(err, err_len, "store: %s: too large to read (%llu bytes)", w->path,
                   (unsigned long long)size);
    return -1;
  }
  uint8_t *buf = size ? malloc((size_t)size) : NULL;
  if (size && !buf) {
    ctk_store_errf(err, err_len, "store: %s: out of memory reading %llu bytes", w->path,
                   (unsigned long long)size);
    return -1;
  }
  if (pread_all(w->fd, buf, (size_t)size, 0)) {
    ctk_store_errf(err, err_len, "store: %s: read: %s", w->path, strerror(errno));
    free(buf);
    return -1;
  }
  uint64_t end;
  int dirty;
  int rc = scan(buf, size, &end, &dirty);
  free(buf);
  w->end = end;
  w->alloc_end = size;
  if (rc) {
    w->corrupt = 1;
    ctk_store_errf(w->corrupt_msg, sizeof w->corrupt_msg,
                   "store: %s: corrupt record at offset %llu (records synced later follow it)",
                   w->path, (unsigned long long)end);
    return 0;
  }
  if (!dirty) return 0;
  if (ftruncate(w->fd, (off_t)end) || (w->sync && fdatasync(w->fd))) {
    ctk_store_errf(err, err_len, "store: %s: cutting the torn tail at %llu: %s", w->path,
                   (unsigned long long)end, strerror(errno));
    return -1;
  }
  w->alloc_end = end;
  return 0;
}

static void *wal_open(const char *dir, int sync, const ctk_store_options *o, char *err,
                      size_t err_len) {
  wal *w = calloc(1, sizeof *w);
  if (!w) {
    ctk_store_errf(err, err_len, "store: %s: out of memory", dir);
    return NULL;
  }
  w->fd = w->dir_fd = -1;
  w->sync = sync;
  w->prealloc = o->wal_prealloc_bytes;
  w->keep_size = o->wal_prealloc_keep_size;
  snprintf(w->dir, sizeof w->dir, "%s", dir);
  snprintf(w->path, sizeof w->path, "%s/%s", dir, WAL_FILE);
  snprintf(w->tmp_path, sizeof w->tmp_path, "%s/%s", dir, WAL_TMP_FILE);
  w->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w->dir_fd < 0) {
    ctk_store_errf(err, err_len, "store: %s: open: %s", dir, strerror(errno));
    goto fail;
  }
  if (flock(w->dir_fd, LOCK_EX | LOCK_NB)) {
    ctk_store_errf(err, err_len, "store: %s: flock: %s (is another process using it?)", dir,
                   strerror(errno));
    goto fail;
  }
  /* A crash during a replace may leave its temporary file; the log itself is intact. */
  if (unlink(w->tmp_path) && errno != ENOENT) {
    ctk_store_errf(err, err_len, "store: %s: unlink: %s", w->tmp_path, strerror(errno));
    goto fail;
  }
  w->fd = open(w->path, O_RDWR | O_CLOEXEC);
  if (w->fd < 0 && errno == ENOENT) {
    w->fd = open(w->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd >= 0 && sync && fsync(w->dir_fd)) {
      ctk_store_errf(err, err_len, "store: %s: fsync: %s", dir, strerror(errno));
      goto fail;
    }
  }
  if (w->fd < 0) {
    ctk_store_errf(err, err_len, "store: %s: open: %s", w->path, strerror(errno));
    goto fail;
  }
  if (recover(w, err, err_len)) goto fail;
  return w;
fail:
  wal_close(w);
  return NULL;
}

static int wal_read(void *impl, uint8_t **data, size_t *len, char *err, size_t err_len) {
  wal *w = impl;
  if (w->corrupt) {
    ctk_store_errf(err, err_len, "%s", w->corrupt_msg);
    return -1;
  }
  if (w->end == 0) return 0;
  if (w->end > SIZE_MAX) {
    ctk_store_errf(err, err_len, "store: %s: too large to read", w->path);
    return -1;
  }
  uint8_t *buf = malloc((size_t)w->end);
  if (!buf) {
    ctk_store_errf(err, err_len, "store: %s: out of memory reading %llu bytes", w->path,
                   (unsigned long long)w->end);
    return -1;
  }
  if (pread_all(w->fd, buf, (size_t)w->end, 0)) {
    ctk_store_errf(err, err_len, "store: %s: read: %s", w->path, strerror(errno));
    free(buf);
    return -1;
  }
  /* Every record was checked at open or written by us; check again (the file may have been
   * damaged since), and move the bodies together in place. */
  uint64_t p = 0, total, batch;
  size_t out = 0;
  while (p < w->end) {
    if (!record_at(buf, w->end, p, &total, &batch)) {
      ctk_store_errf(err, err_len, "store: %s: corrupt record at offset %llu", w->path,
                     (unsigned long long)p);
      free(buf);
      return -1;
    }
    memmove(buf + out, buf + p + HDR_BYTES, (size_t)total - HDR_BYTES);
    out += (size_t)total - HDR_BYTES;
    p += total;
  }
  if (out == 0) {
    free(buf);
    return 0;
  }
  uint8_t *shrunk = realloc(buf, out);
  *data = shrunk ? shrunk : buf;
  *len = out;
  return 0;
}

/* A chunk at least this long is written from the staged bytes where they are (pwritev) rather
 * than copied next to its header: a snapshot of several megabytes is copied once less. */
#define WAL_DIRECT_BYTES ((size_t)64 << 10)
#define WAL_MAX_IOV      64

/* The records of one sync as pieces to write in order: w->frame holds the headers and the
 * bodies of small chunks; large bodies are written from st. */
typedef struct wal_pieces {
  struct iovec iov[WAL_MAX_IOV];
  int n;
  size_t total;
} wal_pieces;

static void piece(wal_pieces *p, const uint8_t *base, size_t len) {
  if (!len) return;
  if (p->n && (const uint8_t *)p->iov[p->n - 1].iov_base + p->iov[p->n - 1].iov_len == base)
    p->iov[p->n - 1].iov_len += len; /* contiguous with the last piece */
  else
    p->iov[p->n++] = (struct iovec){(void *)base, len};
  p->total += len;
}

/* Frames the staged chunks: headers (and small bodies) into w->frame, the pieces to write into
 * *out. Returns the records' total length, or 0 with err. */
static size_t frame(wal *w, const ctk_store_staged *st, wal_pieces *out, char *err,
                    size_t err_len) {
  uint64_t need = (uint64_t)st->len + (uint64_t)st->n * HDR_BYTES, copied = 0;
  size_t direct = 0;
  for (size_t i = 0; i < st->n; i++) {
    size_t len = st->ends[i] - ctk_store_chunk_start(st, i);
    if (len >= WAL_DIRECT_BYTES && direct < (WAL_MAX_IOV - 1) / 2) {
      direct++;
      continue;
    }
    copied += len;
  }
  if (need > UINT32_MAX) {
    ctk_store_errf(err, err_len, "store: %s: %zu chunks of %zu bytes in one sync: too many",
                   w->path, st->n, st->len);
    return 0;
  }
  uint64_t frame_need = copied + (uint64_t)st->n * HDR_BYTES;
  if (frame_need > w->frame_cap) {
    uint8_t *f = realloc(w->frame, (size_t)frame_need);
    if (!f) {
      ctk_store_errf(err, err_len, "store: %s: out of memory framing %llu bytes", w->path,
                     (unsigned long long)frame_need);
      return 0;
    }
    w->frame = f;
    w->frame_cap = (size_t)frame_need;
  }
  out->n = 0;
  out->total = 0;
  size_t pos = 0, f = 0; /* pos: in the records written; f: in w->frame */
  direct = 0;
  for (size_t i = 0; i < st->n; i++) {
    size_t start = ctk_store_chunk_start(st, i), len = st->ends[i] - start;
    uint8_t *h = w->frame + f;
    put_u32(h, (uint32_t)len);
    put_u32(h + 4, (uint32_t)pos);
    put_u32(h + 8, wire_crc32c(st->bytes + start, len));
    put_u32(h + 12, wire_crc32c(h, 12));
    f += HDR_BYTES;
    if (len >= WAL_DIRECT_BYTES && direct < (WAL_MAX_IOV - 1) / 2) {
      direct++;
      piece(out, h, HDR_BYTES);
      piece(out, st->bytes + start, len);
    } else {
      memcpy(w->frame + f, st->bytes + start, len);
      f += len;
      piece(out, h, HDR_BYTES + len);
    }
    pos += HDR_BYTES + len;
  }
  return pos;
}

static int pwritev_all(int fd, wal_pieces *p, uint64_t off) {
  struct iovec *iov = p->iov;
  int n = p->n;
  while (n) {
    ssize_t k = pwritev(fd, iov, n, (off_t)off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -1;
    if (k == 0) {
      errno = EIO;
      return -1;
    }
    off += (uint64_t)k;
    while (n && (size_t)k >= iov->iov_len) {
      k -= (ssize_t)iov->iov_len;
      iov++, n--;
    }
    if (n) {
      iov->iov_base = (uint8_t *)iov->iov_base + k;
      iov->iov_len -= (size_t)k;
    }
  }
  return 0;
}

/* Extends the file's allocation to cover `need` bytes, in steps of w->prealloc. Failure is not
 * an error: the write that follows reports a real shortage of space. */
static void preallocate(wal *w, uint64_t need) {
  uint64_t target = (need + w->prealloc - 1) / w->prealloc * w->prealloc;
  int mode = w->keep_size ? FALLOC_FL_KEEP_SIZE : 0;
  if (fallocate(w->fd, mode, (off_t)w->alloc_end, (off_t)(target - w->alloc_end)) == 0)
    w->alloc_end = target;
  else if (errno == EOPNOTSUPP || errno == ENOSYS)
    w->prealloc = 0;
}

static int commit_append(wal *w, const ctk_store_staged *st, char *err, size_t err_len) {
  if (w->corrupt) {
    ctk_store_errf(err, err_len, "%s; only a replace can be synced", w->corrupt_msg);
    return -1;
  }
  if (w->tail_dirty) {
    cut_back(w);
    if (w->tail_dirty) {
      ctk_store_errf(err, err_len, "store: %s: ftruncate: %s", w->path, strerror(errno));
      return -1;
    }
  }
  wal_pieces pieces;
  size_t n = frame(w, st, &pieces, err, err_len);
  if (!n) return -1;
  if (w->prealloc && w->end + n > w->alloc_end) preallocate(w, w->end + n);
  const char *what = "write";
  if (pwritev_all(w->fd, &pieces, w->end)) goto fail;
  what = "fdatasync";
  if (w->sync && fdatasync(w->fd)) goto fail;
  w->end += n;
  if (w->alloc_end < w->end) w->alloc_end = w->end;
  return 0;
fail:;
  int e = errno;
  cut_back(w);
  ctk_store_errf(err, err_len, "store: %s: %s of %zu bytes at %llu: %s", w->path, what, n,
                 (unsigned long long)w->end, strerror(e));
  return -1;
}

static void *close_fd(void *arg) {
  close((int)(intptr_t)arg);
  return NULL;
}

/* Closes fd without waiting (or at once, if no thread can be started). */
static void close_in_background(int fd) {
  pthread_attr_t attr;
  pthread_t thread;
  int started = 0;
  if (pthread_attr_init(&attr) == 0) {
    started = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
              pthread_create(&thread, &attr, close_fd, (void *)(intptr_t)fd) == 0;
    pthread_attr_destroy(&attr);
  }
  if (!started) close(fd);
}

static int commit_replace(wal *w, const ctk_store_staged *st, char *err, size_t err_len) {
  size_t n = 0;
  wal_pieces pieces = {.n = 0};
  if (st->n && !(n = frame(w, st, &pieces, err, err_len))) return -1;
  int fd = open(w->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    ctk_store_errf(err, err_len, "store: %s: open: %s", w->tmp_path, strerror(errno));
    return -1;
  }
  const char *what = "write";
  if (pwritev_all(fd, &pieces, 0)) goto fail;
  what = "fdatasync";
  if (w->sync && fdatasync(fd)) goto fail;
  what = "rename";
  if (rename(w->tmp_path, w->path)) goto fail;
  /* The new log is in place: switch to it, even if syncing the directory fails below. */
  close_in_background(w->fd);
  w->fd = fd;
  w->end = w->alloc_end = n;
  w->corrupt = w->tail_dirty = 0;
  if (w->sync && fsync(w->dir_fd)) {
    ctk_store_errf(err, err_len, "store: %s: fsync after rename: %s", w->dir, strerror(errno));
    return -1;
  }
  return 0;
fail:;
  int e = errno;
  close(fd);
  unlink(w->tmp_path);
  ctk_store_errf(err, err_len, "store: %s: %s of %zu bytes: %s", w->tmp_path, what, n, strerror(e));
  return -1;
}

static int wal_commit(void *impl, const ctk_store_staged *st, char *err, size_t err_len) {
  wal *w = impl;
  return st->replace ? commit_replace(w, st, err, err_len) : commit_append(w, st, err, err_len);
}

const ctk_store_backend ctk_store_wal_backend = {
    .open = wal_open, .read = wal_read, .commit = wal_commit, .close = wal_close};
