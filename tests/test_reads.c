/* test_reads.c: reads without a log write. The staleness measure on a history built by hand;
 * Raft's read modes through `ctk sim` as users run them: follower reads report a nonzero count of
 * stale reads with their staleness and still pass (the run asked for them), while the same run
 * with linearizable reads has none, and follower reads without workload.stale_reads fail; the
 * clock-skew acceptance of issue 7 (leases beyond their drift bound serve stale reads, ReadIndex
 * and leases within the bound do not); and a protocol option of type CHOICE in the loader. */
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
  assert_string_equal(err, "exp.toml:4: key 'raft.read_mode': expected \"log\", \"readindex\", "
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
