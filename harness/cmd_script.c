/* cmd_script.c: `ctk script FILE [--check | --update]`: runs a scripted scenario (script.h) and
 * prints its output, or compares that output with the golden file FILE.out next to it (a diff on
 * a mismatch), or rewrites the golden file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "script.h"

#define SCRIPT_MAX_BYTES (4u << 20)
#define DIFF_MAX_LINES   4000 /* larger outputs are compared, and only their first change shown */

/* Reads a whole file (NUL-terminated, malloc'd) or returns NULL. */
static char *read_all(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(SCRIPT_MAX_BYTES + 1);
  size_t len = buf ? fread(buf, 1, SCRIPT_MAX_BYTES + 1, f) : 0;
  int bad = !buf || ferror(f) || len > SCRIPT_MAX_BYTES;
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  buf[len] = 0;
  if (len_out) *len_out = len;
  return buf;
}

/* Splits text into lines in place; returns how many (at most max). */
static size_t split_lines(char *text, char **lines, size_t max) {
  size_t n = 0;
  for (char *p = text; *p && n < max;) {
    lines[n++] = p;
    char *eol = strchr(p, '\n');
    if (!eol) break;
    *eol = 0;
    p = eol + 1;
  }
  return n;
}

/* A unified-style diff of the golden output (-) against the actual one (+), from their longest
 * common subsequence of lines. */
static void print_diff(const char *golden_path, char *want, char *got) {
  static char *a[DIFF_MAX_LINES], *b[DIFF_MAX_LINES];
  size_t na = split_lines(want, a, DIFF_MAX_LINES), nb = split_lines(got, b, DIFF_MAX_LINES);
  printf("--- %s (expected)\n+++ actual output\n", golden_path);
  unsigned *lcs = calloc((na + 1) * (nb + 1), sizeof *lcs);
  if (!lcs) return;
#define L(i, j) lcs[(i) * (nb + 1) + (j)]
  for (size_t i = na; i-- > 0;)
    for (size_t j = nb; j-- > 0;)
      L(i, j) = !strcmp(a[i], b[j])         ? L(i + 1, j + 1) + 1
                : L(i + 1, j) > L(i, j + 1) ? L(i + 1, j)
                                            : L(i, j + 1);
  size_t i = 0, j = 0;
  while (i < na || j < nb) {
    if (i < na && j < nb && !strcmp(a[i], b[j])) {
      i++, j++;
    } else if (i < na && (j == nb || L(i + 1, j) >= L(i, j + 1))) {
      printf("-%zu: %s\n", i + 1, a[i]);
      i++;
    } else {
      printf("+%zu: %s\n", j + 1, b[j]);
      j++;
    }
  }
#undef L
  free(lcs);
}

int ctk_cmd_script(int argc, char **argv) {
  const char *path = NULL;
  int check = 0, update = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--check"))
      check = 1;
    else if (!strcmp(argv[i], "--update"))
      update = 1;
    else if (argv[i][0] != '-' && !path)
      path = argv[i];
    else {
      fprintf(stderr, "ctk script: unexpected argument '%s'\n", argv[i]);
      path = NULL;
      break;
    }
  }
  if (!path || (check && update)) {
    fprintf(stderr, "usage: ctk script FILE [--check | --update]\n");
    return 2;
  }
  char *text = read_all(path, NULL);
  if (!text) {
    fprintf(stderr, "ctk script: cannot read %s\n", path);
    return 2;
  }
  char *output = NULL;
  size_t output_len = 0;
  FILE *out = open_memstream(&output, &output_len);
  if (!out) {
    free(text);
    fprintf(stderr, "ctk script: out of memory\n");
    return 2;
  }
  char err[1024] = "";
  int rc = ctk_script_run(path, text, out, err, sizeof err);
  fclose(out);
  free(text);
  char golden[4096];
  snprintf(golden, sizeof golden, "%s.out", path);
  int status = rc < 0 ? 2 : rc;
  if (!check) fwrite(output, 1, output_len, stdout);
  if (rc < 0) fprintf(stderr, "%s\n", err);
  if (rc >= 0 && update) {
    FILE *f = fopen(golden, "w");
    if (!f || fwrite(output, 1, output_len, f) != output_len || fclose(f)) {
      fprintf(stderr, "ctk script: cannot write %s\n", golden);
      status = 2;
    } else {
      fprintf(stderr, "wrote %s\n", golden);
    }
  }
  if (rc >= 0 && check) {
    char *want = read_all(golden, NULL);
    if (!want) {
      fprintf(stderr, "ctk script: cannot read %s (ctk script %s --update writes it)\n", golden,
              path);
      status = 2;
    } else if (strcmp(want, output)) {
      print_diff(golden, want, output);
      printf("%s: the output differs from %s\n", path, golden);
      status = 1;
    } else if (rc) {
      /* The golden file recorded the failure too: a failing scenario never passes --check. */
      printf("%s: matches %s, but an expectation failed\n", path, golden);
    } else {
      printf("%s: ok\n", path);
    }
    free(want);
  }
  free(output);
  return status;
}
