/* main.c: the `ctk` command line: one subcommand per job, each in its own cmd_*.c file. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "protocol.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: ctk COMMAND [ARGS]\n"
          "\n"
          "  sim FILE.toml [--seed N] [--trace FILE] [--history FILE] [--timeline] [--html FILE]\n"
          "                [--shiviz FILE] [--protocol NAME]\n"
          "                       run an experiment in the deterministic simulator\n"
          "  script FILE [--check | --update]\n"
          "                       run a scripted scenario (FILE.out: its expected output)\n"
          "  sweep FILE.toml [--seeds N] [--first S] [--jobs J]\n"
          "                       run it over many seeds; report every failing seed\n"
          "  run FILE.toml [--json FILE] [--out DIR] [--protocol NAME] [--attach] [--quiet]\n"
          "                       run it on a local cluster of real processes (ZeroMQ)\n"
          "  compare FILE.toml [--protocols a,b,...] [--out DIR] [--json FILE] [--csv FILE]\n"
          "                       run it for each protocol in turn; print them side by side\n"
          "  node FILE.toml --id N [--dir DIR] [--control ENDPOINT]\n"
          "                       run one node by hand (clusters across machines)\n"
          "  keygen DIR [--nodes N] [--clients M]\n"
          "                       CURVE key pairs for clusters with security = \"curve\"\n"
          "  check HISTORY.jsonl  check a client history for linearizability\n"
          "  config check FILE    validate an experiment file\n"
          "  config show FILE     print it with every default filled in\n"
          "  config defaults [PROTOCOL]\n"
          "                       print the default experiment\n"
          "  protocols            list the protocols\n"
          "  conform PROTOCOL|PATH.so [--seeds N] [--nodes N] [--out DIR]\n"
          "                       run the conformance suite against a protocol\n"
          "  new-protocol NAME DIR\n"
          "                       write a skeleton protocol to build out of tree (NAME.so)\n"
          "\n"
          "See README.md and configs/README.md.\n");
}

static int list_protocols(void) {
  for (size_t i = 0; i < ctk_protocol_count(); i++) {
    const ctk_protocol_def *p = ctk_protocol_at(i);
    printf("%-12s %s\n", p->name, p->summary);
    for (size_t k = 0; k < p->n_options; k++)
      printf("    %-28s %s\n", p->options[k].key, p->options[k].help);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
      !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "sim")) return ctk_cmd_sim(argc - 1, argv + 1);
  if (!strcmp(cmd, "script")) return ctk_cmd_script(argc - 1, argv + 1);
  if (!strcmp(cmd, "sweep")) return ctk_cmd_sweep(argc - 1, argv + 1);
  if (!strcmp(cmd, "run")) return ctk_cmd_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "compare")) return ctk_cmd_compare(argc - 1, argv + 1);
  if (!strcmp(cmd, "node")) return ctk_cmd_node(argc - 1, argv + 1);
  if (!strcmp(cmd, "check")) return ctk_cmd_check(argc - 1, argv + 1);
  if (!strcmp(cmd, "config")) return ctk_cmd_config(argc - 1, argv + 1);
  if (!strcmp(cmd, "keygen")) return ctk_cmd_keygen(argc - 1, argv + 1);
  if (!strcmp(cmd, "protocols")) return list_protocols();
  if (!strcmp(cmd, "conform")) return ctk_cmd_conform(argc - 1, argv + 1);
  if (!strcmp(cmd, "new-protocol")) return ctk_cmd_new_protocol(argc - 1, argv + 1);
  fprintf(stderr, "ctk: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
