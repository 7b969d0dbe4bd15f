/* bench_disk.c: the cost of a durable append on this machine's disk, and what the store
 * (harness/store.h) adds to it. Baseline, measured in the same run: write() of 64 bytes at the end
 * of a file, then fdatasync. Next to it, as ratios: pwrite into space fallocate'd beforehand
 * (with and without FALLOC_FL_KEEP_SIZE), ctk_store append(64 B) + sync for the WAL (with and
 * without its preallocation) and LMDB, and group commit: 64 appends then one sync, per append.
 * The variants run interleaved in rounds so drift on a shared machine hits them all alike.
 * Files go to a temporary directory under build/ (or argv[1]): the disk the build lives on,
 * not /tmp, which may be a tmpfs; the file system's type is printed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#include "store.h"
#include "store_internal.h"

enum { ROUNDS = 4, PER_ROUND = 500, GROUP = 64, GROUPS_PER_ROUND = 100, REC = 64 };

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void die(const char *what, const char *detail) {
  fprintf(stderr, "bench_disk: %s: %s\n", what, detail);
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* One variant: a name, its samples (µs), and its state. */
typedef struct variant {
  const char *name;
  int group; /* samples are per append of a group commit of GROUP appends */
  int raw;   /* 0: a store; 1..: a raw file mode */
  ctk_store *store;
  int fd;
  off_t off, alloc;
  double *samples;
  int n;
  double median, p99;
} variant;

enum { RAW_APPEND = 1, RAW_FALLOC, RAW_FALLOC_KEEP, RAW_GROUP_WRITES, RAW_GROUP_ONE_WRITE };

static char dir[4096];
static const uint8_t payload[REC * GROUP];

static void raw_open(variant *v, const char *name) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  v->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (v->fd < 0) die(path, strerror(errno));
  if (v->raw == RAW_FALLOC || v->raw == RAW_FALLOC_KEEP) {
    int mode = v->raw == RAW_FALLOC_KEEP ? FALLOC_FL_KEEP_SIZE : 0;
    if (fallocate(v->fd, mode, 0, 4 << 20)) die("fallocate", strerror(errno));
    v->alloc = 4 << 20;
  }
  if (fsync(v->fd)) die("fsync", strerror(errno));
}

static void store_open(variant *v, const char *name, ctk_store_kind kind, int sync, size_t prealloc,
                       int keep) {
  char path[4200], err[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  ctk_store_options o;
  ctk_store_options_default(&o);
  o.wal_prealloc_bytes = prealloc;
  o.wal_prealloc_keep_size = keep;
  v->store = ctk_store_open_with(path, kind, sync, &o, err, sizeof err);
  if (!v->store) die("open", err);
}

static void raw_write(variant *v, const uint8_t *p, size_t n) {
  if (pwrite(v->fd, p, n, v->off) != (ssize_t)n) die("pwrite", strerror(errno));
  v->off += (off_t)n;
}

/* One timed operation of v: one append + sync, or one group of GROUP appends + sync. */
static double run_once(variant *v) {
  char err[512];
  int appends = v->group ? GROUP : 1;
  double t0 = now_us();
  if (v->raw) {
    if (v->raw == RAW_GROUP_ONE_WRITE) {
      raw_write(v, payload, (size_t)REC * GROUP);
    } else {
      for (int i = 0; i < appends; i++) raw_write(v, payload, REC);
    }
    if (fdatasync(v->fd)) die("fdatasync", strerror(errno));
  } else {
    for (int i = 0; i < appends; i++)
      if (ctk_store_append(v->store, payload, REC, err, sizeof err)) die("append", err);
    if (ctk_store_sync(v->store, err, sizeof err)) die("sync", err);
  }
  return (now_us() - t0) / appends;
}

static void summarize(variant *v) {
  qsort(v->samples, (size_t)v->n, sizeof *v->samples, cmp_double);
  v->median = v->samples[v->n / 2];
  v->p99 = v->samples[v->n * 99 / 100];
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static const char *fs_name(long type) {
  switch (type) {
  case 0xEF53: return "ext2/3/4";
  case 0x01021994: return "tmpfs";
  case 0x58465342: return "xfs";
  case 0x9123683E: return "btrfs";
  case 0x794C7630: return "overlayfs";
  default: return "other";
  }
}

int main(int argc, char **argv) {
  struct stat sb;
  const char *parent = argc > 1 ? argv[1] : (stat("build", &sb) == 0 ? "build" : ".");
  snprintf(dir, sizeof dir, "%s/bench_disk.XXXXXX", parent);
  if (!mkdtemp(dir)) die(dir, strerror(errno));
  struct statfs fs;
  if (statfs(dir, &fs)) die(dir, strerror(errno));
  printf("disk: files in %s (%s%s)\n", dir, fs_name((long)fs.f_type),
         fs.f_type == 0x01021994 ? ": memory, not a disk; pass a directory on a disk" : "");

  variant v[] = {
      {.name = "write(64 B append) + fdatasync [baseline]", .raw = RAW_APPEND},
      {.name = "pwrite into fallocate'd space + fdatasync", .raw = RAW_FALLOC},
      {.name = "pwrite, fallocate KEEP_SIZE + fdatasync", .raw = RAW_FALLOC_KEEP},
      {.name = "wal append + sync (prealloc 4 MiB)"},
      {.name = "wal append + sync (no prealloc)"},
      {.name = "wal append + sync (prealloc KEEP_SIZE)"},
      {.name = "lmdb append + sync"},
      {.name = "wal append + sync, sync=0"},
      {.name = "lmdb append + sync, sync=0"},
      {.name = "group of 64: 64 x write + fdatasync", .group = 1, .raw = RAW_GROUP_WRITES},
      {.name = "group of 64: one write + fdatasync", .group = 1, .raw = RAW_GROUP_ONE_WRITE},
      {.name = "group of 64: wal 64 x append + sync", .group = 1},
      {.name = "group of 64: lmdb 64 x append + sync", .group = 1},
  };
  enum { NV = sizeof v / sizeof v[0] };
  for (int i = 0; i < NV; i++) {
    char name[32];
    snprintf(name, sizeof name, "v%d", i);
    if (v[i].raw) raw_open(&v[i], name);
    v[i].samples = calloc(ROUNDS * PER_ROUND, sizeof *v[i].samples);
    if (!v[i].samples) die("calloc", "out of memory");
  }
  store_open(&v[3], "wal", CTK_STORE_WAL, 1, CTK_STORE_WAL_PREALLOC_BYTES, 0);
  store_open(&v[4], "wal-noprealloc", CTK_STORE_WAL, 1, 0, 0);
  store_open(&v[5], "wal-keepsize", CTK_STORE_WAL, 1, CTK_STORE_WAL_PREALLOC_BYTES, 1);
  store_open(&v[6], "lmdb", CTK_STORE_LMDB, 1, 0, 0);
  store_open(&v[7], "wal-nosync", CTK_STORE_WAL, 0, CTK_STORE_WAL_PREALLOC_BYTES, 0);
  store_open(&v[8], "lmdb-nosync", CTK_STORE_LMDB, 0, 0, 0);
  store_open(&v[11], "wal-group", CTK_STORE_WAL, 1, CTK_STORE_WAL_PREALLOC_BYTES, 0);
  store_open(&v[12], "lmdb-group", CTK_STORE_LMDB, 1, 0, 0);

  /* Warm up every variant once, then interleave rounds. */
  for (int i = 0; i < NV; i++)
    for (int k = 0; k < 20; k++) run_once(&v[i]);
  for (int r = 0; r < ROUNDS; r++)
    for (int i = 0; i < NV; i++) {
      int n = v[i].group ? GROUPS_PER_ROUND : PER_ROUND;
      for (int k = 0; k < n; k++) v[i].samples[v[i].n++] = run_once(&v[i]);
    }
  for (int i = 0; i < NV; i++) summarize(&v[i]);

  const variant *base = &v[0];
  for (int i = 0; i < NV; i++) {
    if (i == 9) printf("disk: group commit, cost per append (64 appends of 64 B, one sync):\n");
    printf("disk: %-44s median %7.1f us", v[i].name, v[i].median);
    if (i) printf(" (%5.2fx)", v[i].median / base->median);
    printf("  p99 %7.1f us", v[i].p99);
    if (i) printf(" (%5.2fx)", v[i].p99 / base->p99);
    printf("  n=%d\n", v[i].n);
  }
  ctk_store_stats st;
  ctk_store_stats_get(v[11].store, &st);
  printf(
      "disk: (ratios are to the baseline's median and p99; wal group: %llu syncs, %.1f us "
      "each on average)\n",
      (unsigned long long)st.syncs, st.syncs ? (double)st.sync_us_total / (double)st.syncs : 0);
  printf("disk_fdatasync_median_us %.1f\n", base->median);
  printf("disk_fdatasync_p99_us %.1f\n", base->p99);
  printf("store_wal_sync_median_us %.1f\n", v[3].median);
  printf("store_lmdb_sync_median_us %.1f\n", v[6].median);

  for (int i = 0; i < NV; i++) {
    if (v[i].raw) close(v[i].fd);
    if (v[i].store) ctk_store_close(&v[i].store);
    free(v[i].samples);
  }
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
