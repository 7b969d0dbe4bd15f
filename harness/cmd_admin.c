/* cmd_admin.c: `ctk admin FILE NODE REQUEST...`: an operator request to a running cluster.
 *
 * The request goes to NODE's client socket as an ADMIN frame (hostwire.h); the node steps its
 * protocol with it (CTK_EVENT_ADMIN) and answers with the result and a leader hint. A node that
 * is not the leader names the leader, and the request follows it (a few hops at most). With CURVE
 * the command connects as client-0 of the key directory, like the load generator. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "commands.h"
#include "config.h"
#include "hostwire.h"
#include "security.h"

#define ADMIN_TIMEOUT_MS 3000
#define ADMIN_MAX_HOPS   5

static void usage_admin(void) {
  fprintf(stderr, "usage: ctk admin FILE NODE add N | remove N | transfer N | force N,M,...\n");
}

/* One request to one node: 0 with its answer, -1 (message printed) when there is none. */
static int ask(const ctk_config *config, const ctk_keys *keys, int node, const char *request,
               int *rc, int *hint) {
  void *zmq = zmq_ctx_new();
  void *s = zmq ? zmq_socket(zmq, ZMQ_DEALER) : NULL;
  int result = -1;
  if (!s) {
    fprintf(stderr, "ctk admin: cannot open a socket\n");
    goto done;
  }
  int zero = 0, timeout = ADMIN_TIMEOUT_MS;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
  zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
  if ((keys && ctk_keys_secure_client(s, keys, node)) ||
      zmq_connect(s, config->cluster.endpoints[node])) {
    fprintf(stderr, "ctk admin: cannot connect to node %d at %s: %s\n", node,
            config->cluster.endpoints[node], zmq_strerror(errno));
    goto done;
  }
  wire_writer w;
  wire_writer_init(&w);
  hw_put_admin(&w, request, strlen(request));
  int sent = !w.failed && zmq_send(s, w.data, w.len, 0) == (int)w.len;
  wire_writer_free(&w);
  uint8_t buf[64];
  int n = sent ? zmq_recv(s, buf, sizeof buf, 0) : -1;
  if (n < 0 || (size_t)n > sizeof buf || hw_get_admin_reply(buf, (size_t)n, rc, hint)) {
    fprintf(stderr, "ctk admin: no answer from node %d at %s within %d ms\n", node,
            config->cluster.endpoints[node], ADMIN_TIMEOUT_MS);
    goto done;
  }
  result = 0;
done:
  if (s) zmq_close(s);
  if (zmq) zmq_ctx_term(zmq);
  return result;
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
  ctk_keys *keys = NULL;
  if (config.cluster.security == CTK_SECURITY_CURVE) {
    keys = calloc(1, sizeof *keys);
    char kerr[CTK_PATH_LEN + 128];
    if (!keys || ctk_keys_load(config.cluster.keys_dir, config.cluster.nodes, "client-0", keys,
                               kerr, sizeof kerr)) {
      fprintf(stderr, "cluster.keys: %s\n", keys ? kerr : "out of memory");
      free(keys);
      goto out;
    }
  }
  rc = 1;
  int target = (int)node, answer, hint;
  for (int hop = 0; hop < ADMIN_MAX_HOPS; hop++) {
    if (ask(&config, keys, target, request, &answer, &hint)) break;
    printf("node %d: %s %s", target, request, verdict(answer));
    if (answer == CTK_ERR_INVALID)
      printf(": malformed for this cluster, or %s does not support it", config.protocol_name);
    if (answer == CTK_ERR_REJECTED && hint < 0) printf("; it knows no leader: try another node");
    if (answer == CTK_OK || hint < 0 || force || answer != CTK_ERR_REJECTED) {
      printf("\n");
      rc = answer == CTK_OK ? 0 : 1;
      break;
    }
    printf("; the leader is node %d\n", hint);
    target = hint;
  }
  if (keys) memset(keys, 0, sizeof *keys);
  free(keys);
out:
  ctk_config_free(&config);
  return rc;
}
