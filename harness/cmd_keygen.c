/* cmd_keygen.c: `ctk keygen DIR [--nodes N] [--clients M]`: CURVE key pairs for a cluster (see
 * security.h): DIR/node-<i>.key and .pub for nodes 0 .. N-1, DIR/client-<k>.key and .pub for
 * clients 0 .. M-1. Existing keys are never overwritten. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "security.h"

static int parse_count(const char *flag, const char *value, int max, int *out) {
  char *end;
  long v = value ? strtol(value, &end, 10) : 0;
  if (!value || *end || v < 1 || v > max) {
    fprintf(stderr, "ctk keygen: %s expects a number from 1 to %d\n", flag, max);
    return -1;
  }
  *out = (int)v;
  return 0;
}

int ctk_cmd_keygen(int argc, char **argv) {
  const char *dir = NULL;
  int nodes = CTK_MAX_NODES, clients = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--nodes")) {
      if (parse_count("--nodes", i + 1 < argc ? argv[++i] : NULL, CTK_MAX_NODES, &nodes)) return 2;
    } else if (!strcmp(argv[i], "--clients")) {
      if (parse_count("--clients", i + 1 < argc ? argv[++i] : NULL, CTK_MAX_CLIENT_KEYS, &clients))
        return 2;
    } else if (argv[i][0] != '-' && !dir) {
      dir = argv[i];
    } else {
      fprintf(stderr, "ctk keygen: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (!dir) {
    fprintf(stderr, "usage: ctk keygen DIR [--nodes N] [--clients M]\n");
    return 2;
  }
  char err[CTK_PATH_LEN + 128];
  if (ctk_keygen(dir, nodes, clients, err, sizeof err)) {
    fprintf(stderr, "ctk keygen: %s\n", err);
    return 1;
  }
  printf(
      "ctk keygen: %d node and %d client key pairs in %s (secret keys *.key: keep them "
      "there, readable by their owner only)\n",
      nodes, clients, dir);
  return 0;
}
