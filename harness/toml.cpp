/* toml.cpp: the C API of toml.h, over toml++ (the shared, exceptions build).
 *
 * Parsing builds a mirror of toml++'s tree: one ctk_toml_node per value, tables with their keys
 * sorted into document order (toml++ keeps them sorted by name). Every exception is caught here,
 * before it can cross into C; after parsing, nothing throws. */
#include "toml.h"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

struct ctk_toml_entry {
  std::string key;
  int key_line;
  int key_column;
  const ctk_toml_node *value;
};

struct ctk_toml_node {
  const toml::node *node;
  ctk_toml_type type;
  int line;
  int column;
  std::vector<ctk_toml_entry> entries;         /* tables, in document order */
  std::vector<const ctk_toml_node *> elements; /* arrays */
};

struct ctk_toml_doc {
  toml::table table;
  std::deque<ctk_toml_node> nodes; /* a deque never moves what it holds */
  const ctk_toml_node *root;
};

static void toml_set_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void toml_set_error(char *err, size_t err_len, const char *fmt, ...) {
  if (!err || err_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

static int toml_clamp_position(toml::source_index index) {
  return index > 1000000000u ? 1000000000 : static_cast<int>(index);
}

static ctk_toml_type toml_type_from(toml::node_type type) {
  switch (type) {
  case toml::node_type::table: return CTK_TOML_TABLE;
  case toml::node_type::array: return CTK_TOML_ARRAY;
  case toml::node_type::string: return CTK_TOML_STRING;
  case toml::node_type::integer: return CTK_TOML_INTEGER;
  case toml::node_type::floating_point: return CTK_TOML_FLOAT;
  case toml::node_type::boolean: return CTK_TOML_BOOL;
  case toml::node_type::date: return CTK_TOML_DATE;
  case toml::node_type::time: return CTK_TOML_TIME;
  default: return CTK_TOML_DATE_TIME;
  }
}

/* Mirrors node (and everything under it) into doc. toml++ bounds nesting depth while parsing,
 * so the recursion is bounded too. */
static const ctk_toml_node *toml_mirror(ctk_toml_doc *doc, const toml::node &node) {
  doc->nodes.emplace_back();
  ctk_toml_node &mirror = doc->nodes.back();
  mirror.node = &node;
  mirror.type = toml_type_from(node.type());
  mirror.line = toml_clamp_position(node.source().begin.line);
  mirror.column = toml_clamp_position(node.source().begin.column);
  if (const toml::table *table = node.as_table()) {
    mirror.entries.reserve(table->size());
    for (auto &&[key, value] : *table) {
      const toml::source_region &where = key.source();
      mirror.entries.push_back(
          ctk_toml_entry{std::string(key.str()), toml_clamp_position(where.begin.line),
                         toml_clamp_position(where.begin.column), toml_mirror(doc, value)});
    }
    std::stable_sort(mirror.entries.begin(), mirror.entries.end(),
                     [](const ctk_toml_entry &a, const ctk_toml_entry &b) {
                       if (a.key_line != b.key_line) return a.key_line < b.key_line;
                       return a.key_column < b.key_column;
                     });
  } else if (const toml::array *array = node.as_array()) {
    mirror.elements.reserve(array->size());
    for (const toml::node &element : *array) mirror.elements.push_back(toml_mirror(doc, element));
  }
  return &mirror;
}

ctk_toml_doc *ctk_toml_parse_string(const char *text, size_t len, const char *name, char *err,
                                    size_t err_len) {
  if (!name) name = "(string)";
  ctk_toml_doc *doc = nullptr;
  try {
    doc = new ctk_toml_doc();
    doc->table =
        toml::parse(std::string_view(text ? text : "", text ? len : 0), std::string_view(name));
    doc->root = toml_mirror(doc, doc->table);
    return doc;
  } catch (const toml::parse_error &e) {
    std::string description(e.description());
    toml_set_error(err, err_len, "%s:%d:%d: TOML syntax error: %s", name,
                   toml_clamp_position(e.source().begin.line),
                   toml_clamp_position(e.source().begin.column), description.c_str());
  } catch (const std::bad_alloc &) {
    toml_set_error(err, err_len, "%s: out of memory while reading TOML", name);
  } catch (const std::exception &e) {
    toml_set_error(err, err_len, "%s: cannot read TOML: %s", name, e.what());
  } catch (...) {
    toml_set_error(err, err_len, "%s: cannot read TOML", name);
  }
  delete doc;
  return nullptr;
}

/* Reads the whole file into text. Returns 0, or -1 with a message in err. */
static int toml_read_file(const char *path, std::string &text, char *err, size_t err_len) {
  FILE *file = fopen(path, "rb");
  if (!file) {
    toml_set_error(err, err_len, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, file)) > 0) {
    if (text.size() + got > CTK_TOML_MAX_FILE_BYTES) {
      toml_set_error(err, err_len, "%s: cannot read: larger than %u bytes", path,
                     CTK_TOML_MAX_FILE_BYTES);
      fclose(file);
      return -1;
    }
    text.append(chunk, got);
  }
  int failed = ferror(file);
  int saved_errno = errno;
  fclose(file);
  if (failed) {
    toml_set_error(err, err_len, "%s: cannot read: %s", path, strerror(saved_errno));
    return -1;
  }
  return 0;
}

ctk_toml_doc *ctk_toml_parse_file(const char *path, char *err, size_t err_len) {
  if (!path) {
    toml_set_error(err, err_len, "(null): cannot open: no path given");
    return nullptr;
  }
  try {
    std::string text;
    if (toml_read_file(path, text, err, err_len) != 0) return nullptr;
    return ctk_toml_parse_string(text.data(), text.size(), path, err, err_len);
  } catch (...) {
    toml_set_error(err, err_len, "%s: out of memory while reading TOML", path);
    return nullptr;
  }
}

void ctk_toml_free(ctk_toml_doc *doc) { delete doc; }

const ctk_toml_node *ctk_toml_root(const ctk_toml_doc *doc) { return doc ? doc->root : nullptr; }

ctk_toml_type ctk_toml_type_of(const ctk_toml_node *node) { return node->type; }

int ctk_toml_is_table(const ctk_toml_node *node) { return node && node->type == CTK_TOML_TABLE; }
int ctk_toml_is_array(const ctk_toml_node *node) { return node && node->type == CTK_TOML_ARRAY; }
int ctk_toml_is_string(const ctk_toml_node *node) { return node && node->type == CTK_TOML_STRING; }
int ctk_toml_is_integer(const ctk_toml_node *node) {
  return node && node->type == CTK_TOML_INTEGER;
}
int ctk_toml_is_float(const ctk_toml_node *node) { return node && node->type == CTK_TOML_FLOAT; }
int ctk_toml_is_bool(const ctk_toml_node *node) { return node && node->type == CTK_TOML_BOOL; }

const char *ctk_toml_type_name(ctk_toml_type type) {
  switch (type) {
  case CTK_TOML_TABLE: return "a table";
  case CTK_TOML_ARRAY: return "an array";
  case CTK_TOML_STRING: return "a string";
  case CTK_TOML_INTEGER: return "an integer";
  case CTK_TOML_FLOAT: return "a float";
  case CTK_TOML_BOOL: return "a boolean";
  case CTK_TOML_DATE: return "a date";
  case CTK_TOML_TIME: return "a time";
  case CTK_TOML_DATE_TIME: return "a date-time";
  }
  return "a value";
}

int ctk_toml_line(const ctk_toml_node *node) { return node ? node->line : 0; }
int ctk_toml_column(const ctk_toml_node *node) { return node ? node->column : 0; }

const ctk_toml_node *ctk_toml_table_get(const ctk_toml_node *table, const char *key) {
  if (!ctk_toml_is_table(table) || !key) return nullptr;
  for (const ctk_toml_entry &entry : table->entries)
    if (entry.key == key) return entry.value;
  return nullptr;
}

size_t ctk_toml_table_size(const ctk_toml_node *table) {
  return ctk_toml_is_table(table) ? table->entries.size() : 0;
}

const char *ctk_toml_table_key_at(const ctk_toml_node *table, size_t i) {
  if (i >= ctk_toml_table_size(table)) return nullptr;
  return table->entries[i].key.c_str();
}

const ctk_toml_node *ctk_toml_table_value_at(const ctk_toml_node *table, size_t i) {
  if (i >= ctk_toml_table_size(table)) return nullptr;
  return table->entries[i].value;
}

int ctk_toml_table_key_line_at(const ctk_toml_node *table, size_t i) {
  if (i >= ctk_toml_table_size(table)) return 0;
  return table->entries[i].key_line;
}

size_t ctk_toml_array_size(const ctk_toml_node *array) {
  return ctk_toml_is_array(array) ? array->elements.size() : 0;
}

const ctk_toml_node *ctk_toml_array_at(const ctk_toml_node *array, size_t i) {
  if (i >= ctk_toml_array_size(array)) return nullptr;
  return array->elements[i];
}

int ctk_toml_get_string(const ctk_toml_node *node, const char **value, size_t *len) {
  if (!ctk_toml_is_string(node)) return -1;
  const std::string &text = node->node->as_string()->get();
  *value = text.c_str();
  if (len) *len = text.size();
  return 0;
}

int ctk_toml_get_integer(const ctk_toml_node *node, int64_t *value) {
  if (!ctk_toml_is_integer(node)) return -1;
  *value = node->node->as_integer()->get();
  return 0;
}

int ctk_toml_get_float(const ctk_toml_node *node, double *value) {
  if (!ctk_toml_is_float(node)) return -1;
  *value = node->node->as_floating_point()->get();
  return 0;
}

int ctk_toml_get_bool(const ctk_toml_node *node, int *value) {
  if (!ctk_toml_is_bool(node)) return -1;
  *value = node->node->as_boolean()->get() ? 1 : 0;
  return 0;
}

/* ---- overrides ---- */

int ctk_toml_remove(ctk_toml_doc *doc, const char *key) {
  if (!doc || !key) return -1;
  ctk_toml_node *root = const_cast<ctk_toml_node *>(doc->root);
  for (auto it = root->entries.begin(); it != root->entries.end(); ++it)
    if (it->key == key) {
      root->entries.erase(it);
      return 0;
    }
  return -1;
}

int ctk_toml_set(ctk_toml_doc *doc, const char *table, const char *key, const ctk_toml_node *value,
                 int key_line) {
  if (!doc || !table || !key || !value) return -1;
  try {
    ctk_toml_node *target = const_cast<ctk_toml_node *>(doc->root);
    if (table[0]) {
      const ctk_toml_node *found = ctk_toml_table_get(doc->root, table);
      if (found && !ctk_toml_is_table(found)) return -1;
      if (!found) {
        doc->nodes.emplace_back();
        ctk_toml_node &created = doc->nodes.back();
        created.node = nullptr; /* a table is read through its entries only */
        created.type = CTK_TOML_TABLE;
        created.line = key_line;
        created.column = 1;
        target->entries.push_back(ctk_toml_entry{table, key_line, 1, &created});
        found = &created;
      }
      target = const_cast<ctk_toml_node *>(found);
    }
    for (ctk_toml_entry &entry : target->entries)
      if (entry.key == key) {
        entry.value = value;
        return 0;
      }
    target->entries.push_back(ctk_toml_entry{key, key_line, 1, value});
    return 0;
  } catch (...) {
    return -1;
  }
}
