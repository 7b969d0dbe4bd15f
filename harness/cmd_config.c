/* cmd_config.c: `ctk config`: check an experiment file, print it with every default filled in,
 * or print the defaults of a protocol. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"

static void config_usage(FILE *out) {
  fprintf(out,
          "usage: ctk config check FILE          validate an experiment file\n"
          "       ctk config show FILE           print it with every default filled in\n"
          "       ctk config defaults [PROTOCOL] print the defaults (raft when not given)\n");
}

/* "exp.toml: ok (protocol raft, 3 nodes, 8 clients, 10 s, 1 fault, seed 1)" */
static void config_print_summary(const ctk_config *config) {
  const ctk_workload *w = &config->workload;
  printf("%s: ok (protocol %s, %d node%s, %d client%s, ", config->path, config->protocol->name,
         config->cluster.nodes, config->cluster.nodes == 1 ? "" : "s", w->clients,
         w->clients == 1 ? "" : "s");
  if (w->ops > 0) {
    printf("%" PRId64 " ops", w->ops);
  } else {
    char duration[32];
    snprintf(duration, sizeof duration, "%.15g", w->duration_s);
    printf("%s s", duration);
  }
  printf(", %d fault%s%s, seed %" PRIu64 ")\n", config->n_faults, config->n_faults == 1 ? "" : "s",
         config->sim.random_faults ? " + random faults" : "", config->seed);
}

/* Options a protocol can judge only knowing the cluster (Multi-Paxos's q1 + q2 > nodes) are
 * checked by its create: try it once for node 0, so `check` fails where `sim` and `run` would.
 * Returns 0, or 2 after printing the protocol's message. */
static int config_try_create(const ctk_config *config) {
  const ctk_protocol_def *def = config->protocol;
  ctk_node_config nc = {.node_id = 0,
                        .n_nodes = config->cluster.nodes,
                        .seed = config->seed,
                        .members = config->cluster.members};
  char err[CTK_ERR_LEN] = "";
  ctk_proto *proto = def->create(&nc, config->protocol_options, err, sizeof err);
  if (proto) {
    def->destroy(proto);
    return 0;
  }
  fprintf(stderr, "%s: %s\n", config->path, err[0] ? err : "the protocol rejected its options");
  return 2;
}

/* Prints config as TOML on stdout. Returns the exit status. */
static int config_show(const ctk_config *config) {
  if (ctk_config_write(config, stdout) == 0) return 0;
  fprintf(stderr, "ctk config: cannot write to standard output: %s\n", strerror(errno));
  return 1;
}

int ctk_cmd_config(int argc, char **argv) {
  if (argc < 2) {
    config_usage(stderr);
    return 2;
  }
  const char *action = argv[1];
  if (!strcmp(action, "help") || !strcmp(action, "-h") || !strcmp(action, "--help")) {
    config_usage(stdout);
    return 0;
  }
  ctk_config config;
  char err[CTK_ERR_LEN];
  if (!strcmp(action, "check") || !strcmp(action, "show")) {
    if (argc != 3) {
      config_usage(stderr);
      return 2;
    }
    if (ctk_config_load(argv[2], &config, err, sizeof err)) {
      fprintf(stderr, "%s\n", err);
      return 2;
    }
    int status = config_try_create(&config);
    if (status == 0 && !strcmp(action, "check"))
      config_print_summary(&config);
    else if (status == 0)
      status = config_show(&config);
    ctk_config_free(&config);
    return status;
  }
  if (!strcmp(action, "defaults")) {
    if (argc > 3) {
      config_usage(stderr);
      return 2;
    }
    if (ctk_config_defaults(&config, argc == 3 ? argv[2] : NULL, err, sizeof err)) {
      fprintf(stderr, "ctk config defaults: %s\n", err);
      return 2;
    }
    int status = config_show(&config);
    ctk_config_free(&config);
    return status;
  }
  fprintf(stderr, "ctk config: unknown action '%s'\n", action);
  config_usage(stderr);
  return 2;
}
