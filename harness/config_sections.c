/* config_sections.c: the [cluster], [workload] and [sim] tables of an experiment file, read and
 * checked against the schema documented in configs/README.md. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

const char *const config_distribution_names[CONFIG_N_DISTRIBUTIONS] = {"uniform", "zipf",
                                                                       "conflict"};

void config_default_endpoints(ctk_cluster *cluster) {
  for (int i = 0; i < cluster->nodes; i++)
    snprintf(cluster->endpoints[i], CTK_ENDPOINT_LEN, "tcp://127.0.0.1:%d", cluster->base_port + i);
}

/* ---- [cluster] ---- */

/* "tcp://HOST:PORT": a host of printable characters without spaces, a port from 1 to 65535. */
static int cluster_endpoint_is_valid(const char *endpoint) {
  const char *prefix = "tcp://";
  if (strncmp(endpoint, prefix, strlen(prefix)) != 0) return 0;
  const char *host = endpoint + strlen(prefix);
  const char *colon = strrchr(host, ':');
  if (!colon || colon == host) return 0;
  for (const char *c = host; c < colon; c++)
    if (*c <= ' ' || *c == 0x7f) return 0;
  const char *port = colon + 1;
  size_t digits = strlen(port);
  if (digits == 0 || digits > 5 || strspn(port, "0123456789") != digits) return 0;
  long value = strtol(port, NULL, 10);
  return value >= 1 && value <= 65535;
}

#define CLUSTER_ENDPOINT_EXPECTED \
  "a \"tcp://host:port\" endpoint (port 1 to 65535, at most 127 bytes)"

static int cluster_read_endpoints(const cfg_reader *r, const ctk_toml_node *node,
                                  ctk_cluster *cluster) {
  if (!ctk_toml_is_array(node))
    return cfg_fail_expected(r, node, "cluster.endpoints",
                             "an array of \"tcp://host:port\" strings, one per node");
  size_t n = ctk_toml_array_size(node);
  if (n != (size_t)cluster->nodes)
    return cfg_fail(r, ctk_toml_line(node),
                    "key 'cluster.endpoints': expected %d endpoints (one per node), got %zu",
                    cluster->nodes, n);
  for (size_t i = 0; i < n; i++) {
    const ctk_toml_node *element = ctk_toml_array_at(node, i);
    char path[CFG_PATH_LEN];
    snprintf(path, sizeof path, "cluster.endpoints[%zu]", i);
    const char *endpoint;
    if (cfg_node_string(r, element, path, CLUSTER_ENDPOINT_EXPECTED, CTK_ENDPOINT_LEN, &endpoint))
      return -1;
    if (!cluster_endpoint_is_valid(endpoint))
      return cfg_fail_expected(r, element, path, CLUSTER_ENDPOINT_EXPECTED);
    for (size_t j = 0; j < i; j++)
      if (strcmp(cluster->endpoints[j], endpoint) == 0)
        return cfg_fail(r, ctk_toml_line(element),
                        "key '%s': endpoint \"%s\" is already used by node %zu", path, endpoint, j);
    snprintf(cluster->endpoints[i], CTK_ENDPOINT_LEN, "%s", endpoint);
  }
  return 0;
}

/* security = "none" | "curve", and keys = DIR with curve only. */
static int cluster_read_security(const cfg_reader *r, const ctk_toml_node *table,
                                 ctk_cluster *cluster) {
  static const char *const names[] = {"none", "curve"};
  int security = CTK_SECURITY_NONE;
  if (cfg_choice(r, table, "cluster", "security", names, 2, &security) < 0) return -1;
  cluster->security = (ctk_security)security;
  const ctk_toml_node *keys = ctk_toml_table_get(table, "keys");
  if (!keys) {
    if (cluster->security == CTK_SECURITY_CURVE)
      return cfg_fail(r, ctk_toml_line(ctk_toml_table_get(table, "security")),
                      "key 'cluster.security': \"curve\" needs cluster.keys, a directory of keys "
                      "written by ctk keygen");
    return 0;
  }
  if (cluster->security != CTK_SECURITY_CURVE)
    return cfg_fail(r, ctk_toml_line(keys),
                    "key 'cluster.keys': only used with security = \"curve\"");
  const char *dir;
  if (cfg_node_string(r, keys, "cluster.keys", "a directory of keys written by ctk keygen",
                      CTK_PATH_LEN / 2, &dir))
    return -1;
  /* Relative to the file's directory, made absolute: the resolved config a run writes next to
   * its results (and its nodes read) lives elsewhere. */
  if (dir[0] == '/') {
    snprintf(cluster->keys_dir, sizeof cluster->keys_dir, "%s", dir);
    return 0;
  }
  char base[CTK_PATH_LEN], absolute[PATH_MAX];
  const char *slash = strrchr(r->file, '/');
  snprintf(base, sizeof base, "%.*s", slash ? (int)(slash - r->file) : 1, slash ? r->file : ".");
  if (slash == r->file) snprintf(base, sizeof base, "/");
  int n = snprintf(cluster->keys_dir, sizeof cluster->keys_dir, "%s/%s",
                   realpath(base, absolute) ? absolute : base, dir);
  if (n < 0 || (size_t)n >= sizeof cluster->keys_dir)
    return cfg_fail(r, ctk_toml_line(keys),
                    "key 'cluster.keys': the path is too long once made "
                    "absolute (at most %zu bytes)",
                    sizeof cluster->keys_dir - 1);
  return 0;
}

int config_read_cluster(const cfg_reader *r, const ctk_toml_node *table, ctk_config *config) {
  static const char *const keys[] = {"nodes",    "base_port", "endpoints", "sites",
                                     "security", "keys",      "wan"};
  if (cfg_expect_table(r, table, "cluster") ||
      cfg_check_keys(r, table, "cluster", keys, sizeof keys / sizeof keys[0]))
    return -1;
  ctk_cluster *cluster = &config->cluster;
  if (cfg_int(r, table, "cluster", "nodes", 1, CTK_MAX_NODES, &cluster->nodes) < 0 ||
      cfg_int(r, table, "cluster", "base_port", 1024, 65535 - cluster->nodes, &cluster->base_port) <
          0)
    return -1;
  config_default_endpoints(cluster);
  const ctk_toml_node *endpoints = ctk_toml_table_get(table, "endpoints");
  if (endpoints && cluster_read_endpoints(r, endpoints, cluster)) return -1;
  if (cluster_read_security(r, table, cluster)) return -1;
  const ctk_toml_node *wan = ctk_toml_table_get(table, "wan");
  return wan ? config_read_wan(r, wan, config) : 0;
}

int config_read_cluster_sites(const cfg_reader *r, const ctk_toml_node *cluster_table,
                              ctk_config *config) {
  const ctk_toml_node *node = ctk_toml_table_get(cluster_table, "sites");
  if (!node) return 0;
  const ctk_sim_config *sim = &config->sim;
  ctk_cluster *cluster = &config->cluster;
  if (!ctk_toml_is_array(node))
    return cfg_fail_expected(r, node, "cluster.sites", "an array of site names, one per node");
  if (sim->n_sites == 0)
    return cfg_fail(r, ctk_toml_line(node),
                    "key 'cluster.sites': needs cluster.wan or sim.site_names to say which sites "
                    "exist");
  size_t n = ctk_toml_array_size(node);
  if (n != (size_t)cluster->nodes)
    return cfg_fail(r, ctk_toml_line(node),
                    "key 'cluster.sites': expected %d site names (one per node), got %zu",
                    cluster->nodes, n);
  char expected[CTK_MAX_SITES * (CTK_NAME_LEN + 4) + 64];
  size_t used = (size_t)snprintf(expected, sizeof expected, "one of %s (",
                                 cluster->wan[0] ? "the matrix's sites" : "sim.site_names");
  for (int s = 0; s < sim->n_sites && used < sizeof expected; s++)
    used += (size_t)snprintf(expected + used, sizeof expected - used, "%s\"%s\"", s ? ", " : "",
                             sim->site_names[s]);
  if (used < sizeof expected) snprintf(expected + used, sizeof expected - used, ")");
  for (size_t i = 0; i < n; i++) {
    const ctk_toml_node *element = ctk_toml_array_at(node, i);
    char path[CFG_PATH_LEN];
    snprintf(path, sizeof path, "cluster.sites[%zu]", i);
    const char *name;
    if (cfg_node_string(r, element, path, expected, CTK_NAME_LEN, &name)) return -1;
    int site = -1;
    for (int s = 0; s < sim->n_sites && site < 0; s++)
      if (strcmp(sim->site_names[s], name) == 0) site = s;
    if (site < 0) return cfg_fail_expected(r, element, path, expected);
    cluster->site_of_node[i] = site;
  }
  return 0;
}

/* ---- [workload] ---- */

/* duration_s, ops and warmup_s: a run is bounded by time or by a count of operations. */
static int workload_read_length(const cfg_reader *r, const ctk_toml_node *table, ctk_workload *w) {
  int duration_given =
      cfg_number(r, table, "workload", "duration_s", 0, 1, CONFIG_MAX_S, &w->duration_s);
  if (duration_given < 0) return -1;
  int ops_given = cfg_int64(r, table, "workload", "ops", 0, INT64_MAX, &w->ops);
  if (ops_given < 0) return -1;
  int warmup_given = cfg_number(r, table, "workload", "warmup_s", 0, 0, CONFIG_MAX_S, &w->warmup_s);
  if (warmup_given < 0) return -1;
  if (w->ops > 0) {
    if (duration_given)
      return cfg_fail(r, ctk_toml_line(ctk_toml_table_get(table, "ops")),
                      "key 'workload.ops': give duration_s or ops, not both");
    w->duration_s = 0;
    return 0;
  }
  if (w->warmup_s < w->duration_s) return 0;
  char limit[32];
  if (warmup_given) {
    char expected[96];
    cfg_format_double(w->duration_s, limit, sizeof limit);
    snprintf(expected, sizeof expected, "a number >= 0 and below duration_s (%s)", limit);
    return cfg_fail_expected(r, ctk_toml_table_get(table, "warmup_s"), "workload.warmup_s",
                             expected);
  }
  char expected[96];
  cfg_format_double(w->warmup_s, limit, sizeof limit);
  snprintf(expected, sizeof expected, "a number above warmup_s (%s)", limit);
  return cfg_fail_expected(r, ctk_toml_table_get(table, "duration_s"), "workload.duration_s",
                           expected);
}

int config_read_workload(const cfg_reader *r, const ctk_toml_node *table, ctk_config *config) {
  static const char *const keys[] = {"clients",
                                     "duration_s",
                                     "ops",
                                     "warmup_s",
                                     "read_ratio",
                                     "cas_ratio",
                                     "keys",
                                     "distribution",
                                     "zipf_s",
                                     "conflict_pct",
                                     "value_bytes",
                                     "rate",
                                     "client_timeout_ms",
                                     "max_attempts",
                                     "sticky_sessions",
                                     "stale_reads"};
  if (cfg_expect_table(r, table, "workload") ||
      cfg_check_keys(r, table, "workload", keys, sizeof keys / sizeof keys[0]))
    return -1;
  ctk_workload *w = &config->workload;
  const char *s = "workload";
  int distribution = (int)w->distribution;
  if (cfg_int(r, table, s, "clients", 1, CTK_MAX_CLIENTS, &w->clients) < 0 ||
      workload_read_length(r, table, w) < 0 ||
      cfg_number(r, table, s, "read_ratio", 0, 0, 1, &w->read_ratio) < 0 ||
      cfg_number(r, table, s, "cas_ratio", 0, 0, 1, &w->cas_ratio) < 0 ||
      cfg_int64(r, table, s, "keys", 1, CONFIG_MAX_KEYS, &w->keys) < 0 ||
      cfg_choice(r, table, s, "distribution", config_distribution_names, CONFIG_N_DISTRIBUTIONS,
                 &distribution) < 0 ||
      cfg_number(r, table, s, "zipf_s", 0, 1, 10, &w->zipf_s) < 0 ||
      cfg_number(r, table, s, "conflict_pct", 0, 0, 100, &w->conflict_pct) < 0 ||
      cfg_int(r, table, s, "value_bytes", 1, CTK_MAX_COMMAND_BYTES / 2, &w->value_bytes) < 0 ||
      cfg_number(r, table, s, "rate", 0, 0, CONFIG_MAX_RATE, &w->rate) < 0 ||
      cfg_number(r, table, s, "client_timeout_ms", 0, 1, CONFIG_MAX_MS, &w->client_timeout_ms) <
          0 ||
      cfg_int(r, table, s, "max_attempts", 1, 1000, &w->max_attempts) < 0 ||
      cfg_bool(r, table, s, "sticky_sessions", &w->sticky_sessions) < 0 ||
      cfg_bool(r, table, s, "stale_reads", &w->stale_reads) < 0)
    return -1;
  w->distribution = (ctk_distribution)distribution;
  return 0;
}

/* ---- [node] ---- */

const char *const config_store_names[CONFIG_N_STORES] = {"wal", "lmdb"};

int config_read_node(const cfg_reader *r, const ctk_toml_node *table, ctk_config *config) {
  static const char *const keys[] = {"store", "sync", "batch_max", "max_frame_bytes"};
  if (cfg_expect_table(r, table, "node") ||
      cfg_check_keys(r, table, "node", keys, sizeof keys / sizeof keys[0]))
    return -1;
  ctk_node_settings *node = &config->node;
  int store = (int)node->store;
  if (cfg_choice(r, table, "node", "store", config_store_names, CONFIG_N_STORES, &store) < 0 ||
      cfg_bool(r, table, "node", "sync", &node->sync) < 0 ||
      cfg_int(r, table, "node", "batch_max", 1, 65536, &node->batch_max) < 0 ||
      /* Below the largest protocol message a lagging node could never be caught up. */
      cfg_int(r, table, "node", "max_frame_bytes", (int)CTK_MAX_MESSAGE_BYTES + 64, 64 << 20,
              &node->max_frame_bytes) < 0)
    return -1;
  node->store = (ctk_store_choice)store;
  return 0;
}

/* ---- [sim] ---- */

/* delay_ms: [lo, hi] or one number. */
static int sim_read_delay(const cfg_reader *r, const ctk_toml_node *node, double delay_ms[2]) {
  double lo = NAN, hi = NAN;
  int64_t integer;
  if (ctk_toml_get_integer(node, &integer) == 0) {
    lo = hi = (double)integer;
  } else if (ctk_toml_get_float(node, &lo) == 0) {
    hi = lo;
  } else if (ctk_toml_array_size(node) == 2) {
    for (int k = 0; k < 2; k++) {
      const ctk_toml_node *element = ctk_toml_array_at(node, (size_t)k);
      double *v = k == 0 ? &lo : &hi;
      if (ctk_toml_get_integer(element, &integer) == 0)
        *v = (double)integer;
      else
        ctk_toml_get_float(element, v);
    }
  }
  if (!(lo >= 0 && lo <= hi && hi <= CONFIG_MAX_MS))
    return cfg_fail_expected(r, node, "sim.delay_ms",
                             "[lo, hi] with 0 <= lo <= hi <= 1000000000, or one number");
  delay_ms[0] = lo;
  delay_ms[1] = hi;
  return 0;
}

/* The site names of a latency matrix: `key` is "sim.site_names", or "sites" in a matrix file. */
int config_read_site_names(const cfg_reader *r, const ctk_toml_node *node, const char *key,
                           ctk_sim_config *sim) {
  size_t n = ctk_toml_array_size(node);
  if (!ctk_toml_is_array(node) || n == 0 || n > CTK_MAX_SITES)
    return cfg_fail_expected(r, node, key, "an array of 1 to 16 site names");
  for (size_t i = 0; i < n; i++) {
    const ctk_toml_node *element = ctk_toml_array_at(node, i);
    char path[CFG_PATH_LEN];
    snprintf(path, sizeof path, "%s[%zu]", key, i);
    const char *name;
    if (cfg_node_string(r, element, path, "a site name of 1 to 63 bytes", CTK_NAME_LEN, &name))
      return -1;
    for (size_t j = 0; j < i; j++)
      if (strcmp(sim->site_names[j], name) == 0)
        return cfg_fail(r, ctk_toml_line(element), "key '%s': site \"%s\" is named twice", path,
                        name);
    snprintf(sim->site_names[i], CTK_NAME_LEN, "%s", name);
  }
  sim->n_sites = (int)n;
  return 0;
}

/* The n_sites rows of n_sites one-way delays of a latency matrix: `key` is "sim.latency_ms" (its
 * sites in "sim.site_names") or "latency_ms" in a matrix file (its sites in "sites"). */
int config_read_latency(const cfg_reader *r, const ctk_toml_node *node, const char *key,
                        const char *names_key, ctk_sim_config *sim) {
  int n = sim->n_sites;
  char expected[96];
  snprintf(expected, sizeof expected, "a %d x %d array of numbers (one row per site)", n, n);
  if (!ctk_toml_is_array(node)) return cfg_fail_expected(r, node, key, expected);
  size_t rows = ctk_toml_array_size(node);
  if (rows != (size_t)n)
    return cfg_fail(r, ctk_toml_line(node),
                    "key '%s': expected %d rows (one per site in %s), "
                    "got %zu",
                    key, n, names_key, rows);
  for (int a = 0; a < n; a++) {
    const ctk_toml_node *row = ctk_toml_array_at(node, (size_t)a);
    char path[CFG_PATH_LEN];
    snprintf(path, sizeof path, "%s[%d]", key, a);
    if (!ctk_toml_is_array(row)) {
      snprintf(expected, sizeof expected, "an array of %d numbers (one per site)", n);
      return cfg_fail_expected(r, row, path, expected);
    }
    size_t columns = ctk_toml_array_size(row);
    if (columns != (size_t)n)
      return cfg_fail(r, ctk_toml_line(row),
                      "key '%s': expected %d numbers (one per site in %s), got %zu", path, n,
                      names_key, columns);
    for (int b = 0; b < n; b++) {
      snprintf(path, sizeof path, "%s[%d][%d]", key, a, b);
      if (cfg_node_number(r, ctk_toml_array_at(row, (size_t)b), path, 0, 0, CONFIG_MAX_MS,
                          &sim->latency_ms[a][b]))
        return -1;
    }
  }
  return 0;
}

/* site_names and latency_ms come together, and not with cluster.wan (which names its own). */
static int sim_read_sites(const cfg_reader *r, const ctk_toml_node *table, ctk_config *config) {
  ctk_sim_config *sim = &config->sim;
  const ctk_toml_node *names = ctk_toml_table_get(table, "site_names");
  const ctk_toml_node *latency = ctk_toml_table_get(table, "latency_ms");
  if (!names && !latency) return 0;
  if (config->cluster.wan[0])
    return cfg_fail(r, ctk_toml_line(names ? names : latency),
                    "key 'sim.%s': not allowed with cluster.wan (the matrix \"%s\" names the "
                    "sites and their delays)",
                    names ? "site_names" : "latency_ms", config->cluster.wan);
  if (!names)
    return cfg_fail(r, ctk_toml_line(latency),
                    "key 'sim.latency_ms': needs sim.site_names (one row and column per site)");
  if (config_read_site_names(r, names, "sim.site_names", sim)) return -1;
  if (!latency)
    return cfg_fail(r, ctk_toml_line(table),
                    "key 'sim.latency_ms': required with sim.site_names (a %d x %d array of "
                    "one-way delays)",
                    sim->n_sites, sim->n_sites);
  return config_read_latency(r, latency, "sim.latency_ms", "sim.site_names", sim);
}

int config_read_sim(const cfg_reader *r, const ctk_toml_node *table, ctk_config *config) {
  static const char *const keys[] = {
      "delay_ms",        "loss",         "duplicate",   "reorder",     "reorder_delay_ms",
      "client_delay_ms", "disk_sync_us", "step_us",     "site_names",  "latency_ms",
      "random_faults",   "liveness_s",   "torn_writes", "chase_leader"};
  if (cfg_expect_table(r, table, "sim") ||
      cfg_check_keys(r, table, "sim", keys, sizeof keys / sizeof keys[0]))
    return -1;
  ctk_sim_config *sim = &config->sim;
  const char *s = "sim";
  const ctk_toml_node *delay = ctk_toml_table_get(table, "delay_ms");
  if ((delay && sim_read_delay(r, delay, sim->delay_ms)) ||
      cfg_number(r, table, s, "loss", 0, 0, 1, &sim->loss) < 0 ||
      cfg_number(r, table, s, "duplicate", 0, 0, 1, &sim->duplicate) < 0 ||
      cfg_number(r, table, s, "reorder", 0, 0, 1, &sim->reorder) < 0 ||
      cfg_number(r, table, s, "reorder_delay_ms", 0, 0, CONFIG_MAX_MS, &sim->reorder_delay_ms) <
          0 ||
      cfg_number(r, table, s, "client_delay_ms", 0, 0, CONFIG_MAX_MS, &sim->client_delay_ms) < 0 ||
      cfg_number(r, table, s, "disk_sync_us", 0, 0, CONFIG_MAX_US, &sim->disk_sync_us) < 0 ||
      cfg_number(r, table, s, "step_us", 0, 0, CONFIG_MAX_US, &sim->step_us) < 0 ||
      sim_read_sites(r, table, config) < 0 ||
      cfg_bool(r, table, s, "random_faults", &sim->random_faults) < 0 ||
      cfg_number(r, table, s, "chase_leader", 0, 0, 1, &sim->chase_leader) < 0 ||
      cfg_number(r, table, s, "liveness_s", 0, 1, CONFIG_MAX_S, &sim->liveness_s) < 0 ||
      cfg_bool(r, table, s, "torn_writes", &sim->torn_writes) < 0)
    return -1;
  return 0;
}
