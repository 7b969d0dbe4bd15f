/* cmd_check.c: `ctk check HISTORY.jsonl [--quiet] [--max-states N]`, the linearizability checker
 * on a history file (see commands.h for the exit statuses). */
#include "commands.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checker.h"
#include "history.h"

enum { EXIT_LINEARIZABLE = 0, EXIT_NOT_LINEARIZABLE = 1, EXIT_BAD_INPUT = 2, EXIT_UNDECIDED = 3 };

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int usage(void) {
  fprintf(stderr,
          "usage: ctk check HISTORY.jsonl [--quiet] [--max-states N]\n"
          "  --quiet           print nothing when linearizable, only the verdict otherwise\n"
          "  --max-states N    search budget per key before answering undecided\n"
          "                    (default %llu)\n",
          (unsigned long long)CTK_CHECK_MAX_STATES_PER_KEY);
  return EXIT_BAD_INPUT;
}

/* Parses a positive count; returns 0, or -1 when s is not one. */
static int parse_count(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || n == 0) return -1;
  *out = n;
  return 0;
}

static int report(const char *path, const ctk_check_result *r, double ms, int quiet) {
  if (r->linearizable == 1) {
    if (!quiet)
      printf("%s: linearizable: ops=%zu keys=%zu states=%llu time_ms=%.1f\n", path, r->n_ops,
             r->n_keys, (unsigned long long)r->states_explored, ms);
    return EXIT_LINEARIZABLE;
  }
  if (r->linearizable == 0) {
    printf("%s: NOT linearizable: key \"%s\" (%zu of %zu ops)\n", path, r->bad_key, r->bad_key_ops,
           r->n_ops);
    if (!quiet && r->explanation) fputs(r->explanation, stdout);
    return EXIT_NOT_LINEARIZABLE;
  }
  printf("%s: undecided: ops=%zu keys=%zu states=%llu time_ms=%.1f\n", path, r->n_ops, r->n_keys,
         (unsigned long long)r->states_explored, ms);
  if (!quiet && r->explanation) fputs(r->explanation, stdout);
  return EXIT_UNDECIDED;
}

int ctk_cmd_check(int argc, char **argv) {
  const char *path = NULL;
  int quiet = 0;
  uint64_t max_states = 0; /* the default */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quiet") == 0) {
      quiet = 1;
    } else if (strcmp(argv[i], "--max-states") == 0) {
      if (i + 1 == argc || parse_count(argv[++i], &max_states) != 0) return usage();
    } else if (argv[i][0] == '-' || path) {
      return usage();
    } else {
      path = argv[i];
    }
  }
  if (!path) return usage();

  char err[512];
  double start = now_ms();
  ctk_history h;
  if (ctk_history_read_jsonl(path, &h, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    ctk_history_free(&h);
    return EXIT_BAD_INPUT;
  }
  ctk_check_result r;
  int rc = ctk_check_history_bounded(&h, max_states, &r, err, sizeof err);
  double ms = now_ms() - start;
  ctk_history_free(&h);
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", path, err);
    return EXIT_BAD_INPUT;
  }
  int status = report(path, &r, ms, quiet);
  ctk_check_result_free(&r);
  return status;
}
