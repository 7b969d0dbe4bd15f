/* cmd_conform.c: `ctk conform PROTOCOL`: the conformance suite (conform.h) against a built-in
 * protocol or a shared object, one graded line per check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "conform.h"

static void usage_conform(void) {
  fprintf(stderr, "usage: ctk conform PROTOCOL|PATH.so [--seeds N] [--nodes N] [--out DIR]\n");
}

static int parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

int ctk_cmd_conform(int argc, char **argv) {
  ctk_conform_options o = {.protocol = NULL, .seeds = 50, .nodes = 3, .out_dir = NULL};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
      if (parse_int(argv[++i], 1, 100000, &o.seeds)) {
        fprintf(stderr, "ctk conform: --seeds takes 1 to 100000, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--nodes") && i + 1 < argc) {
      if (parse_int(argv[++i], 3, CTK_MAX_NODES, &o.nodes)) {
        fprintf(stderr, "ctk conform: --nodes takes 3 to %d, got '%s'\n", CTK_MAX_NODES, argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
      o.out_dir = argv[++i];
    } else if (argv[i][0] != '-' && !o.protocol) {
      o.protocol = argv[i];
    } else {
      usage_conform();
      return 2;
    }
  }
  if (!o.protocol) {
    usage_conform();
    return 2;
  }
  /* Load it once up front: a protocol that cannot be loaded is a usage error, not a failed
   * check. */
  char err[CTK_ERR_LEN];
  ctk_config probe;
  if (ctk_config_defaults(&probe, o.protocol, err, sizeof err)) {
    fprintf(stderr, "ctk conform: %s\n", err);
    return 2;
  }
  char name[CTK_NAME_LEN], out_dir[CTK_PATH_LEN];
  snprintf(name, sizeof name, "%s", probe.protocol->name);
  ctk_config_free(&probe);
  if (!o.out_dir) {
    snprintf(out_dir, sizeof out_dir, "conform-%s", name);
    o.out_dir = out_dir;
  }
  printf("ctk conform: protocol %s, %d nodes, %d seeds of random faults\n", name, o.nodes, o.seeds);
  int failed = 0;
  double total_s = 0;
  for (int i = 0; i < ctk_conform_count(); i++) {
    ctk_conform_result r;
    if (ctk_conform_run(i, &o, &r, err, sizeof err)) {
      fprintf(stderr, "ctk conform: %s: %s\n", ctk_conform_name(i), err);
      return 2;
    }
    total_s += r.wall_s;
    const char *verdict = r.verdict == CTK_CONFORM_PASS   ? "PASS"
                          : r.verdict == CTK_CONFORM_FAIL ? "FAIL"
                                                          : "SKIP";
    printf("%s  %-10s %s (%.1f s)\n", verdict, r.name, r.detail, r.wall_s);
    if (r.verdict == CTK_CONFORM_FAIL) {
      failed++;
      printf("      seed %llu; replay: ctk sim %s --seed %llu\n", (unsigned long long)r.seed,
             r.replay, (unsigned long long)r.seed);
      if (r.timeline[0]) printf("      timeline (open in a browser): %s\n", r.timeline);
    }
  }
  printf("%d of %d checks failed (%.1f s)\n", failed, ctk_conform_count(), total_s);
  return failed ? 1 : 0;
}
