/* admin.c: reading the operator requests of CTK_EVENT_ADMIN (admin.h). */
#include "admin.h"

#include <string.h>

/* Reads a node id below n at *p, advancing it. -1 when there is none. */
static int parse_node(const char **p, const char *end, int n) {
  int v = -1;
  while (*p < end && **p >= '0' && **p <= '9') {
    v = (v < 0 ? 0 : v * 10) + (**p - '0');
    (*p)++;
    if (v >= n) return -1;
  }
  return v;
}

int ctk_admin_parse(const uint8_t *data, size_t len, int n_nodes, ctk_admin_request *req) {
  static const char *const verbs[] = {"add ", "remove ", "transfer ", "force "};
  if (!data || len == 0 || len > 256) return -1;
  const char *p = (const char *)data, *end = p + len;
  int verb = -1;
  for (int k = 0; k < 4 && verb < 0; k++) {
    size_t vl = strlen(verbs[k]);
    if (len > vl && memcmp(p, verbs[k], vl) == 0) {
      verb = k;
      p += vl;
    }
  }
  if (verb < 0) return -1;
  uint32_t nodes = 0;
  int node;
  do {
    node = parse_node(&p, end, n_nodes);
    if (node < 0) return -1;
    nodes |= 1u << node;
  } while (verb == CTK_ADMIN_FORCE && p < end && *p == ',' && ++p < end);
  if (p != end) return -1;
  *req = (ctk_admin_request){(ctk_admin_verb)verb, node, nodes};
  return 0;
}
