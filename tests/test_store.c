/* test_store.c: a node's durable bytes (harness/store.h), for both backends: round trips across
 * reopen, replace, the empty store, torn tails and corruption, sync=0, SIGKILL at random moments
 * (every acknowledged sync survives) and a full disk (RLIMIT_FSIZE: errors, not crashes, and
 * nothing synced is lost). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "tmpdir.h"

typedef struct fixture {
  ctk_store_kind kind;
  char root[128];           /* tmpdir_make's, removed at teardown */
  char dir[PATH_MAX];       /* the store's directory, inside root (created by ctk_store_open) */
  char file[PATH_MAX + 16]; /* the backend's data file */
} fixture;

static const ctk_store_kind kinds[2] = {CTK_STORE_WAL, CTK_STORE_LMDB};

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  f->kind = *(const ctk_store_kind *)*state;
  if (tmpdir_make(f->root, sizeof f->root) != 0) return -1;
  snprintf(f->dir, sizeof f->dir, "%s/node0/store", f->root);
  snprintf(f->file, sizeof f->file, "%s/%s", f->dir,
           f->kind == CTK_STORE_WAL ? "wal.log" : "data.mdb");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  tmpdir_remove(f->root);
  free(f);
  return 0;
}

static ctk_store *open_store(const fixture *f, int sync) {
  char err[512] = "";
  ctk_store *s = ctk_store_open(f->dir, f->kind, sync, err, sizeof err);
  if (!s) fail_msg("ctk_store_open: %s", err);
  return s;
}

static void append(ctk_store *s, const void *data, size_t len) {
  char err[512] = "";
  if (ctk_store_append(s, data, len, err, sizeof err)) fail_msg("append: %s", err);
}

static void sync_ok(ctk_store *s) {
  char err[512] = "";
  if (ctk_store_sync(s, err, sizeof err)) fail_msg("sync: %s", err);
}

/* Reads the store and compares with want. */
static void expect_bytes(ctk_store *s, const void *want, size_t want_len) {
  char err[512] = "";
  uint8_t *data = (uint8_t *)1;
  size_t len = 99;
  if (ctk_store_read(s, &data, &len, err, sizeof err)) fail_msg("read: %s", err);
  assert_int_equal(len, want_len);
  if (len == 0) assert_null(data);
  if (len) assert_memory_equal(data, want, len);
  free(data);
}

static void expect_reopened(const fixture *f, const void *want, size_t want_len) {
  ctk_store *s = open_store(f, 1);
  expect_bytes(s, want, want_len);
  ctk_store_close(&s);
  assert_null(s);
}

static off_t file_size(const char *path) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return sb.st_size;
}

/* ---- numbered records, self-checking: u64 number, then 24 or more bytes derived from it ---- */

#define REC_BYTES 32

static void rec_make(uint8_t *r, uint64_t n, size_t len) {
  for (int i = 0; i < 8; i++) r[i] = (uint8_t)(n >> (56 - 8 * i));
  for (size_t i = 8; i < len; i++) r[i] = (uint8_t)(n * 31 + i * 7 + 1);
}

static int rec_check(const uint8_t *r, size_t len, uint64_t *n) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | r[i];
  uint8_t want[4096];
  rec_make(want, v, len);
  *n = v;
  return memcmp(r, want, len) == 0;
}

/* ---- the basics ---- */

static void test_round_trip(void **state) {
  fixture *f = *state;
  ctk_store *s = open_store(f, 1);
  expect_bytes(s, NULL, 0);
  append(s, "hello", 5);
  append(s, " world", 6);
  expect_bytes(s, NULL, 0); /* staged, not synced */
  sync_ok(s);
  expect_bytes(s, "hello world", 11);
  ctk_store_stats st;
  ctk_store_stats_get(s, &st);
  assert_int_equal(st.syncs, 1);
  assert_int_equal(st.bytes_appended, 11);
  assert_int_equal(st.replaces, 0);
  sync_ok(s); /* nothing staged: no sync */
  ctk_store_stats_get(s, &st);
  assert_int_equal(st.syncs, 1);
  assert_string_equal(ctk_store_kind_name(f->kind), f->kind == CTK_STORE_WAL ? "wal" : "lmdb");
  ctk_store_close(&s);
  assert_null(s);
  ctk_store_close(&s); /* NULL is fine */
  expect_reopened(f, "hello world", 11);
}

static void test_appends_then_reopen(void **state) {
  fixture *f = *state;
  static uint8_t want[64 * 1024];
  size_t want_len = 0;
  for (int round = 0; round < 3; round++) {
    ctk_store *s = open_store(f, 1);
    for (int i = 0; i < 60; i++) {
      size_t len = 1 + (size_t)(i * 37 + round * 11) % 300;
      uint8_t chunk[300];
      for (size_t j = 0; j < len; j++) chunk[j] = (uint8_t)(i + j * 3 + round);
      append(s, chunk, len);
      memcpy(want + want_len, chunk, len);
      want_len += len;
      if (i % 7 == 6) sync_ok(s);
    }
    sync_ok(s);
    append(s, "lost", 4); /* never synced: dropped at close */
    ctk_store_close(&s);
    expect_reopened(f, want, want_len);
  }
  /* One large chunk (several pages for LMDB). */
  ctk_store *s = open_store(f, 1);
  static uint8_t big[200000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 13);
  append(s, big, sizeof big);
  sync_ok(s);
  ctk_store_close(&s);
  s = open_store(f, 1);
  uint8_t *data;
  size_t len;
  char err[512];
  assert_int_equal(ctk_store_read(s, &data, &len, err, sizeof err), 0);
  assert_int_equal(len, want_len + sizeof big);
  assert_memory_equal(data, want, want_len);
  assert_memory_equal(data + want_len, big, sizeof big);
  free(data);
  ctk_store_close(&s);
}

static void test_replace_then_append(void **state) {
  fixture *f = *state;
  ctk_store *s = open_store(f, 1);
  append(s, "old old old", 11);
  sync_ok(s);
  char err[512];
  assert_int_equal(ctk_store_replace(s, (const uint8_t *)"NEW", 3, err, sizeof err), 0);
  append(s, "+a", 2);
  expect_bytes(s, "old old old", 11); /* staged only */
  sync_ok(s);
  append(s, "+b", 2);
  sync_ok(s);
  expect_bytes(s, "NEW+a+b", 7);
  ctk_store_stats st;
  ctk_store_stats_get(s, &st);
  assert_int_equal(st.replaces, 1);
  assert_int_equal(st.bytes_appended, 11 + 2 + 2);
  ctk_store_close(&s);
  expect_reopened(f, "NEW+a+b", 7);

  /* Staged appends before a replace are superseded by it. */
  s = open_store(f, 1);
  append(s, "gone", 4);
  assert_int_equal(ctk_store_replace(s, (const uint8_t *)"R2", 2, err, sizeof err), 0);
  append(s, "+c", 2);
  sync_ok(s);
  ctk_store_close(&s);
  expect_reopened(f, "R2+c", 4);

  /* A replace with nothing empties the store; appends go on after it. */
  s = open_store(f, 1);
  assert_int_equal(ctk_store_replace(s, NULL, 0, err, sizeof err), 0);
  sync_ok(s);
  expect_bytes(s, NULL, 0);
  ctk_store_close(&s);
  expect_reopened(f, NULL, 0);
  s = open_store(f, 1);
  append(s, "after", 5);
  sync_ok(s);
  ctk_store_close(&s);
  expect_reopened(f, "after", 5);
}

static void test_empty_store(void **state) {
  fixture *f = *state;
  ctk_store *s = open_store(f, 1);
  expect_bytes(s, NULL, 0);
  append(s, NULL, 0); /* nothing */
  sync_ok(s);
  ctk_store_stats st;
  ctk_store_stats_get(s, &st);
  assert_int_equal(st.syncs, 0);
  ctk_store_close(&s);
  expect_reopened(f, NULL, 0);
  expect_reopened(f, NULL, 0);
}

static void test_nosync_reads_back(void **state) {
  fixture *f = *state;
  ctk_store *s = open_store(f, 0);
  for (int i = 0; i < 100; i++) {
    uint8_t r[REC_BYTES];
    rec_make(r, (uint64_t)i, sizeof r);
    append(s, r, sizeof r);
    if (i % 10 == 9) sync_ok(s);
  }
  char err[512];
  uint8_t r[REC_BYTES];
  rec_make(r, 1000, sizeof r);
  assert_int_equal(ctk_store_replace(s, r, sizeof r, err, sizeof err), 0);
  sync_ok(s);
  rec_make(r, 1001, sizeof r);
  append(s, r, sizeof r);
  sync_ok(s);
  ctk_store_close(&s);
  uint8_t want[2 * REC_BYTES];
  rec_make(want, 1000, REC_BYTES);
  rec_make(want + REC_BYTES, 1001, REC_BYTES);
  s = open_store(f, 0);
  expect_bytes(s, want, sizeof want);
  ctk_store_close(&s);
  expect_reopened(f, want, sizeof want);
}

static void test_open_errors(void **state) {
  fixture *f = *state;
  char err[512] = "";
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/plain-file", f->root);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fclose(fp);
  assert_null(ctk_store_open(path, f->kind, 1, err, sizeof err));
  assert_non_null(strstr(err, path));
  char below[PATH_MAX + 8];
  snprintf(below, sizeof below, "%s/x", path);
  err[0] = 0;
  assert_null(ctk_store_open(below, f->kind, 1, err, sizeof err));
  assert_non_null(strstr(err, path));
  if (f->kind == CTK_STORE_WAL) {
    /* One process at a time (LMDB has its own locking). */
    ctk_store *s = open_store(f, 1);
    err[0] = 0;
    ctk_store *t = ctk_store_open(f->dir, f->kind, 1, err, sizeof err);
    if (t) fail_msg("a second open of the same WAL succeeded");
    assert_non_null(strstr(err, f->dir));
    ctk_store_close(&s);
  }
}

/* ---- damage: torn tails and corruption ---- */

static void write_at(const char *path, off_t off, const void *bytes, size_t len) {
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
  close(fd);
}

/* n records of REC_BYTES, one sync each. */
static void write_records(const fixture *f, int n) {
  ctk_store *s = open_store(f, 1);
  for (int i = 0; i < n; i++) {
    uint8_t r[REC_BYTES];
    rec_make(r, (uint64_t)i, sizeof r);
    append(s, r, sizeof r);
    sync_ok(s);
  }
  ctk_store_close(&s);
}

static void expect_records(const fixture *f, int n) {
  uint8_t want[64 * REC_BYTES];
  for (int i = 0; i < n; i++) rec_make(want + i * REC_BYTES, (uint64_t)i, REC_BYTES);
  expect_reopened(f, want, (size_t)n * REC_BYTES);
}

/* The WAL's framing: 16 header bytes per record (see store_wal.c). */
#define WAL_REC (16 + REC_BYTES)

static void test_torn_tail_dropped(void **state) {
  fixture *f = *state;
  write_records(f, 5);
  if (f->kind == CTK_STORE_WAL) {
    /* The log ends where its records end (preallocated space is zeros past them). */
    assert_int_equal(truncate(f->file, 5 * WAL_REC - 10), 0); /* mid-body of the last one */
    expect_records(f, 4);
    assert_int_equal(file_size(f->file), 4 * WAL_REC);       /* cut from the file */
    assert_int_equal(truncate(f->file, 3 * WAL_REC + 5), 0); /* mid-header */
    expect_records(f, 3);
  }
  /* Garbage after the last record (for LMDB: past its last page, which it never reads). */
  int n = f->kind == CTK_STORE_WAL ? 3 : 5;
  int fd = open(f->file, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "\x01garbage\xff\xfe", 10), 10);
  close(fd);
  expect_records(f, n);
  /* Appends after the dropped tail work and survive. */
  ctk_store *s = open_store(f, 1);
  uint8_t r[REC_BYTES];
  rec_make(r, (uint64_t)n, sizeof r);
  append(s, r, sizeof r);
  sync_ok(s);
  ctk_store_close(&s);
  expect_records(f, n + 1);
}

static void test_wal_zero_tail_and_torn_group(void **state) {
  fixture *f = *state;
  if (f->kind != CTK_STORE_WAL) skip();
  write_records(f, 2);
  /* Zeros past the end (preallocated space, or a torn write never written): not damage. */
  static const uint8_t zeros[8192];
  write_at(f->file, 2 * WAL_REC, zeros, sizeof zeros);
  expect_records(f, 2);
  /* One group commit of 4 records, torn with a hole in its middle (writeback of unsynced pages
   * is unordered): the tail from the hole on is dropped, not reported as corruption. */
  ctk_store *s = open_store(f, 1);
  for (int i = 2; i < 6; i++) {
    uint8_t r[REC_BYTES];
    rec_make(r, (uint64_t)i, sizeof r);
    append(s, r, sizeof r);
  }
  sync_ok(s);
  ctk_store_close(&s);
  write_at(f->file, 3 * WAL_REC + 3, zeros, 20); /* inside record 3 */
  expect_records(f, 3);
  expect_records(f, 3);
}

static void test_corrupt_middle_record(void **state) {
  fixture *f = *state;
  write_records(f, 5);
  char err[512] = "";
  if (f->kind == CTK_STORE_WAL) {
    /* A flipped body byte in record 2, with records synced later after it. */
    uint8_t b;
    int fd = open(f->file, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, 2 * WAL_REC + 16 + 9), 1);
    b ^= 0x10;
    assert_int_equal(pwrite(fd, &b, 1, 2 * WAL_REC + 16 + 9), 1);
    close(fd);
  } else {
    /* Flip a byte of record 2 wherever it is in the data file (copy-on-write leaves old
     * copies in free pages). */
    uint8_t r[REC_BYTES];
    rec_make(r, 2, sizeof r);
    FILE *fp = fopen(f->file, "r+b");
    assert_non_null(fp);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    int copies = 0;
    for (size_t i = 0; i + REC_BYTES <= n; i++) {
      if (memcmp(buf + i, r, REC_BYTES)) continue;
      buf[i + 9] ^= 0x10;
      copies++;
    }
    assert_true(copies > 0);
    rewind(fp);
    assert_int_equal(fwrite(buf, 1, n, fp), n);
    fclose(fp);
  }
  ctk_store *s = open_store(f, 1);
  uint8_t *data = NULL;
  size_t len = 0;
  assert_int_equal(ctk_store_read(s, &data, &len, err, sizeof err), -1);
  assert_non_null(strstr(err, f->dir));
  assert_null(data);
  if (f->kind == CTK_STORE_WAL) {
    /* Nothing can be appended to a corrupt log; a replace starts afresh. */
    append(s, "x", 1);
    assert_int_equal(ctk_store_sync(s, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupt"));
  }
  assert_int_equal(ctk_store_replace(s, (const uint8_t *)"fresh", 5, err, sizeof err), 0);
  sync_ok(s);
  expect_bytes(s, "fresh", 5);
  ctk_store_close(&s);
  expect_reopened(f, "fresh", 5);

  if (f->kind == CTK_STORE_WAL) {
    /* A damaged length in a middle record's header cannot pass for a torn tail. */
    assert_int_equal(truncate(f->file, 0), 0);
    write_records(f, 4);
    uint8_t huge = 0x7f;
    write_at(f->file, 1 * WAL_REC, &huge, 1);
    s = open_store(f, 1);
    assert_int_equal(ctk_store_read(s, &data, &len, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupt"));
    ctk_store_close(&s);
  }
}

/* ---- SIGKILL at random moments: every acknowledged sync survives ---- */

/* The child: numbered records, 1 to 3 per sync, and now and then (and first of all) a replace
 * that restarts the content at the current record; after each sync, the last number goes down the
 * pipe. */
static void kill_child(const fixture *f, int ack_fd) {
  char err[512];
  ctk_store *s = ctk_store_open(f->dir, f->kind, 1, err, sizeof err);
  if (!s) _exit(2);
  for (uint64_t n = 0; n < 1000000;) {
    uint8_t r[REC_BYTES];
    int per_sync = 1 + (int)(n % 3);
    for (int i = 0; i < per_sync; i++, n++) {
      rec_make(r, n, sizeof r);
      int rc = n == 0 || n % 97 == 50 ? ctk_store_replace(s, r, sizeof r, err, sizeof err)
                                      : ctk_store_append(s, r, sizeof r, err, sizeof err);
      if (rc) _exit(3);
    }
    if (ctk_store_sync(s, err, sizeof err)) _exit(4);
    uint64_t acked = n - 1;
    if (write(ack_fd, &acked, sizeof acked) != (ssize_t)sizeof acked) _exit(5);
  }
  _exit(6);
}

static void kill_once(const fixture *f, unsigned *seed) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    kill_child(f, fds[1]);
  }
  close(fds[1]);
  int target = 20 + rand_r(seed) % 300;
  int64_t max_acked = -1;
  uint64_t a;
  for (int got = 0; got < target && read(fds[0], &a, sizeof a) == (ssize_t)sizeof a; got++)
    max_acked = (int64_t)a;
  usleep((useconds_t)(rand_r(seed) % 2000));
  kill(pid, SIGKILL);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFSIGNALED(status)) fail_msg("the writer ended by itself: status %d", status);
  while (read(fds[0], &a, sizeof a) == (ssize_t)sizeof a) max_acked = (int64_t)a;
  close(fds[0]);
  assert_true(max_acked >= 0);

  ctk_store *s = open_store(f, 1);
  uint8_t *data = NULL;
  size_t len = 0;
  char err[512];
  if (ctk_store_read(s, &data, &len, err, sizeof err)) fail_msg("read after kill: %s", err);
  ctk_store_close(&s);
  /* Whole records, consecutive, starting at 0 or at a replace, reaching the last ack. */
  assert_int_equal(len % REC_BYTES, 0);
  assert_true(len >= REC_BYTES);
  uint64_t first = 0, prev = 0;
  for (size_t off = 0; off < len; off += REC_BYTES) {
    uint64_t n;
    if (!rec_check(data + off, REC_BYTES, &n)) fail_msg("damaged record at offset %zu", off);
    if (off == 0) first = n;
    if (off && n != prev + 1)
      fail_msg("record %llu after %llu", (unsigned long long)n, (unsigned long long)prev);
    prev = n;
  }
  assert_true(first == 0 || first % 97 == 50);
  if ((int64_t)prev < max_acked)
    fail_msg("acknowledged record %lld lost (last present %llu)", (long long)max_acked,
             (unsigned long long)prev);
  free(data);
}

static void test_sigkill_keeps_acknowledged(void **state) {
  fixture *f = *state;
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  print_message("sigkill seed %u\n", seed);
  for (int i = 0; i < 5; i++) kill_once(f, &seed);
}

/* ---- a full disk, by RLIMIT_FSIZE: errors, not crashes; nothing synced is lost ---- */

#define FULL_REC   1024
#define FULL_LIMIT (256 * 1024)

/* Reads the store and checks records 0 .. n-1 of FULL_REC bytes. 0 when all is well. */
static int full_check(ctk_store *s, uint64_t n) {
  uint8_t *data = NULL;
  size_t len = 0;
  char err[512];
  if (ctk_store_read(s, &data, &len, err, sizeof err)) return -1;
  int ok = len == n * FULL_REC;
  for (uint64_t i = 0; ok && i < n; i++) {
    uint64_t got;
    ok = rec_check(data + i * FULL_REC, FULL_REC, &got) && got == i;
  }
  free(data);
  return ok ? 0 : -1;
}

static void full_child(const fixture *f, int out_fd) {
  struct rlimit rl = {FULL_LIMIT, FULL_LIMIT};
  signal(SIGXFSZ, SIG_IGN);
  if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(2);
  char err[512];
  ctk_store *s = ctk_store_open(f->dir, f->kind, 1, err, sizeof err);
  if (!s) _exit(3);
  uint64_t synced = 0;
  uint8_t r[FULL_REC];
  for (;; synced++) {
    if (synced > 10 * FULL_LIMIT / FULL_REC) _exit(4); /* never failed */
    rec_make(r, synced, sizeof r);
    err[0] = 0;
    if (ctk_store_append(s, r, sizeof r, err, sizeof err)) _exit(5);
    if (ctk_store_sync(s, err, sizeof err)) break;
  }
  if (!strstr(err, f->dir)) _exit(6); /* the message names the path */
  if (full_check(s, synced)) _exit(7);
  if (ctk_store_sync(s, err, sizeof err) == 0) _exit(8); /* still full: fails again */
  if (full_check(s, synced)) _exit(9);
  ctk_store_close(&s);
  s = ctk_store_open(f->dir, f->kind, 1, err, sizeof err);
  if (!s || full_check(s, synced)) _exit(10);
  /* Still usable: a small replace fits. */
  rec_make(r, 0, sizeof r);
  if (ctk_store_replace(s, r, sizeof r, err, sizeof err) || ctk_store_sync(s, err, sizeof err))
    _exit(11);
  if (full_check(s, 1)) _exit(12);
  ctk_store_close(&s);
  if (write(out_fd, &synced, sizeof synced) != (ssize_t)sizeof synced) _exit(13);
  _exit(0);
}

static void test_disk_full(void **state) {
  fixture *f = *state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    full_child(f, fds[1]);
  }
  close(fds[1]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  uint64_t synced = 0;
  ssize_t got = read(fds[0], &synced, sizeof synced);
  close(fds[0]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("disk-full child: %s %d", WIFEXITED(status) ? "exit" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  assert_int_equal(got, sizeof synced);
  print_message("%s: %llu records of %d bytes synced under a %d-byte file limit\n",
                ctk_store_kind_name(f->kind), (unsigned long long)synced, FULL_REC, FULL_LIMIT);
  assert_true(synced > 10);
  ctk_store *s = open_store(f, 1);
  assert_int_equal(full_check(s, 1), 0);
  ctk_store_close(&s);
}

/* Syncs mixing small chunks with more large ones (a WAL writes those from where they are
 * staged, up to a bound, and copies the rest) come back whole, in order, appended or replaced. */
static void test_large_chunks_mixed(void **state) {
  fixture *f = *state;
  enum { N = 80, BIG = 70000 };
  size_t cap = (size_t)N * (BIG + N);
  uint8_t *want = malloc(cap), *chunk = malloc(BIG + N);
  assert_non_null(want);
  assert_non_null(chunk);
  char err[512];
  for (int replace = 0; replace < 2; replace++) {
    ctk_store *s = open_store(f, 1);
    size_t want_len = 0;
    if (replace) {
      /* Something durable first, which the replace drops. */
      append(s, "before", 6);
      sync_ok(s);
    }
    for (int i = 0; i < N; i++) {
      size_t len = i % 3 == 1 ? 5 + (size_t)i : BIG + (size_t)i;
      for (size_t j = 0; j < len; j++) chunk[j] = (uint8_t)(i * 7 + j * 13 + replace);
      if (replace && i == 0)
        assert_int_equal(ctk_store_replace(s, chunk, len, err, sizeof err), 0);
      else
        append(s, chunk, len);
      memcpy(want + want_len, chunk, len);
      want_len += len;
    }
    sync_ok(s);
    expect_bytes(s, want, want_len);
    ctk_store_close(&s);
    expect_reopened(f, want, want_len);
  }
  free(want);
  free(chunk);
}

#define BOTH(f)                                         \
  {"wal_" #f, f, setup, teardown, (void *)&kinds[0]}, { \
    "lmdb_" #f, f, setup, teardown, (void *)&kinds[1]   \
  }

int main(void) {
  const struct CMUnitTest tests[] = {
      BOTH(test_round_trip),
      BOTH(test_appends_then_reopen),
      BOTH(test_replace_then_append),
      BOTH(test_large_chunks_mixed),
      BOTH(test_empty_store),
      BOTH(test_nosync_reads_back),
      BOTH(test_open_errors),
      BOTH(test_torn_tail_dropped),
      {"wal_test_wal_zero_tail_and_torn_group", test_wal_zero_tail_and_torn_group, setup, teardown,
       (void *)&kinds[0]},
      BOTH(test_corrupt_middle_record),
      BOTH(test_sigkill_keeps_acknowledged),
      BOTH(test_disk_full),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
