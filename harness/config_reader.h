/* config_reader.h: checked reads of TOML values for the experiment-file loader (config.c).
 *
 * Every read checks the type and the range of one value and, when it is wrong, writes a message
 * naming the file, the line, the full key and what was expected:
 *
 *   "exp.toml:7: key 'workload.clients': expected an integer from 1 to 1024, got \"eight\""
 *
 * Keys are named by their full path ("workload.clients", "fault[2].kind", "sim.latency_ms[1]").
 * Functions return 0 on success and -1 after writing a message. The table-level reads take the
 * table that should hold the key (NULL when the whole table is absent) and return 1 when the key
 * was given and read, 0 when it is absent (leaving *out, the default, untouched), -1 on error. */
#ifndef CTK_CONFIG_READER_H
#define CTK_CONFIG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "toml.h"

#define CFG_PATH_LEN 160

typedef struct cfg_reader {
  const char *file; /* as it appears in messages */
  char *err;
  size_t err_len;
  const char *protocol_override; /* run this protocol instead of the file's (NULL: the file's) */
} cfg_reader;

/* "FILE:LINE: <printf message>". Returns -1. */
int cfg_fail(const cfg_reader *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE: key 'PATH': expected EXPECTED, got VALUE", at the value's line. Returns -1. */
int cfg_fail_expected(const cfg_reader *r, const ctk_toml_node *value, const char *path,
                      const char *expected);

/* Writes a short rendering of a value for messages: "\"eight\"", "2.5", "[1, 2]", "a table". */
void cfg_render_value(const ctk_toml_node *value, char *buf, size_t buf_len);

/* Writes a double the shortest way that reads back to the same value ("0.1", "1e-07"). */
void cfg_format_double(double value, char *buf, size_t buf_len);

/* Joins "section.key" (or just "key" when section is ""). */
void cfg_path(char *buf, size_t buf_len, const char *section, const char *key);

/* The closest of the known names within edit distance 2 of name, or NULL. */
const char *cfg_suggest(const char *name, const char *const *known, size_t n_known);

/* Writes a key as it may safely appear in a message: control characters escaped, long keys
 * cut. */
void cfg_render_key(const char *key, char *buf, size_t buf_len);

/* "FILE:LINE: unknown key 'SECTION.KEY'", with " (did you mean 'KNOWN'?)" when one is close. */
int cfg_fail_unknown_key(const cfg_reader *r, int line, const char *section, const char *key,
                         const char *const *known, size_t n_known);

/* Fails on the first key of table (in document order) that is not in known:
 * "FILE:LINE: unknown key 'workload.cleints' (did you mean 'clients'?)". */
int cfg_check_keys(const cfg_reader *r, const ctk_toml_node *table, const char *section,
                   const char *const *known, size_t n_known);

/* Fails unless node is a table ("expected a table"). NULL (absent) passes. */
int cfg_expect_table(const cfg_reader *r, const ctk_toml_node *node, const char *path);

/* Node-level reads: node is not NULL, path names it. */
int cfg_node_int(const cfg_reader *r, const ctk_toml_node *node, const char *path, int64_t min,
                 int64_t max, int64_t *out);
/* An integer or a float, finite, with min < value (min_exclusive) or min <= value, and
 * value <= max (HUGE_VAL: no upper bound). */
int cfg_node_number(const cfg_reader *r, const ctk_toml_node *node, const char *path, double min,
                    int min_exclusive, double max, double *out);
int cfg_node_bool(const cfg_reader *r, const ctk_toml_node *node, const char *path, int *out);
/* A string of 1 to max_len - 1 bytes without NUL bytes; `expected` describes it on error. */
int cfg_node_string(const cfg_reader *r, const ctk_toml_node *node, const char *path,
                    const char *expected, size_t max_len, const char **out);
/* A string equal to one of names; *out is its index. */
int cfg_node_choice(const cfg_reader *r, const ctk_toml_node *node, const char *path,
                    const char *const *names, size_t n_names, int *out);

/* Table-level reads of table[key], named section.key. */
int cfg_int64(const cfg_reader *r, const ctk_toml_node *table, const char *section, const char *key,
              int64_t min, int64_t max, int64_t *out);
int cfg_int(const cfg_reader *r, const ctk_toml_node *table, const char *section, const char *key,
            int min, int max, int *out);
int cfg_number(const cfg_reader *r, const ctk_toml_node *table, const char *section,
               const char *key, double min, int min_exclusive, double max, double *out);
int cfg_bool(const cfg_reader *r, const ctk_toml_node *table, const char *section, const char *key,
             int *out);
int cfg_choice(const cfg_reader *r, const ctk_toml_node *table, const char *section,
               const char *key, const char *const *names, size_t n_names, int *out);

#endif /* CTK_CONFIG_READER_H */
