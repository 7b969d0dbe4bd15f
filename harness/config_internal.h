/* config_internal.h: what the files of the experiment-file loader share (config.c, the section
 * readers in config_sections.c and config_fault.c, and the writer in config_write.c). */
#ifndef CTK_CONFIG_INTERNAL_H
#define CTK_CONFIG_INTERNAL_H

#include "config.h"
#include "config_reader.h"

/* Upper bounds on times, so that every time converts to microseconds in a uint64_t without
 * overflow: about 11.6 days whatever the unit. */
#define CONFIG_MAX_S          1e6
#define CONFIG_MAX_MS         1e9
#define CONFIG_MAX_US         1e12
#define CONFIG_MAX_RATE       1e9 /* ops/s */
#define CONFIG_MAX_FACTOR     1e6 /* slow faults */
#define CONFIG_MAX_CLOCK_RATE 100 /* clock_skew faults */
#define CONFIG_MAX_KEYS       1000000000

#define CONFIG_N_DISTRIBUTIONS 3
#define CONFIG_N_FAULT_KINDS   9
extern const char *const config_distribution_names[CONFIG_N_DISTRIBUTIONS];
#define CONFIG_N_STORES 2
extern const char *const config_store_names[CONFIG_N_STORES];
/* Indexed by kind - 1 (CTK_FAULT_CRASH is 1). */
extern const char *const config_fault_kind_names[CONFIG_N_FAULT_KINDS];

/* "tcp://127.0.0.1:<base_port + i>" for every node. */
void config_default_endpoints(ctk_cluster *cluster);

/* Section readers. Each takes the section's node (NULL when absent: defaults stay), checks every
 * key, and fills its part of *config. Returns 0, or -1 with a message (see config_reader.h).
 * They run in this order, each relying on what the ones before filled in. */
int config_read_cluster(const cfg_reader *r, const ctk_toml_node *table, ctk_config *config);
int config_read_workload(const cfg_reader *r, const ctk_toml_node *table, ctk_config *config);
int config_read_sim(const cfg_reader *r, const ctk_toml_node *table, ctk_config *config);
/* cluster.sites, checked against sim.site_names. */
int config_read_cluster_sites(const cfg_reader *r, const ctk_toml_node *cluster_table,
                              ctk_config *config);
/* cluster.wan: a built-in matrix's name or the path of a matrix file (config_wan.c); fills
 * cluster.wan and the sites and delays in config->sim. */
int config_read_wan(const cfg_reader *r, const ctk_toml_node *node, ctk_config *config);
/* The parts of a latency matrix, under the key names given (for messages): site names, then
 * n_sites x n_sites one-way delays. Shared by [sim] and matrix files. */
int config_read_site_names(const cfg_reader *r, const ctk_toml_node *node, const char *key,
                           ctk_sim_config *sim);
int config_read_latency(const cfg_reader *r, const ctk_toml_node *node, const char *key,
                        const char *names_key, ctk_sim_config *sim);
int config_read_node(const cfg_reader *r, const ctk_toml_node *table, ctk_config *config);
/* The [[fault]] array of tables. */
int config_read_faults(const cfg_reader *r, const ctk_toml_node *array, ctk_config *config);

#endif /* CTK_CONFIG_INTERNAL_H */
