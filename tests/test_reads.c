/* test_reads.c: reads without a log write. The staleness measure on a history built by hand;
 * Raft's read modes through `ctk sim` as users run them: follower reads report a nonzero count of
 * stale reads with their staleness and still pass (the run asked for them), while the same run
 * with linearizable reads has none, and follower reads without workload.stale_reads fail; the
 * clock-skew acceptance of issue 7 (leases beyond their drift bound serve stale reads, ReadIndex
 * and leases within the bound do not); ZAB's local reads keeping each client's FIFO order; and a
 * protocol option of type CHOICE in the loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "staleness.h"

/* ---- the measure itself ---- */

static void op(ctk_history *h, int64_t p, ctk_op_f f, const char *key, const char *in,
               const char *out, uint64_t invoke_us, uint64_t ok_us) {
  assert_int_equal(ctk_history_add(h, p, CTK_HIST_INVOKE, f, invoke_us, key, in, NULL), 0);
  assert_int_equal(ctk_history_add(h, p, CTK_HIST_OK, f, ok_us, key, out, NULL), 0);
}

static void test_staleness_measure(void **state) {
  (void)state;
  ctk_history h;
  ctk_history_init(&h);
  op(&h, 1, CTK_F_PUT, "k", "a", "a", 0, 10);
  op(&h, 1, CTK_F_PUT, "k", "b", "b", 20, 30);
  op(&h, 1, CTK_F_PUT, "k", "c", "c", 40, 50);
  op(&h, 2, CTK_F_GET, "k", NULL, "a", 100, 110);  /* missed b and c: 2 versions, 70 us */
  op(&h, 3, CTK_F_GET, "k", NULL, NULL, 60, 61);   /* absent after a, b, c: 3 versions, 50 us */
  op(&h, 4, CTK_F_GET, "k", NULL, "c", 120, 130);  /* fresh */
  op(&h, 5, CTK_F_GET, "k", NULL, "b", 45, 46);    /* c not complete yet: fresh */
  op(&h, 6, CTK_F_GET, "j", NULL, NULL, 200, 201); /* another key, never written: fresh */
  ctk_staleness s;
  assert_int_equal(ctk_staleness_measure(&h, &s), 0);
  assert_int_equal(s.reads, 5);
  assert_int_equal(s.stale, 2);
  assert_int_equal(s.versions_max, 3);
  assert_int_equal(s.behind_us_max, 70);
  assert_int_equal(s.n_shown, 2);
  assert_int_equal(s.shown[0].process, 3); /* the stalest first */
  assert_int_equal(s.shown[0].versions, 3);
  assert_int_equal(s.shown[0].behind_us, 50);
  assert_int_equal(s.shown[1].process, 2);
  assert_int_equal(s.shown[1].versions, 2);
  assert_int_equal(s.shown[1].behind_us, 70);
  /* Allowed, the stale reads do not fail the check of the writes; not allowed, they do. */
  ctk_check_result r;
  char err[256];
  assert_int_equal(ctk_check_run_history(&h, 1, &r, &s, err, sizeof err), 0);
  assert_int_equal(r.linearizable, 1);
  ctk_check_result_free(&r);
  assert_int_equal(ctk_check_run_history(&h, 0, &r, &s, err, sizeof err), 0);
  assert_int_equal(r.linearizable, 0);
  ctk_check_result_free(&r);
  ctk_history_free(&h);
}

/* ---- runs ---- */

static int sim(const char *path, char *out, size_t out_len) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s sim %s 2>&1", cli_bin(), path);
  int rc = cli_run(cmd, out, out_len);
  print_message("%s", out);
  return rc;
}

/* "stale reads      N of M reads": N, or -1 when the line is missing. */
static long stale_count(const char *out) {
  const char *line = strstr(out, "stale reads      ");
  return line ? strtol(line + strlen("stale reads      "), NULL, 10) : -1;
}

/* Copies a shipped scenario to a temporary file with one line replaced by another. */
static void variant(const char *from, const char *to, const char *const *edits, size_t n_edits) {
  FILE *in = fopen(from, "r"), *out = fopen(to, "w");
  assert_non_null(in);
  assert_non_null(out);
  char line[1024];
  while (fgets(line, sizeof line, in)) {
    const char *replaced = line;
    for (size_t i = 0; i + 1 < n_edits; i += 2)
      if (strncmp(line, edits[i], strlen(edits[i])) == 0) replaced = edits[i + 1];
    fputs(replaced, out);
  }
  fclose(in);
  fclose(out);
}

static void test_follower_reads_report_staleness(void **state) {
  (void)state;
  char out[65536];
  assert_int_equal(sim("configs/scenarios/raft-reads-follower.toml", out, sizeof out), 0);
  assert_non_null(strstr(out, "linearizable     yes (the writes; reads may be stale)"));
  assert_non_null(strstr(out, "consistency      writes linearizable, stale reads allowed"));
  assert_true(stale_count(out) > 0);
  assert_non_null(strstr(out, "behind by up to "));
  assert_non_null(strstr(out, " versions, ")); /* the stalest, one by one */
  assert_non_null(strstr(out, "answered without a log write"));
  /* The JSON results say so too. */
  char cmd[512], json[65536];
  const char *json_path = "/tmp/ctk-test-reads-follower.json";
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/raft-reads-follower.toml --json %s 2>&1",
           cli_bin(), json_path);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  FILE *f = fopen(json_path, "r");
  assert_non_null(f);
  json[fread(json, 1, sizeof json - 1, f)] = 0;
  fclose(f);
  unlink(json_path);
  assert_non_null(strstr(json, "\"consistency\": \"writes linearizable, stale reads allowed\""));
  const char *count = strstr(json, "\"count\": ");
  assert_non_null(count);
  assert_true(strtol(count + strlen("\"count\": "), NULL, 10) > 0);

  /* The same run with linearizable reads (ReadIndex) has none. */
  char path[] = "/tmp/ctk-test-reads-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  const char *linearizable[] = {"read_mode", "read_mode = \"readindex\"\n", "stale_reads",
                                "stale_reads = false\n"};
  variant("configs/scenarios/raft-reads-follower.toml", path, linearizable, 4);
  assert_int_equal(sim(path, out, sizeof out), 0);
  assert_non_null(strstr(out, "linearizable     yes\n"));
  assert_int_equal(stale_count(out), -1);

  /* Follower reads the run did not ask for fail it, and the report says which reads. */
  const char *unasked[] = {"stale_reads", "stale_reads = false\n"};
  variant("configs/scenarios/raft-reads-follower.toml", path, unasked, 2);
  assert_int_equal(sim(path, out, sizeof out), 1);
  assert_non_null(strstr(out, "linearizable     NO"));
  assert_true(stale_count(out) > 0);
  unlink(path);
}

static void test_read_modes_skip_the_log(void **state) {
  (void)state;
  char out[65536];
  assert_int_equal(sim("configs/scenarios/raft-reads-log.toml", out, sizeof out), 0);
  assert_null(strstr(out, "answered without a log write"));
  assert_non_null(strstr(out, "linearizable     yes\n"));
  assert_int_equal(sim("configs/scenarios/raft-reads-readindex.toml", out, sizeof out), 0);
  assert_non_null(strstr(out, "answered without a log write"));
  assert_non_null(strstr(out, "linearizable     yes\n"));
  assert_int_equal(sim("configs/scenarios/raft-reads-lease.toml", out, sizeof out), 0);
  assert_non_null(strstr(out, "answered without a log write"));
  assert_non_null(strstr(out, "linearizable     yes\n"));
  assert_int_equal(sim("configs/scenarios/multipaxos-reads-lease.toml", out, sizeof out), 0);
  assert_non_null(strstr(out, "answered without a log write"));
  assert_non_null(strstr(out, "linearizable     yes\n"));
}

/* Issue 7: "A clock-skew scenario shows stale reads with leases and a broken drift bound, and
 * none with ReadIndex." */
static void test_clock_skew_breaks_leases_not_readindex(void **state) {
  (void)state;
  char out[65536];
  assert_int_equal(sim("configs/scenarios/raft-clock-skew-lease-broken.toml", out, sizeof out), 1);
  assert_non_null(strstr(out, "linearizable     NO"));
  assert_true(stale_count(out) > 0);
  assert_int_equal(sim("configs/scenarios/raft-clock-skew-readindex.toml", out, sizeof out), 0);
  assert_non_null(strstr(out, "linearizable     yes\n"));
  assert_int_equal(stale_count(out), -1);
  assert_int_equal(sim("configs/scenarios/raft-clock-skew-lease-bounded.toml", out, sizeof out), 0);
  assert_non_null(strstr(out, "linearizable     yes\n"));
  assert_int_equal(stale_count(out), -1);
  /* Multi-Paxos leases break the same way beyond the bound (here a client misses its own write,
   * which the staleness measure, a lower bound on real time alone, does not count). */
  assert_int_equal(
      sim("configs/scenarios/multipaxos-clock-skew-lease-broken.toml", out, sizeof out), 1);
  assert_non_null(strstr(out, "linearizable     NO"));
}

/* ---- per-client FIFO order (ZooKeeper's guarantee for local reads) ---- */

/* Reads that missed the reading client's own earlier write: a get of key k returning a value
 * whose write completed before the client's last completed write of k was invoked, or "absent"
 * after it (nothing deletes). Values are unique per write in ctk's workloads. */
typedef struct fifo_write {
  const char *value; /* interned: one pointer per distinct value */
  uint64_t complete_us;
} fifo_write;

static int by_value(const void *a, const void *b) {
  const fifo_write *x = a, *y = b;
  return (uintptr_t)x->value < (uintptr_t)y->value ? -1 : (uintptr_t)x->value > (uintptr_t)y->value;
}

static int fifo_violations(const ctk_history *h) {
  enum { MAX_P = 64, MAX_KEYS = 64 };
  fifo_write *writes = malloc((h->n + 1) * sizeof *writes);
  assert_non_null(writes);
  size_t n_writes = 0;
  for (size_t i = 0; i < h->n; i++) {
    const ctk_hist_event *e = &h->events[i];
    if (e->type == CTK_HIST_OK && e->f != CTK_F_GET)
      writes[n_writes++] = (fifo_write){e->value, e->time_us};
  }
  qsort(writes, n_writes, sizeof *writes, by_value);
  /* Per process and key: its last completed write (value, invoke time). A process has one
   * operation open at a time, so its earlier operations completed before its later ones. */
  struct {
    const char *key, *value;
    uint64_t invoke_us;
  } own[MAX_P][MAX_KEYS];
  int n_own[MAX_P] = {0};
  uint64_t invoked[MAX_P] = {0};
  int violations = 0;
  for (size_t i = 0; i < h->n; i++) {
    const ctk_hist_event *e = &h->events[i];
    int p = (int)e->process;
    assert_true(p >= 0 && p < MAX_P);
    if (e->type == CTK_HIST_INVOKE) invoked[p] = e->time_us;
    if (e->type != CTK_HIST_OK) continue;
    int k = 0;
    while (k < n_own[p] && own[p][k].key != e->key) k++;
    if (e->f != CTK_F_GET) {
      if (k == n_own[p]) {
        assert_true(k < MAX_KEYS);
        n_own[p]++;
      }
      own[p][k].key = e->key;
      own[p][k].value = e->value;
      own[p][k].invoke_us = invoked[p];
      continue;
    }
    if (k == n_own[p] || e->value == own[p][k].value) continue;
    if (!e->value) { /* absent after its own write: nothing deletes */
      violations++;
      continue;
    }
    fifo_write want = {e->value, 0};
    const fifo_write *w = bsearch(&want, writes, n_writes, sizeof *writes, by_value);
    if (w && w->complete_us < own[p][k].invoke_us) violations++; /* older than its own write */
  }
  free(writes);
  return violations;
}

static void test_fifo_check_catches_a_missed_own_write(void **state) {
  (void)state;
  ctk_history h;
  ctk_history_init(&h);
  op(&h, 1, CTK_F_PUT, "k", "a", "a", 0, 10);
  op(&h, 1, CTK_F_PUT, "k", "b", "b", 20, 30);
  op(&h, 1, CTK_F_GET, "k", NULL, "b", 40, 41);
  op(&h, 2, CTK_F_GET, "k", NULL, "a", 42, 43); /* another client: stale, but not its FIFO */
  assert_int_equal(fifo_violations(&h), 0);
  op(&h, 1, CTK_F_GET, "k", NULL, "a", 50, 51); /* missed its own write of b */
  assert_int_equal(fifo_violations(&h), 1);
  ctk_history_free(&h);
}

/* Issue 12: ZAB's local reads are stale for some reads yet keep each client's FIFO order. */
static void test_zab_local_reads_keep_fifo_order(void **state) {
  (void)state;
  char out[65536], cmd[1024], err[256];
  const char *history = "/tmp/ctk-test-reads-zab.jsonl";
  snprintf(cmd, sizeof cmd, "%s sim configs/scenarios/zab-reads-local.toml --history %s 2>&1",
           cli_bin(), history);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  print_message("%s", out);
  assert_non_null(strstr(out, "linearizable     yes (the writes; reads may be stale)"));
  assert_true(stale_count(out) > 0);
  ctk_history h;
  assert_int_equal(ctk_history_read_jsonl(history, &h, err, sizeof err), 0);
  assert_true(h.n > 1000);
  assert_int_equal(fifo_violations(&h), 0);
  ctk_history_free(&h);
  unlink(history);
  /* Sync-then-read on the same run: no read is stale there. */
  assert_int_equal(sim("configs/scenarios/zab-reads-sync.toml", out, sizeof out), 0);
  assert_non_null(strstr(out, "answered without a log write"));
  assert_int_equal(stale_count(out), 0);
}

/* ---- the CHOICE option type ---- */

static void test_choice_option(void **state) {
  (void)state;
  ctk_config c;
  char err[CTK_ERR_LEN];
  const char *text = "protocol = \"raft\"\n[raft]\nread_mode = \"lease\"\n";
  assert_int_equal(ctk_config_load_string(text, "exp.toml", &c, err, sizeof err), 0);
  char show[8192];
  FILE *f = fmemopen(show, sizeof show, "w");
  assert_non_null(f);
  assert_int_equal(ctk_config_write(&c, f), 0);
  fclose(f);
  assert_non_null(strstr(show, "read_mode = \"lease\""));
  ctk_config_free(&c);
  text = "protocol = \"raft\"\n[raft]\n\nread_mode = \"stale\"\n";
  assert_int_equal(ctk_config_load_string(text, "exp.toml", &c, err, sizeof err), -1);
  assert_string_equal(err,
                      "exp.toml:4: key 'raft.read_mode': expected \"log\", \"readindex\", "
                      "\"lease\" or \"follower\", got \"stale\"");
  text = "protocol = \"raft\"\n[raft]\nread_mode = 1\n";
  assert_int_equal(ctk_config_load_string(text, "exp.toml", &c, err, sizeof err), -1);
  assert_non_null(strstr(err, "exp.toml:3: key 'raft.read_mode': expected \"log\""));
  /* A clock_skew fault takes a rate above 0. */
  text = "protocol = \"raft\"\n[[fault]]\nat_s = 1\nkind = \"clock_skew\"\nnode = 0\nrate = 0\n";
  assert_int_equal(ctk_config_load_string(text, "exp.toml", &c, err, sizeof err), -1);
  assert_non_null(strstr(err, "exp.toml:6: key 'fault[0].rate'"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_staleness_measure),
      cmocka_unit_test(test_choice_option),
      cmocka_unit_test(test_follower_reads_report_staleness),
      cmocka_unit_test(test_read_modes_skip_the_log),
      cmocka_unit_test(test_clock_skew_breaks_leases_not_readindex),
      cmocka_unit_test(test_fifo_check_catches_a_missed_own_write),
      cmocka_unit_test(test_zab_local_reads_keep_fifo_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
