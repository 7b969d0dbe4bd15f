/* test_conform.c: protocols built out of tree and the conformance suite, through the command line
 * as users run them. Shared objects compiled here with cc -shared -fPIC: the deliberately wrong
 * examples/eager (commits a command where it arrives) fails `ctk conform` with a seed and a
 * replay command that reproduces the failure; the skeleton of `ctk new-protocol` builds, loads
 * and runs (and fails the progress check); objects that cannot load are refused with messages
 * naming the file; a path in an experiment file is taken from the file's directory and written
 * back absolute; and every built-in protocol passes the suite. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "protocol.h"
#include "tmpdir.h"

static void write_file(const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir_path(), name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

/* cc -shared -fPIC SOURCE (relative to the repository, or a file in the scratch directory) -o
 * <scratch directory>/OUT. */
static void build_so(const char *source, const char *out) {
  char cmd[1200], log[4096];
  snprintf(cmd, sizeof cmd,
           "cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -Iprotocols -o %s/%s %s 2>&1",
           tmpdir_path(), out, source);
  int rc = cli_run(cmd, log, sizeof log);
  if (rc) print_message("%s\n%s", cmd, log);
  assert_int_equal(rc, 0);
}

static int ctk(const char *args, char *out, size_t out_len) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s 2>&1", cli_bin(), args);
  int rc = cli_run(cmd, out, out_len);
  print_message("$ ctk %s\n%s", args, out);
  return rc;
}

/* Loading errors name the file and say what is wrong. */
static void test_load_errors(void **state) {
  (void)state;
  char err[512], path[512];
  snprintf(path, sizeof path, "%s/missing.so", tmpdir_path());
  assert_null(ctk_protocol_load(path, err, sizeof err));
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "cannot load protocol"));

  write_file("nosym.c", "int ctk_something_else(void) { return 1; }\n");
  snprintf(path, sizeof path, "%s/nosym.c", tmpdir_path());
  build_so(path, "nosym.so");
  snprintf(path, sizeof path, "%s/nosym.so", tmpdir_path());
  assert_null(ctk_protocol_load(path, err, sizeof err));
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "does not export ctk_protocol_entry_v1()"));

  write_file("abi.c",
             "#include \"protocol.h\"\n"
             "const ctk_protocol_def *ctk_protocol_entry_v1(unsigned *v) {\n"
             "  *v = 999;\n  return 0;\n}\n");
  snprintf(path, sizeof path, "%s/abi.c", tmpdir_path());
  build_so(path, "abi.so");
  snprintf(path, sizeof path, "%s/abi.so", tmpdir_path());
  assert_null(ctk_protocol_load(path, err, sizeof err));
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "built for protocol ABI version 999, this ctk has version 2"));

  write_file("nostep.c",
             "#include \"protocol.h\"\n"
             "static const ctk_protocol_def def = {.name = \"nostep\"};\n"
             "const ctk_protocol_def *ctk_protocol_entry_v1(unsigned *v) {\n"
             "  *v = CTK_PROTOCOL_ABI_VERSION;\n  return &def;\n}\n");
  snprintf(path, sizeof path, "%s/nostep.c", tmpdir_path());
  build_so(path, "nostep.so");
  snprintf(path, sizeof path, "%s/nostep.so", tmpdir_path());
  assert_null(ctk_protocol_load(path, err, sizeof err));
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "invalid definition: protocol \"nostep\" has no create function"));

  /* The same through an experiment file: FILE:LINE, the key, the resolved path. */
  write_file("missing.toml", "protocol = \"missing.so\"\n");
  char args[600], out[4096];
  snprintf(args, sizeof args, "config check %s/missing.toml", tmpdir_path());
  assert_int_equal(ctk(args, out, sizeof out), 2);
  assert_non_null(strstr(out, "missing.toml:1: key 'protocol': cannot load protocol"));
  assert_non_null(strstr(out, "/missing.so: No such file or directory"));
}

/* A relative path is taken from the experiment file's directory and written back absolute (the
 * nodes of `ctk run` load the written config); the protocol's table is checked like a built-in's.
 */
static void test_path_resolution_and_options(void **state) {
  (void)state;
  build_so("examples/eager/eager.c", "eager.so");
  write_file("exp.toml", "protocol = \"eager.so\"\n[eager]\nunused = 7\n");
  char args[600], out[8192], expected[600];
  snprintf(args, sizeof args, "config show %s/exp.toml", tmpdir_path());
  assert_int_equal(ctk(args, out, sizeof out), 0);
  char real[512];
  assert_non_null(realpath(tmpdir_path(), real));
  snprintf(expected, sizeof expected, "protocol = \"%s/eager.so\"", real);
  assert_non_null(strstr(out, expected));
  assert_non_null(strstr(out, "[eager]\nunused = 7"));

  write_file("bad.toml", "protocol = \"./eager.so\"\n[eager]\nunused = 500\n");
  snprintf(args, sizeof args, "config check %s/bad.toml", tmpdir_path());
  assert_int_equal(ctk(args, out, sizeof out), 2);
  assert_non_null(strstr(out, "bad.toml:3: key 'eager.unused': expected an integer from 0 to 100"));
}

/* The wrong protocol fails, with a seed and a replay command that fails the same way. */
static void test_wrong_protocol_fails_with_seed(void **state) {
  (void)state;
  build_so("examples/eager/eager.c", "eager.so");
  char args[800], out[16384], replay[800];
  snprintf(args, sizeof args, "conform %s/eager.so --seeds 5 --out %s/out", tmpdir_path(),
           tmpdir_path());
  assert_int_equal(ctk(args, out, sizeof out), 1);
  /* Replicas that never talk diverge: the simulator's per-key order check (or, failing that,
   * the linearizability checker) says so. */
  assert_non_null(strstr(out, "FAIL  safety"));
  assert_true(strstr(out, "per-key order") || strstr(out, "not linearizable"));
  assert_non_null(strstr(out, "FAIL  quorum"));
  assert_non_null(strstr(out, "checks failed"));
  snprintf(replay, sizeof replay, "replay: ctk sim %s/out/safety.toml --seed 1", tmpdir_path());
  assert_non_null(strstr(out, replay));
  /* The failing seed's timeline is written next to it: a page with a lane per node. */
  snprintf(replay, sizeof replay, "timeline (open in a browser): %s/out/safety-seed-1.html",
           tmpdir_path());
  assert_non_null(strstr(out, replay));
  snprintf(replay, sizeof replay, "%s/out/safety-seed-1.html", tmpdir_path());
  FILE *page = fopen(replay, "r");
  assert_non_null(page);
  static char html[1 << 20];
  size_t got = fread(html, 1, sizeof html - 1, page);
  html[got] = 0;
  fclose(page);
  assert_non_null(strstr(html, "<svg"));
  assert_non_null(strstr(html, ">n2<"));
  snprintf(args, sizeof args, "sim %s/out/safety.toml --seed 1", tmpdir_path());
  assert_int_equal(ctk(args, out, sizeof out), 1);
  assert_true(strstr(out, "per-key order") || strstr(out, "linearizable     NO"));
}

/* new-protocol's skeleton builds with its own Makefile, loads and runs, and commits nothing. */
static void test_skeleton_builds_and_runs(void **state) {
  (void)state;
  char args[800], out[16384], cmd[800];
  snprintf(args, sizeof args, "new-protocol skel %s/skel", tmpdir_path());
  assert_int_equal(ctk(args, out, sizeof out), 0);
  assert_int_equal(ctk(args, out, sizeof out), 1); /* never overwrites */
  snprintf(cmd, sizeof cmd, "make -C %s/skel 2>&1", tmpdir_path());
  int rc = cli_run(cmd, out, sizeof out);
  if (rc) print_message("%s", out);
  assert_int_equal(rc, 0);
  write_file("skel.toml",
             "protocol = \"skel/skel.so\"\n[workload]\nduration_s = 1\nwarmup_s = 0\n"
             "[sim]\nliveness_s = 2\n[skel]\nheartbeat_ms = 20\n");
  snprintf(args, sizeof args, "sim %s/skel.toml", tmpdir_path());
  assert_int_equal(ctk(args, out, sizeof out), 1);
  assert_non_null(strstr(out, "protocol skel"));
  assert_non_null(strstr(out, "liveness"));
  snprintf(args, sizeof args, "conform %s/skel/skel.so --seeds 1 --out %s/skel-out", tmpdir_path(),
           tmpdir_path());
  assert_int_equal(ctk(args, out, sizeof out), 1);
  assert_non_null(strstr(out, "FAIL  progress"));
  assert_int_equal(ctk("new-protocol raft /nonexistent", out, sizeof out), 2);
}

/* Every built-in protocol passes (a short sweep: make test runs the long ones elsewhere). */
static void test_builtins_pass(void **state) {
  (void)state;
  for (size_t i = 0; i < ctk_protocol_count(); i++) {
    char args[300], out[8192];
    snprintf(args, sizeof args, "conform %s --seeds 20 --out %s/builtin", ctk_protocol_at(i)->name,
             tmpdir_path());
    assert_int_equal(ctk(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "PASS  progress"));
    assert_non_null(strstr(out, "0 of 7 checks failed"));
  }
  char out[1024];
  assert_int_equal(ctk("conform viewstamped", out, sizeof out), 2);
  assert_non_null(strstr(out, "unknown protocol \"viewstamped\""));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_path_resolution_and_options),
      cmocka_unit_test(test_wrong_protocol_fails_with_seed),
      cmocka_unit_test(test_skeleton_builds_and_runs),
      cmocka_unit_test(test_builtins_pass),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
