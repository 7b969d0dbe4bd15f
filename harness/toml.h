/* toml.h: a small C API over toml++ for reading TOML documents.
 *
 * A document is parsed once, in full; every node handle stays valid until ctk_toml_free. Tables
 * list their keys in document order. Nothing here knows what the keys mean: schemas are checked
 * by the callers (see config.c). Nothing is printed; errors go into the caller's buffer. */
#ifndef CTK_TOML_H
#define CTK_TOML_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctk_toml_doc ctk_toml_doc;   /* opaque: one parsed document */
typedef struct ctk_toml_node ctk_toml_node; /* opaque: a table, array or value inside a doc */

typedef enum ctk_toml_type {
  CTK_TOML_TABLE = 1,
  CTK_TOML_ARRAY,
  CTK_TOML_STRING,
  CTK_TOML_INTEGER,
  CTK_TOML_FLOAT,
  CTK_TOML_BOOL,
  CTK_TOML_DATE,
  CTK_TOML_TIME,
  CTK_TOML_DATE_TIME,
} ctk_toml_type;

/* The largest file ctk_toml_parse_file reads. */
#define CTK_TOML_MAX_FILE_BYTES (16u << 20)

/* Parses the file at path. Returns a document, or NULL with a message in err:
 *   "PATH: cannot open: No such file or directory"
 *   "PATH:LINE:COLUMN: TOML syntax error: <what the parser saw>" */
ctk_toml_doc *ctk_toml_parse_file(const char *path, char *err, size_t err_len);

/* Parses len bytes of TOML text; `name` stands in for the file name in messages. Returns a
 * document, or NULL with a message in err as above. */
ctk_toml_doc *ctk_toml_parse_string(const char *text, size_t len, const char *name, char *err,
                                    size_t err_len);

/* Frees the document and every node in it; NULL is allowed. */
void ctk_toml_free(ctk_toml_doc *doc);

/* The root table of the document. */
const ctk_toml_node *ctk_toml_root(const ctk_toml_doc *doc);

ctk_toml_type ctk_toml_type_of(const ctk_toml_node *node);
int ctk_toml_is_table(const ctk_toml_node *node);
int ctk_toml_is_array(const ctk_toml_node *node);
int ctk_toml_is_string(const ctk_toml_node *node);
int ctk_toml_is_integer(const ctk_toml_node *node);
int ctk_toml_is_float(const ctk_toml_node *node);
int ctk_toml_is_bool(const ctk_toml_node *node);

/* "a table", "an integer", ...: the type with its article, for messages. */
const char *ctk_toml_type_name(ctk_toml_type type);

/* Where the node starts in the source, 1-based (for a table: its [header], or the first key
 * that created it). 0 when unknown. */
int ctk_toml_line(const ctk_toml_node *node);
int ctk_toml_column(const ctk_toml_node *node);

/* Tables. get returns NULL when the key is absent or node is not a table. Keys are listed in
 * document order: i from 0 to size - 1. */
const ctk_toml_node *ctk_toml_table_get(const ctk_toml_node *table, const char *key);
size_t ctk_toml_table_size(const ctk_toml_node *table);
const char *ctk_toml_table_key_at(const ctk_toml_node *table, size_t i);
const ctk_toml_node *ctk_toml_table_value_at(const ctk_toml_node *table, size_t i);
/* The line of the i-th key itself (for a key of an implicit table, where it was first named). */
int ctk_toml_table_key_line_at(const ctk_toml_node *table, size_t i);

/* Arrays. size is 0 and at is NULL when node is not an array or i is past the end. */
size_t ctk_toml_array_size(const ctk_toml_node *array);
const ctk_toml_node *ctk_toml_array_at(const ctk_toml_node *array, size_t i);

/* Values. Each returns 0 and stores the value, or -1 when the node has another type. Strings
 * are NUL-terminated and owned by the document; *len (when len is not NULL) counts the bytes,
 * which may include NUL bytes written as \u0000 in the source. */
int ctk_toml_get_string(const ctk_toml_node *node, const char **value, size_t *len);
int ctk_toml_get_integer(const ctk_toml_node *node, int64_t *value);
int ctk_toml_get_float(const ctk_toml_node *node, double *value);
int ctk_toml_get_bool(const ctk_toml_node *node, int *value);

/* Overrides, for experiment matrices (experiment.c): they change what the accessors above see,
 * not the parsed text. ctk_toml_remove drops key from the root table (0, or -1 when absent).
 * ctk_toml_set makes table[key] (table "" is the root; a missing root-level table is created
 * empty) refer to value, replacing the key's old value or appending it with key_line as its
 * line. value must belong to the same document. Returns 0, or -1 when `table` names something
 * that is not a table, or out of memory. */
int ctk_toml_remove(ctk_toml_doc *doc, const char *key);
int ctk_toml_set(ctk_toml_doc *doc, const char *table, const char *key, const ctk_toml_node *value,
                 int key_line);

#ifdef __cplusplus
}
#endif

#endif /* CTK_TOML_H */
