/* test_scripts.c: scripted scenarios (harness/script.h). Every script under scenarios/ runs with
 * `ctk script --check` and must match its golden output (FILE.out) with every expectation held.
 * And the checks can fail: a wrong expectation fails with its line and what was seen, a golden
 * file that differs fails with a diff, Figure 8 fails its expectation (then the agreement check)
 * with Raft's switchable bug bug_commit_by_counting, and an error in a script names the file,
 * the line and what was expected. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "script.h"
#include "tmpdir.h"

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return strdup(buf);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static int ctk(const char *args, char *out, size_t out_len) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s 2>&1", cli_bin(), args);
  int rc = cli_run(cmd, out, out_len);
  print_message("$ ctk %s  (exit %d)\n%s", args, rc, out);
  return rc;
}

/* Every shipped scenario matches its golden output, and there are the ones the labs cite. */
static void test_every_scenario_matches_its_golden_output(void **state) {
  (void)state;
  glob_t g;
  assert_int_equal(glob("scenarios/*.scn", 0, NULL, &g), 0);
  assert_true(g.gl_pathc >= 10);
  static char out[1 << 18];
  for (size_t i = 0; i < g.gl_pathc; i++) {
    char args[512];
    snprintf(args, sizeof args, "script %s --check", g.gl_pathv[i]);
    int rc = ctk(args, out, sizeof out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, ": ok"));
  }
  globfree(&g);
  static const char *const cited[] = {"raft-election",
                                      "raft-split-vote",
                                      "raft-figure8",
                                      "raft-prevote",
                                      "raft-leader-minority",
                                      "paxos-chosen-value",
                                      "multipaxos-hole",
                                      "zab-sync",
                                      "epaxos-fast-slow",
                                      "vr-view-change",
                                      "multipaxos-reconfig-stop"};
  for (size_t i = 0; i < sizeof cited / sizeof cited[0]; i++) {
    char path[256];
    snprintf(path, sizeof path, "scenarios/%s.scn.out", cited[i]);
    char *golden = read_file(path);
    /* A golden file records a passing run: no failed expectation, no violation. */
    assert_non_null(strstr(golden, "\nok: "));
    assert_null(strstr(golden, "FAIL line"));
    assert_null(strstr(golden, "VIOLATION"));
    free(golden);
  }
}

/* A wrong expectation fails: exit status 1, its line and what was seen; the script goes on. */
static void test_a_wrong_expectation_fails(void **state) {
  (void)state;
  char path[512], out[1 << 14];
  snprintf(path, sizeof path, "%s/wrong.scn", tmpdir_path());
  write_file(path,
             "start 3 raft\n"
             "freeze 1,2\n"
             "run-until leader 0\n"
             "expect leader 1\n"
             "expect term 7 at 0\n"
             "expect leader 0\n");
  char args[600];
  snprintf(args, sizeof args, "script %s", path);
  assert_int_equal(ctk(args, out, sizeof out), 1);
  assert_non_null(strstr(out, "FAIL line 4: expected leader n1, saw n0"));
  assert_non_null(strstr(out, "FAIL line 5: expected term 7 at n0, saw 1"));
  assert_non_null(strstr(out, "FAILED: 2 failure(s), 3 expectation(s)"));
  /* Recording the failure as the golden output does not make it pass. */
  snprintf(args, sizeof args, "script %s --update", path);
  assert_int_equal(ctk(args, out, sizeof out), 1);
  snprintf(args, sizeof args, "script %s --check", path);
  assert_int_equal(ctk(args, out, sizeof out), 1);
  assert_non_null(strstr(out, "an expectation failed"));
}

/* A golden file that differs from the output fails --check with a diff. */
static void test_a_golden_mismatch_fails_with_a_diff(void **state) {
  (void)state;
  char path[512], golden[600], out[1 << 16], args[700];
  snprintf(path, sizeof path, "%s/election.scn", tmpdir_path());
  char *text = read_file("scenarios/raft-election.scn");
  write_file(path, text);
  free(text);
  snprintf(golden, sizeof golden, "%s.out", path);
  text = read_file("scenarios/raft-election.scn.out");
  char *line = strstr(text, "n4 -> n0 PreVote t=1 last=0/0");
  assert_non_null(line);
  memcpy(line, "n4 -> n0 PreVote t=9", 20);
  write_file(golden, text);
  free(text);
  snprintf(args, sizeof args, "script %s --check", path);
  assert_int_equal(ctk(args, out, sizeof out), 1);
  assert_non_null(strstr(out, "-21:   n4 -> n0 PreVote t=9 last=0/0"));
  assert_non_null(strstr(out, "+21:   n4 -> n0 PreVote t=1 last=0/0"));
  assert_non_null(strstr(out, "the output differs from"));
  /* A missing golden file is an error, not a pass. */
  unlink(golden);
  assert_int_equal(ctk(args, out, sizeof out), 2);
  assert_non_null(strstr(out, "--update writes it"));
}

/* Figure 8 with Raft's lab bug: the leader commits an entry of an earlier term by counting
 * replicas. The script's expectation fails at that point, and the simulator's agreement check
 * fires when the entry is overwritten. */
static void test_figure8_fails_with_commit_by_counting(void **state) {
  (void)state;
  char *text = read_file("scenarios/raft-figure8.scn");
  const char *start = "start 5 raft prevote=false max_batch=1 eager_commit=true\n";
  char *at = strstr(text, start);
  assert_non_null(at);
  static char buggy[1 << 16];
  snprintf(buggy, sizeof buggy,
           "%.*sstart 5 raft prevote=false max_batch=1 eager_commit=true "
           "bug_commit_by_counting=true\n%s",
           (int)(at - text), text, at + strlen(start));
  free(text);
  char path[512], args[600], out[1 << 16];
  snprintf(path, sizeof path, "%s/figure8-bug.scn", tmpdir_path());
  write_file(path, buggy);
  snprintf(args, sizeof args, "script %s", path);
  assert_int_equal(ctk(args, out, sizeof out), 1);
  assert_non_null(strstr(out, "expected committed 0 at n0, saw 2"));
  assert_non_null(strstr(out, "VIOLATION"));
  assert_non_null(strstr(out, "agreement"));
}

/* Errors in a script name the file, the line and what was expected; nothing runs on. */
static void test_errors_name_file_line_and_expectation(void **state) {
  (void)state;
  static const struct {
    const char *script, *message;
  } cases[] = {
      {"tick 1s\n", "bad.scn:1: expected 'start' before 'tick'"},
      {"start 3 raft\ncrash 3\n", "bad.scn:2: expected a node from 0 to 2, got '3'"},
      {"start 3 raft\n# c\ntick 10 ms\n", "bad.scn:3: unknown command or wrong arguments: 'tick'"},
      {"start 3 raft\ntick 10parsecs\n",
       "bad.scn:2: expected a duration such as 100ms, 2s or 500us, got '10parsecs'"},
      {"start 3 raft\ndeliver 0-1\n", "bad.scn:2: expected A->B (nodes or *), got '0-1'"},
      {"start 3 raft\npartition 0 | 1\n", "bad.scn:2: n2 is in no group"},
      {"start 3 raft\nexpect leader\n", "bad.scn:2: expected 'expect leader N|none'"},
      {"start 3 raft\nexpect committed 1 on 2\n", "bad.scn:2: expected 'at NODES' after '1'"},
      {"start 3 rafty\n", "bad.scn:1: unknown protocol 'rafty'"},
      {"start 3 raft prevote=maybe\n", "bad.scn:1: TOML syntax error"},
      {"start 3 raft hartbeat_ms=20\n",
       "bad.scn:1: unknown key 'raft.hartbeat_ms' (did you mean 'heartbeat_ms'?)"},
      {"# only a comment\n", "bad.scn:0: the script starts no cluster"},
      {"start nofile.toml\n", "bad.scn:1: dir/nofile.toml: cannot open"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *buf = NULL, err[1024] = "";
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    int rc = ctk_script_run("dir/bad.scn", cases[i].script, out, err, sizeof err);
    fclose(out);
    print_message("%s-> %d: %s\n", cases[i].script, rc, err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, cases[i].message));
    free(buf);
  }
  /* Through the command line: exit status 2, the message on stderr. */
  char path[512], args[600], out[4096];
  snprintf(path, sizeof path, "%s/bad.scn", tmpdir_path());
  write_file(path, "start 3 raft\nsubmit 0 put x\n");
  snprintf(args, sizeof args, "script %s", path);
  assert_int_equal(ctk(args, out, sizeof out), 2);
  assert_non_null(strstr(out, "bad.scn:2: unknown command or wrong arguments: 'submit'"));
}

/* The manual network holds every message until the script moves it, and the clock moves only on
 * tick and run: nothing happens between commands. */
static void test_nothing_moves_unless_the_script_says_so(void **state) {
  (void)state;
  char *buf = NULL, err[512];
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  int rc = ctk_script_run("held.scn",
                          "start 3 raft prevote=false\n"
                          "freeze 1,2\n"
                          "tick 300ms\n"
                          "expect in-flight 2\n"
                          "expect role candidate at 0\n"
                          "expect term 0 at 1,2\n"
                          "drop 0->1\n"
                          "expect in-flight 1\n"
                          "deliver 0->2\n"
                          "expect term 1 at 2\n"
                          "expect in-flight 1\n"
                          "deliver\n"
                          "expect leader 0\n",
                          out, err, sizeof err);
  fclose(out);
  print_message("%s", buf);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(buf, "dropped n0 -> n1 RequestVote t=1"));
  assert_non_null(strstr(buf, "ok: 7 expectation(s) held"));
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_scenario_matches_its_golden_output),
      cmocka_unit_test(test_a_wrong_expectation_fails),
      cmocka_unit_test(test_a_golden_mismatch_fails_with_a_diff),
      cmocka_unit_test(test_figure8_fails_with_commit_by_counting),
      cmocka_unit_test(test_errors_name_file_line_and_expectation),
      cmocka_unit_test(test_nothing_moves_unless_the_script_says_so),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
