/* cmd_admin.c: `ctk admin FILE NODE REQUEST...`: an operator request to a running cluster.
 *
 * The request goes to NODE's client socket as an ADMIN frame (hostwire.h); the node steps its
 * protocol with it (CTK_EVENT_ADMIN) and answers with the result and a leader hint. A node that
 * is not the leader names the leader, and the request follows it (a few hops at most). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_client.h"
#include "commands.h"
#include "config.h"
#include "hostwire.h"

#define ADMIN_TIMEOUT_MS 3000
#define ADMIN_MAX_HOPS   5

static void usage_admin(void) {
  fprintf(stderr, "usage: ctk admin FILE NODE add N | remove N | transfer N | force N,M,...\n");
}

static const char *verdict(int rc) {
  switch (rc) {
  case CTK_OK: return "accepted";
  case CTK_ERR_REJECTED: return "refused here (not the leader, or a change is in progress)";
  case CTK_ERR_BUSY: return "refused for now (busy)";
  case CTK_ERR_INVALID: return "refused as invalid";
  default: return "refused";
  }
}

int ctk_cmd_admin(int argc, char **argv) {
  if (argc < 4) {
    usage_admin();
    return 2;
  }
  ctk_config config;
  char err[CTK_ERR_LEN];
  if (ctk_config_load(argv[1], &config, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  char *end;
  long node = strtol(argv[2], &end, 10);
  char request[HW_ADMIN_MAX_BYTES + 1] = "";
  size_t len = 0;
  for (int i = 3; i < argc; i++) {
    int n = snprintf(request + len, sizeof request - len, "%s%s", i > 3 ? " " : "", argv[i]);
    if (n < 0 || (size_t)n >= sizeof request - len) break;
    len += (size_t)n;
  }
  int rc = 2;
  if (*end || end == argv[2] || node < 0 || node >= config.cluster.nodes) {
    fprintf(stderr, "ctk admin: NODE must be a node id from 0 to %d\n", config.cluster.nodes - 1);
    goto out;
  }
  int force = strncmp(request, "force ", 6) == 0;
  if (strncmp(request, "add ", 4) && strncmp(request, "remove ", 7) &&
      strncmp(request, "transfer ", 9) && !force) {
    usage_admin();
    goto out;
  }
  if (force)
    fprintf(stderr,
            "WARNING: `%s` is UNSAFE. It makes exactly these nodes the members without the "
            "agreement of a majority of the current ones, to recover from the permanent loss of "
            "that majority. Entries the lost nodes committed and the survivors do not hold are "
            "lost for good, acknowledged writes included, and if a lost node ever comes back it "
            "may form a second cluster. Send it to every survivor, and never to a cluster whose "
            "majority is still alive.\n",
            request);
  rc = 1;
  int target = (int)node, answer, hint;
  for (int hop = 0; hop < ADMIN_MAX_HOPS; hop++) {
    char aerr[CTK_ERR_LEN];
    if (ctk_admin_send(&config, target, request, ADMIN_TIMEOUT_MS, &answer, &hint, aerr,
                       sizeof aerr)) {
      fprintf(stderr, "ctk admin: %s\n", aerr);
      break;
    }
    printf("node %d: %s %s", target, request, verdict(answer));
    if (answer == CTK_ERR_INVALID)
      printf(": malformed for this cluster, or %s does not support it", config.protocol_name);
    if (answer == CTK_ERR_REJECTED && hint < 0)
      printf(
          "; it names no leader to ask instead (it knows none, or it leads but cannot change "
          "the membership yet, as a ZAB leader synchronizing its followers): try again, or "
          "another node");
    if (answer == CTK_OK || hint < 0 || force || answer != CTK_ERR_REJECTED) {
      printf("\n");
      rc = answer == CTK_OK ? 0 : 1;
      break;
    }
    printf("; the leader is node %d\n", hint);
    target = hint;
  }
out:
  ctk_config_free(&config);
  return rc;
}
