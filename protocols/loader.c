/* loader.c: protocols built outside the tree, loaded from shared objects with dlopen (see the end
 * of protocol.h). Each object is opened once and stays loaded for the life of the process. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "protocol.h"

#define LOADER_MAX_OBJECTS 16
#define LOADER_PATH_LEN    512

static struct {
  char path[LOADER_PATH_LEN];
  const ctk_protocol_def *def;
} loaded[LOADER_MAX_OBJECTS];
static size_t n_loaded;

int ctk_protocol_is_path(const char *name) {
  if (!name) return 0;
  size_t len = strlen(name);
  return strchr(name, '/') != NULL || (len >= 3 && strcmp(name + len - 3, ".so") == 0);
}

static int loader_option_ok(const ctk_protocol_def *p, const ctk_option_spec *spec, char *err,
                            size_t err_len) {
  size_t size = spec->type == CTK_OPTION_BOOL ? sizeof(int)
                : spec->type == CTK_OPTION_INT || spec->type == CTK_OPTION_CHOICE
                    ? sizeof(int64_t)
                    : 2 * sizeof(int64_t);
  if (!spec->key || !spec->key[0]) {
    snprintf(err, err_len, "an option has no key");
    return -1;
  }
  if (spec->type < CTK_OPTION_BOOL || spec->type > CTK_OPTION_CHOICE) {
    snprintf(err, err_len, "option '%s' has an unknown type %d", spec->key, (int)spec->type);
    return -1;
  }
  if (spec->offset + size > p->options_size) {
    snprintf(err, err_len, "option '%s' lies outside options_size (%zu bytes)", spec->key,
             p->options_size);
    return -1;
  }
  if (spec->type == CTK_OPTION_CHOICE) {
    char name[64];
    if (!spec->choices || ctk_option_choice_name(spec, spec->default_lo, name, sizeof name) < 0) {
      snprintf(err, err_len, "option '%s' has no choices, or a default that is not one of them",
               spec->key);
      return -1;
    }
    return 0;
  }
  if (spec->min > spec->max) {
    snprintf(err, err_len, "option '%s' has min > max", spec->key);
    return -1;
  }
  return 0;
}

int ctk_protocol_validate(const ctk_protocol_def *p, char *err, size_t err_len) {
  if (!p) {
    snprintf(err, err_len, "no definition (NULL)");
    return -1;
  }
  size_t len = p->name ? strlen(p->name) : 0;
  if (len == 0 || len > 63) {
    snprintf(err, err_len, "the name must be 1 to 63 bytes");
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    char c = p->name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      snprintf(err, err_len, "the name \"%s\" may hold only letters, digits, '_' and '-'", p->name);
      return -1;
    }
  }
  const char *missing = !p->create     ? "create"
                        : !p->destroy  ? "destroy"
                        : !p->step     ? "step"
                        : !p->status   ? "status"
                        : !p->describe ? "describe"
                                       : NULL;
  if (missing) {
    snprintf(err, err_len, "protocol \"%s\" has no %s function", p->name, missing);
    return -1;
  }
  if (p->n_options && !p->options) {
    snprintf(err, err_len, "protocol \"%s\" declares %zu options but no table", p->name,
             p->n_options);
    return -1;
  }
  for (size_t i = 0; i < p->n_options; i++)
    if (loader_option_ok(p, &p->options[i], err, err_len)) return -1;
  return 0;
}

const ctk_protocol_def *ctk_protocol_load(const char *path, char *err, size_t err_len) {
  if (!path || !path[0]) {
    snprintf(err, err_len, "no path given for a protocol's shared object");
    return NULL;
  }
  for (size_t i = 0; i < n_loaded; i++)
    if (strcmp(loaded[i].path, path) == 0) return loaded[i].def;
  if (strlen(path) >= LOADER_PATH_LEN) {
    snprintf(err, err_len, "%s: the path is longer than %d bytes", path, LOADER_PATH_LEN - 1);
    return NULL;
  }
  if (n_loaded == LOADER_MAX_OBJECTS) {
    snprintf(err, err_len, "%s: at most %d protocols can be loaded from shared objects", path,
             LOADER_MAX_OBJECTS);
    return NULL;
  }
  /* A name without a '/' would make dlopen search the library path: this one is a file. */
  char local[LOADER_PATH_LEN + 2];
  snprintf(local, sizeof local, "%s%s", strchr(path, '/') ? "" : "./", path);
  void *handle = dlopen(local, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    snprintf(err, err_len, "cannot load protocol %s: %s", path, why ? why : "unknown error");
    return NULL;
  }
  /* dlsym returns a void *; POSIX guarantees it converts to a function pointer. */
  void *sym = dlsym(handle, CTK_PROTOCOL_ENTRY_SYMBOL);
  if (!sym) {
    snprintf(err, err_len, "cannot load protocol %s: it does not export %s() (see protocol.h)",
             path, CTK_PROTOCOL_ENTRY_SYMBOL);
    dlclose(handle);
    return NULL;
  }
  ctk_protocol_entry_fn entry;
  memcpy(&entry, &sym, sizeof entry);
  unsigned abi = 0;
  const ctk_protocol_def *def = entry(&abi);
  if (abi != CTK_PROTOCOL_ABI_VERSION) {
    snprintf(err, err_len,
             "cannot load protocol %s: built for protocol ABI version %u, this ctk has version "
             "%u (rebuild it against this ctk's protocols/protocol.h)",
             path, abi, CTK_PROTOCOL_ABI_VERSION);
    dlclose(handle);
    return NULL;
  }
  char why[256];
  if (ctk_protocol_validate(def, why, sizeof why)) {
    snprintf(err, err_len, "cannot load protocol %s: invalid definition: %s", path, why);
    dlclose(handle);
    return NULL;
  }
  if (ctk_protocol_find(def->name)) {
    snprintf(err, err_len,
             "cannot load protocol %s: its name \"%s\" is the name of a built-in protocol", path,
             def->name);
    dlclose(handle);
    return NULL;
  }
  snprintf(loaded[n_loaded].path, sizeof loaded[n_loaded].path, "%s", path);
  loaded[n_loaded++].def = def;
  return def;
}
