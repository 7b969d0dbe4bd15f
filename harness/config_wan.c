/* config_wan.c: `[cluster] wan`, the latency matrix between named sites that both hosts use: a
 * matrix built into ctk by name, or a matrix file. The simulator delays each message by the
 * matrix; `ctk run` builds the same delays between real processes (netem.h).
 *
 * A matrix file is TOML with two keys:
 *   sites = ["virginia", "california", ...]          # 1 to 16 distinct names
 *   latency_ms = [[0, 36, ...], [36, 0, ...], ...]   # one-way delay, row: from, column: to
 * A round trip between sites a and b takes latency_ms[a][b] + latency_ms[b][a]. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

/* The five sites of the EPaxos paper's wide-area evaluation (Moraru et al., SOSP 2013: Virginia,
 * California, Oregon, Ireland, Japan), one-way delays of about half the round trips between
 * those regions; the numbers configs/scenarios/epaxos-wan.toml has always used. */
static const char epaxos5_text[] =
    "sites = [\"virginia\", \"california\", \"oregon\", \"ireland\", "
    "\"japan\"]\n"
    "latency_ms = [\n"
    "  [0, 36, 40, 38, 73],\n"
    "  [36, 0, 10, 69, 54],\n"
    "  [40, 10, 0, 66, 49],\n"
    "  [38, 69, 66, 0, 110],\n"
    "  [73, 54, 49, 110, 0],\n"
    "]\n";

typedef struct wan_builtin {
  const char *name;
  const char *text;
} wan_builtin;

static const wan_builtin wan_builtins[] = {{"epaxos5", epaxos5_text}};
#define WAN_N_BUILTINS (sizeof wan_builtins / sizeof wan_builtins[0])

/* A value names a file when it has a '/' or ends in ".toml"; otherwise a built-in matrix. */
static int wan_is_path(const char *value) {
  size_t n = strlen(value);
  return strchr(value, '/') || (n > 5 && strcmp(value + n - 5, ".toml") == 0);
}

/* Reads a parsed matrix document into config->sim; messages name `name` (the file). */
static int wan_read_doc(ctk_toml_doc *doc, const char *name, ctk_sim_config *sim, char *err,
                        size_t err_len) {
  if (!doc) return -1;
  cfg_reader reader = {name, err, err_len, NULL};
  const ctk_toml_node *root = ctk_toml_root(doc);
  static const char *const keys[] = {"sites", "latency_ms"};
  const ctk_toml_node *names = ctk_toml_table_get(root, "sites");
  const ctk_toml_node *latency = ctk_toml_table_get(root, "latency_ms");
  int rc = cfg_check_keys(&reader, root, "", keys, 2);
  if (rc == 0 && (!names || !latency))
    rc = cfg_fail(&reader, 1, "key '%s': required in a matrix file (with %s)",
                  names ? "latency_ms" : "sites", names ? "sites" : "latency_ms");
  if (rc == 0) rc = config_read_site_names(&reader, names, "sites", sim);
  if (rc == 0) rc = config_read_latency(&reader, latency, "latency_ms", "sites", sim);
  ctk_toml_free(doc);
  return rc;
}

/* The path of a matrix file, relative to the experiment file's directory, made absolute. */
static int wan_resolve_path(const cfg_reader *r, const ctk_toml_node *node, const char *value,
                            char *out, size_t out_len) {
  char joined[CTK_PATH_LEN + PATH_MAX], resolved[PATH_MAX];
  if (value[0] == '/') {
    snprintf(joined, sizeof joined, "%s", value);
  } else {
    const char *slash = strrchr(r->file, '/');
    snprintf(joined, sizeof joined, "%.*s/%s", slash ? (int)(slash - r->file) : 1,
             slash ? r->file : ".", value);
  }
  if (!realpath(joined, resolved))
    return cfg_fail(r, ctk_toml_line(node), "key 'cluster.wan': cannot read the matrix file %s: %s",
                    joined, strerror(errno));
  int n = snprintf(out, out_len, "%s", resolved);
  if (n < 0 || (size_t)n >= out_len)
    return cfg_fail(r, ctk_toml_line(node), "key 'cluster.wan': the path is too long");
  return 0;
}

int config_read_wan(const cfg_reader *r, const ctk_toml_node *node, ctk_config *config) {
  char expected[256];
  size_t used = (size_t)snprintf(expected, sizeof expected, "a built-in matrix (");
  for (size_t i = 0; i < WAN_N_BUILTINS; i++)
    used += (size_t)snprintf(expected + used, sizeof expected - used, "%s\"%s\"", i ? ", " : "",
                             wan_builtins[i].name);
  snprintf(expected + used, sizeof expected - used,
           ") or the path of a matrix file (with a '/' or ending in .toml)");
  const char *value;
  if (cfg_node_string(r, node, "cluster.wan", expected, CTK_PATH_LEN / 2, &value)) return -1;
  ctk_cluster *cluster = &config->cluster;
  char inner[CTK_ERR_LEN];
  ctk_toml_doc *doc = NULL;
  if (wan_is_path(value)) {
    if (wan_resolve_path(r, node, value, cluster->wan, sizeof cluster->wan)) return -1;
    doc = ctk_toml_parse_file(cluster->wan, inner, sizeof inner);
  } else {
    for (size_t i = 0; i < WAN_N_BUILTINS && !doc; i++)
      if (strcmp(wan_builtins[i].name, value) == 0) {
        snprintf(cluster->wan, sizeof cluster->wan, "%s", value);
        doc = ctk_toml_parse_string(wan_builtins[i].text, strlen(wan_builtins[i].text), value,
                                    inner, sizeof inner);
      }
    if (!cluster->wan[0]) return cfg_fail_expected(r, node, "cluster.wan", expected);
  }
  if (wan_read_doc(doc, cluster->wan, &config->sim, inner, sizeof inner))
    return cfg_fail(r, ctk_toml_line(node), "key 'cluster.wan': %s", inner);
  return 0;
}
