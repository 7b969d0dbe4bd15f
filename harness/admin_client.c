/* admin_client.c: one operator request to one node (see admin_client.h). A fresh ZeroMQ context
 * and DEALER per request: requests are rare, and nothing lingers (LINGER 0). */
#include "admin_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "hostwire.h"
#include "security.h"

static int load_keys(const ctk_config *config, ctk_keys **keys, char *err, size_t err_len) {
  *keys = NULL;
  if (config->cluster.security != CTK_SECURITY_CURVE) return 0;
  *keys = calloc(1, sizeof **keys);
  char kerr[CTK_PATH_LEN + 128];
  if (!*keys || ctk_keys_load(config->cluster.keys_dir, config->cluster.nodes, "client-0", *keys,
                              kerr, sizeof kerr)) {
    snprintf(err, err_len, "cluster.keys: %s", *keys ? kerr : "out of memory");
    free(*keys);
    *keys = NULL;
    return -1;
  }
  return 0;
}

int ctk_admin_send(const ctk_config *config, int node, const char *request, int timeout_ms, int *rc,
                   int *leader_hint, char *err, size_t err_len) {
  ctk_keys *keys;
  if (load_keys(config, &keys, err, err_len)) return -1;
  void *zmq = zmq_ctx_new();
  void *s = zmq ? zmq_socket(zmq, ZMQ_DEALER) : NULL;
  int result = -1;
  const char *endpoint = config->cluster.endpoints[node];
  if (!s) {
    snprintf(err, err_len, "cannot open a socket");
    goto done;
  }
  int zero = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
  zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
  if ((keys && ctk_keys_secure_client(s, keys, node)) || zmq_connect(s, endpoint)) {
    snprintf(err, err_len, "cannot connect to node %d at %s: %s", node, endpoint,
             zmq_strerror(errno));
    goto done;
  }
  wire_writer w;
  wire_writer_init(&w);
  hw_put_admin(&w, request, strlen(request));
  int sent = !w.failed && zmq_send(s, w.data, w.len, 0) == (int)w.len;
  wire_writer_free(&w);
  uint8_t buf[64];
  int n = sent ? zmq_recv(s, buf, sizeof buf, 0) : -1;
  if (n < 0 || (size_t)n > sizeof buf || hw_get_admin_reply(buf, (size_t)n, rc, leader_hint)) {
    snprintf(err, err_len, "no answer from node %d at %s within %d ms", node, endpoint, timeout_ms);
    goto done;
  }
  result = 0;
done:
  if (s) zmq_close(s);
  if (zmq) zmq_ctx_term(zmq);
  if (keys) memset(keys, 0, sizeof *keys);
  free(keys);
  return result;
}
