/* test_bench.c: experiment matrices and their reports. [sweep] is read through the ordinary
 * loader (bad lists and bad values fail with the file, the line and the key); the points are the
 * cross product in order; `ctk bench --sim` measures a 2-point matrix, writes bench.json and
 * bench.csv, and a second run measures nothing again unless the configuration changed or
 * --fresh is given; `ctk plot` writes valid PNG and SVG files and a self-contained report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "experiment.h"
#include "tmpdir.h"

static const char *write_file(const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir_path(), name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

/* Loads text as an experiment; expects failure with a message containing want. */
static void expect_error(const char *text, const char *want) {
  const char *path = write_file("bad.toml", text);
  static ctk_experiment exp;
  char err[1024] = "";
  int rc = ctk_experiment_load(path, &exp, err, sizeof err);
  if (rc == 0 || !strstr(err, want))
    fail_msg("for:\n%s\nwanted an error containing \"%s\", got rc %d: \"%s\"", text, want, rc, err);
}

static void test_sweep_errors(void **state) {
  (void)state;
  expect_error("[sweep]\nclients = 4\n", "bad.toml:2: key 'sweep.clients': expected a list");
  expect_error("[sweep]\nclients = []\n", "bad.toml:2: key 'sweep.clients': expected a list");
  expect_error("[sweep]\nclients = [1, 0]\n",
               "bad.toml:2: key 'workload.clients': expected an integer from 1");
  expect_error("[sweep]\nclientz = [1, 2]\n",
               "bad.toml:2: unknown key 'workload.clientz' (did you mean 'clients'?)");
  expect_error("\n[sweep]\nprotocol = [\"raft\", \"rafft\"]\n", "bad.toml:3: key 'protocol'");
  expect_error("[sweep]\nraft.prevote = [1]\n",
               "bad.toml:2: key 'raft.prevote': expected true or false, got 1");
  expect_error("[sweep]\n\"fault.at_s\" = [1]\n", "[[fault]] entries cannot be swept");
  expect_error("[sweep]\nclients = [1]\n\"workload.clients\" = [2]\n",
               "bad.toml:3: key 'sweep.workload.clients': the same key as 'sweep.clients'");
  expect_error("[sweep]\nclients = [[1]]\n",
               "bad.toml:2: key 'sweep.clients[0]': expected a string");
  expect_error("repeat = 0\n", "bad.toml:1: key 'repeat': expected an integer from 1 to 100");
  /* A matrix is not an experiment `ctk run` or `ctk sim` takes. */
  const char *path = write_file("matrix.toml", "[sweep]\nclients = [1, 2]\n");
  char cmd[1024], out[4096];
  snprintf(cmd, sizeof cmd, "%s config check %s 2>&1", cli_bin(), path);
  assert_int_equal(cli_run(cmd, out, sizeof out), 2);
  assert_non_null(
      strstr(out, "matrix.toml:1: 'sweep' makes an experiment matrix: run it with 'ctk bench'"));
}

/* The errors table of the [sweep] section of configs/README.md: every row's example file gives
 * exactly the documented message ("\n" in the example stands for a line break). */
static void test_documented_sweep_errors(void **state) {
  (void)state;
  FILE *f = fopen("configs/README.md", "r");
  if (!f) fail_msg("cannot read configs/README.md (run the tests from the repository root)");
  static char line[4096];
  int in_section = 0, in_table = 0, rows = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "## ", 3)) in_section = strstr(line, "`[sweep]`") != NULL;
    if (!in_section) continue;
    if (strstr(line, "| error | example file | message |")) {
      in_table = 1;
      continue;
    }
    if (!in_table || line[0] != '|' || !strncmp(line, "|---", 4)) continue;
    /* | what | `example` | `message` |: the last two cells, each one code span */
    char *cells[2] = {NULL, NULL};
    char *end = strstr(line, "` |\n");
    char *mid = end ? strstr(line, "` | `") : NULL;
    while (mid && strstr(mid + 1, "` | `") && strstr(mid + 1, "` | `") < end)
      mid = strstr(mid + 1, "` | `");
    char *start = mid ? mid : NULL;
    while (start && start > line && strncmp(start, "| `", 3)) start--;
    if (!end || !mid || !start || start == mid)
      fail_msg("configs/README.md: a [sweep] error row without two code spans: %s", line);
    *mid = '\0';
    *end = '\0';
    cells[0] = start + 3;
    cells[1] = mid + 5;
    char text[512];
    size_t k = 0;
    for (const char *c = cells[0]; *c && k < sizeof text - 1; c++) {
      if (c[0] == '\\' && c[1] == 'n') {
        text[k++] = '\n';
        c++;
      } else {
        text[k++] = *c;
      }
    }
    text[k] = '\0';
    const char *path = write_file("exp.toml", text);
    static ctk_experiment exp;
    char err[1024] = "";
    if (ctk_experiment_load(path, &exp, err, sizeof err) == 0)
      fail_msg("configs/README.md: %s loads without an error", cells[0]);
    const char *shown = err + strlen(tmpdir_path()) + 1; /* "exp.toml:..." */
    if (strncmp(err, tmpdir_path(), strlen(tmpdir_path())) || strcmp(shown, cells[1]))
      fail_msg("configs/README.md: for %s\n  documented: %s\n  got:        %s", cells[0], cells[1],
               err);
    rows++;
  }
  fclose(f);
  assert_true(rows >= 8);
}

static void test_points(void **state) {
  (void)state;
  const char *path = write_file("points.toml",
                                "protocol = \"raft\"\nrepeat = 3\n"
                                "[workload]\nclients = 2\n"
                                "[sweep]\nprotocol = [\"raft\", \"zab\"]\n"
                                "clients = [1, 4, 16]\n"
                                "raft.prevote = [false]\n");
  static ctk_experiment exp;
  char err[1024];
  assert_int_equal(ctk_experiment_load(path, &exp, err, sizeof err), 0);
  assert_int_equal(exp.n_points, 6);
  assert_int_equal(exp.repeat, 3);
  assert_int_equal(exp.n_keys, 3);
  assert_string_equal(exp.keys[2].table, "raft");
  ctk_config config;
  char label[256], dir[256];
  /* The first key varies slowest: point 4 is zab with 4 clients. */
  assert_int_equal(
      ctk_experiment_point(&exp, 4, &config, label, sizeof label, dir, sizeof dir, err, sizeof err),
      0);
  assert_string_equal(label, "protocol=zab clients=4 raft.prevote=false");
  assert_string_equal(dir, "protocol-zab_clients-4_raft.prevote-false");
  assert_string_equal(config.protocol->name, "zab");
  assert_int_equal(config.workload.clients, 4);
  ctk_config_free(&config);
  assert_int_equal(
      ctk_experiment_point(&exp, 0, &config, label, sizeof label, dir, sizeof dir, err, sizeof err),
      0);
  assert_string_equal(config.protocol->name, "raft");
  assert_int_equal(config.workload.clients, 1);
  ctk_config_free(&config);
}

static json_t *load_bench_json(const char *dir) {
  char path[700];
  snprintf(path, sizeof path, "%s/bench.json", dir);
  json_t *doc = json_load_file(path, 0, NULL);
  assert_non_null(doc);
  return doc;
}

static int file_starts_with(const char *path, const char *magic, size_t len) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char buf[16] = {0};
  size_t got = fread(buf, 1, len, f);
  fclose(f);
  return got == len && memcmp(buf, magic, len) == 0;
}

static int file_contains(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  static char text[1 << 22];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  return strstr(text, needle) != NULL;
}

static void test_bench_sim_resume_and_plot(void **state) {
  (void)state;
  const char *matrix =
      "protocol = \"raft\"\nseed = 7\n"
      "[workload]\nduration_s = 1\nwarmup_s = 0.2\n"
      "[sweep]\nclients = [1, 4]\n";
  const char *path = write_file("two.toml", matrix);
  char out_dir[600], cmd[2048];
  static char out[1 << 16];
  snprintf(out_dir, sizeof out_dir, "%s/out", tmpdir_path());
  snprintf(cmd, sizeof cmd, "%s bench %s --sim --quiet --out %s 2>&1", cli_bin(), path, out_dir);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "2 run now, 0 already measured"));
  assert_non_null(strstr(out, "clients=4"));
  json_t *doc = load_bench_json(out_dir);
  const json_t *points = json_object_get(doc, "points");
  assert_int_equal(json_array_size(points), 2);
  for (size_t i = 0; i < 2; i++) {
    const json_t *p = json_array_get(points, i);
    assert_int_equal(json_integer_value(json_object_get(p, "reps_passed")), 1);
    assert_int_equal(json_integer_value(json_object_get(p, "clients")), i ? 4 : 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(p, "seeds"), 0)), 7);
    assert_true(
        json_number_value(json_object_get(json_object_get(p, "median"), "throughput_ops_s")) > 0);
    assert_non_null(strstr(json_string_value(json_object_get(p, "config")), "clients = "));
    assert_non_null(json_string_value(json_object_get(p, "git_revision")));
    assert_true(json_integer_value(json_object_get(json_object_get(p, "machine"), "cores")) >= 1);
  }
  /* More clients, more throughput, even in 1 s of virtual time. */
  assert_true(json_number_value(json_object_get(
                  json_object_get(json_array_get(points, 1), "median"), "throughput_ops_s")) >
              json_number_value(json_object_get(
                  json_object_get(json_array_get(points, 0), "median"), "throughput_ops_s")));
  json_decref(doc);
  char csv[700];
  snprintf(csv, sizeof csv, "%s/bench.csv", out_dir);
  assert_true(file_contains(csv, "point,host,protocol,nodes,clients,clients,reps_measured"));
  assert_true(file_contains(csv, "\nclients-4,sim,raft,3,4,4,1,1,"));

  char rep_toml[700];
  snprintf(rep_toml, sizeof rep_toml, "%s/points/clients-4/rep-1.toml", out_dir);
  assert_true(file_contains(rep_toml, "on the simulator (host: sim)\n"));
  assert_true(file_contains(rep_toml, "seed = 7\n"));

  /* Resumed: nothing runs again, and the report is the same. */
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "0 run now, 2 already measured"));
  /* A changed experiment runs again; --fresh runs everything. */
  write_file("two.toml",
             "protocol = \"raft\"\nseed = 7\n"
             "[workload]\nduration_s = 1\nwarmup_s = 0.2\n"
             "[sweep]\nclients = [1, 4, 2]\n");
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "1 run now, 2 already measured"));
  snprintf(cmd, sizeof cmd, "%s bench %s --sim --quiet --fresh --out %s 2>&1", cli_bin(), path,
           out_dir);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  assert_non_null(strstr(out, "3 run now, 0 already measured"));

  /* The charts: valid PNG and SVG files, and one report with every chart inside it. */
  snprintf(cmd, sizeof cmd, "%s plot %s 2>&1", cli_bin(), out_dir);
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  static const char *const charts[] = {"throughput-latency", "latency-cdf", "throughput-over-time",
                                       "msgs-per-op"};
  for (size_t i = 0; i < sizeof charts / sizeof charts[0]; i++) {
    char png[800], svg[800];
    snprintf(png, sizeof png, "%s/plots/%s.png", out_dir, charts[i]);
    snprintf(svg, sizeof svg, "%s/plots/%s.svg", out_dir, charts[i]);
    if (!file_starts_with(png, "\x89PNG\r\n\x1a\n", 8)) fail_msg("%s is not a PNG", png);
    if (!file_contains(svg, "<svg") || !file_contains(svg, "</svg>"))
      fail_msg("%s is not an SVG", svg);
  }
  char html[700];
  snprintf(html, sizeof html, "%s/plots/report.html", out_dir);
  assert_true(file_contains(html, "<table>"));
  assert_true(file_contains(html, "clients=4"));
  assert_true(file_contains(html, "Latency distribution</h2>\n<svg"));
  assert_false(file_contains(html, "src=\"http"));
  assert_false(file_contains(html, "<?xml"));
  /* No results, no plot. */
  snprintf(cmd, sizeof cmd, "%s plot %s 2>&1", cli_bin(), tmpdir_path());
  assert_int_equal(cli_run(cmd, out, sizeof out), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sweep_errors),
      cmocka_unit_test(test_documented_sweep_errors),
      cmocka_unit_test(test_points),
      cmocka_unit_test(test_bench_sim_resume_and_plot),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
