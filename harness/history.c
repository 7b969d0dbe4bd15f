/* history.c: client histories (see history.h). Strings are interned in arena blocks owned by the
 * history, so equal strings share one pointer and events stay small. Reading parses each line
 * with jansson and validates it into "FILE:LINE: reason" messages; writing prints one compact
 * JSON object per line with a hand-written string escaper (fast enough for millions of events). */
#include "history.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define STRINGS_BLOCK_BYTES (64 * 1024)
#define STRINGS_MIN_SLOTS   256
#define PROCESS_MIN_SLOTS   64
#define READ_CHUNK_BYTES    (64 * 1024)

/* ---- interned strings: an open-addressing hash set over arena-allocated copies ---- */

typedef struct string_block {
  struct string_block *next;
  size_t used, cap;
  char data[];
} string_block;

typedef struct string_slot {
  uint64_t hash;
  size_t len;
  const char *s; /* NULL: empty slot */
} string_slot;

struct ctk_strings {
  string_slot *slots;
  size_t n, cap; /* cap is a power of two */
  string_block *blocks;
};

static struct ctk_strings *strings_new(void) {
  struct ctk_strings *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->slots = calloc(STRINGS_MIN_SLOTS, sizeof *st->slots);
  if (!st->slots) {
    free(st);
    return NULL;
  }
  st->cap = STRINGS_MIN_SLOTS;
  return st;
}

static void strings_free(struct ctk_strings *st) {
  if (!st) return;
  string_block *b = st->blocks;
  while (b) {
    string_block *next = b->next;
    free(b);
    b = next;
  }
  free(st->slots);
  free(st);
}

static int strings_grow(struct ctk_strings *st) {
  size_t cap = st->cap * 2;
  string_slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  for (size_t i = 0; i < st->cap; i++) {
    if (!st->slots[i].s) continue;
    size_t j = st->slots[i].hash & (cap - 1);
    while (slots[j].s) j = (j + 1) & (cap - 1);
    slots[j] = st->slots[i];
  }
  free(st->slots);
  st->slots = slots;
  st->cap = cap;
  return 0;
}

/* Copies len+1 bytes into the arena; strings longer than a block get a block of their own. */
static char *strings_store(struct ctk_strings *st, const char *s, size_t len) {
  string_block *b = st->blocks;
  if (!b || b->cap - b->used < len + 1) {
    size_t cap = len + 1 > STRINGS_BLOCK_BYTES ? len + 1 : STRINGS_BLOCK_BYTES;
    b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->used = 0;
    b->cap = cap;
    /* A dedicated block for a long string goes second, so the current block keeps filling. */
    if (st->blocks && cap > STRINGS_BLOCK_BYTES) {
      b->next = st->blocks->next;
      st->blocks->next = b;
    } else {
      b->next = st->blocks;
      st->blocks = b;
    }
  }
  char *copy = b->data + b->used;
  memcpy(copy, s, len + 1);
  b->used += len + 1;
  return copy;
}

/* Returns the interned copy of s, or NULL when out of memory. */
static const char *strings_intern(struct ctk_strings *st, const char *s) {
  size_t len = strlen(s);
  uint64_t hash = XXH3_64bits(s, len);
  size_t j = hash & (st->cap - 1);
  while (st->slots[j].s) {
    const string_slot *slot = &st->slots[j];
    if (slot->hash == hash && slot->len == len && memcmp(slot->s, s, len) == 0) return slot->s;
    j = (j + 1) & (st->cap - 1);
  }
  const char *copy = strings_store(st, s, len);
  if (!copy) return NULL;
  st->slots[j] = (string_slot){.hash = hash, .len = len, .s = copy};
  st->n++;
  if (st->n * 2 > st->cap && strings_grow(st) != 0) return NULL;
  return copy;
}

/* ---- the history ---- */

void ctk_history_init(ctk_history *h) { memset(h, 0, sizeof *h); }

void ctk_history_free(ctk_history *h) {
  free(h->events);
  strings_free(h->strings);
  memset(h, 0, sizeof *h);
}

/* The slot for the next event (h->n counts it once filled), or NULL when out of memory or full. */
static ctk_hist_event *next_event(ctk_history *h) {
  if (h->n >= CTK_HISTORY_MAX_EVENTS) return NULL;
  if (!h->strings && !(h->strings = strings_new())) return NULL;
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 1024;
    ctk_hist_event *events = realloc(h->events, cap * sizeof *events);
    if (!events) return NULL;
    h->events = events;
    h->cap = cap;
  }
  return &h->events[h->n];
}

int ctk_history_add(ctk_history *h, int64_t process, ctk_hist_type type, ctk_op_f f,
                    uint64_t time_us, const char *key, const char *value, const char *expected) {
  assert(key != NULL);
  assert(type >= CTK_HIST_INVOKE && type <= CTK_HIST_INFO);
  assert(f >= CTK_F_GET && f <= CTK_F_CAS);
  ctk_hist_event *e = next_event(h);
  if (!e) return -1;
  e->process = process;
  e->type = type;
  e->f = f;
  e->time_us = time_us;
  e->key = strings_intern(h->strings, key);
  e->value = value ? strings_intern(h->strings, value) : NULL;
  e->expected = expected ? strings_intern(h->strings, expected) : NULL;
  if (!e->key || (value && !e->value) || (expected && !e->expected)) return -1;
  h->n++;
  return 0;
}

int ctk_history_complete(ctk_history *h, size_t invoke, ctk_hist_type type, uint64_t time_us,
                         const char *value) {
  assert(type >= CTK_HIST_OK && type <= CTK_HIST_INFO);
  if (invoke >= h->n || h->events[invoke].type != CTK_HIST_INVOKE) return -1;
  ctk_hist_event *e = next_event(h);
  if (!e) return -1;
  const ctk_hist_event *inv = &h->events[invoke]; /* after next_event, which may move them */
  *e = *inv;
  e->type = type;
  e->time_us = time_us;
  if (!value)
    e->value = NULL;
  else if (!inv->value || strcmp(inv->value, value) != 0)
    e->value = strings_intern(h->strings, value);
  if (value && !e->value) return -1;
  h->n++;
  return 0;
}

const char *ctk_op_f_name(ctk_op_f f) {
  switch (f) {
  case CTK_F_GET: return "get";
  case CTK_F_PUT: return "put";
  case CTK_F_CAS: return "cas";
  }
  return "?";
}

const char *ctk_hist_type_name(ctk_hist_type t) {
  switch (t) {
  case CTK_HIST_INVOKE: return "invoke";
  case CTK_HIST_OK: return "ok";
  case CTK_HIST_FAIL: return "fail";
  case CTK_HIST_INFO: return "info";
  }
  return "?";
}

/* ---- writing ---- */

/* Writes s as a JSON string: quotes, backslashes and control characters escaped; other bytes
 * (UTF-8 included) as they are. */
static void write_json_string(FILE *out, const char *s) {
  static const char hex[] = "0123456789abcdef";
  putc('"', out);
  const char *run = s;
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    fwrite(run, 1, (size_t)(p - run), out);
    run = p + 1;
    switch (c) {
    case '"': fputs("\\\"", out); break;
    case '\\': fputs("\\\\", out); break;
    case '\n': fputs("\\n", out); break;
    case '\r': fputs("\\r", out); break;
    case '\t': fputs("\\t", out); break;
    default:
      fputs("\\u00", out);
      putc(hex[c >> 4], out);
      putc(hex[c & 15], out);
    }
  }
  fputs(run, out);
  putc('"', out);
}

static void write_json_string_or_null(FILE *out, const char *s) {
  if (s)
    write_json_string(out, s);
  else
    fputs("null", out);
}

int ctk_history_write_jsonl(const ctk_history *h, FILE *out) {
  for (size_t i = 0; i < h->n; i++) {
    const ctk_hist_event *e = &h->events[i];
    fprintf(out, "{\"process\":%" PRId64 ",\"type\":\"%s\",\"f\":\"%s\",\"key\":", e->process,
            ctk_hist_type_name(e->type), ctk_op_f_name(e->f));
    write_json_string(out, e->key);
    fputs(",\"value\":", out);
    if (e->f == CTK_F_CAS) {
      putc('[', out);
      write_json_string_or_null(out, e->expected);
      putc(',', out);
      write_json_string_or_null(out, e->value);
      putc(']', out);
    } else {
      write_json_string_or_null(out, e->value);
    }
    fprintf(out, ",\"time\":%" PRIu64 "}\n", e->time_us);
    if (ferror(out)) return -1;
  }
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

/* ---- reading ---- */

/* The invoke each process has open: process -> event index and line, open addressing. */
typedef struct open_slot {
  int64_t process;
  size_t event; /* SIZE_MAX: empty slot */
  size_t line;
  int used;
} open_slot;

typedef struct open_map {
  open_slot *slots;
  size_t n, cap;
} open_map;

static uint64_t process_hash(int64_t process) { return XXH3_64bits(&process, sizeof process); }

static open_slot *open_map_find(open_map *m, int64_t process) {
  size_t j = process_hash(process) & (m->cap - 1);
  while (m->slots[j].used && m->slots[j].process != process) j = (j + 1) & (m->cap - 1);
  return &m->slots[j];
}

static int open_map_grow(open_map *m) {
  open_map bigger = {.cap = m->cap ? m->cap * 2 : PROCESS_MIN_SLOTS};
  bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
  if (!bigger.slots) return -1;
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slots[i].used) continue;
    *open_map_find(&bigger, m->slots[i].process) = m->slots[i];
    bigger.n++;
  }
  free(m->slots);
  *m = bigger;
  return 0;
}

/* Reads lines of at most CTK_HISTORY_MAX_LINE bytes from a file, in chunks. */
typedef struct line_reader {
  FILE *in;
  char *buf;
  size_t cap, start, end;
  int eof;
} line_reader;

/* Returns 1 with the next line (without its newline, NUL-terminated) in *line and *len, 0 at the
 * end of the file, -1 on a read error, -2 when the line is too long, -3 when out of memory. */
static int line_reader_next(line_reader *r, char **line, size_t *len) {
  for (;;) {
    char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
    if (nl || (r->eof && r->end > r->start)) {
      size_t n = nl ? (size_t)(nl - (r->buf + r->start)) : r->end - r->start;
      if (n > CTK_HISTORY_MAX_LINE) return -2;
      *line = r->buf + r->start;
      *len = n;
      (*line)[n] = '\0'; /* the newline, or the spare byte kept after the data */
      r->start += nl ? n + 1 : n;
      return 1;
    }
    if (r->eof) return 0;
    if (r->end - r->start > CTK_HISTORY_MAX_LINE) return -2;
    if (r->start > 0) {
      memmove(r->buf, r->buf + r->start, r->end - r->start);
      r->end -= r->start;
      r->start = 0;
    }
    if (r->cap - r->end < READ_CHUNK_BYTES + 1) {
      size_t cap = r->cap * 2;
      char *buf = realloc(r->buf, cap);
      if (!buf) return -3;
      r->buf = buf;
      r->cap = cap;
    }
    size_t got = fread(r->buf + r->end, 1, r->cap - r->end - 1, r->in);
    r->end += got;
    if (got == 0) {
      if (ferror(r->in)) return -1;
      r->eof = 1;
    }
  }
}

typedef struct read_ctx {
  const char *path;
  size_t line;
  char *err;
  size_t err_len;
} read_ctx;

static int read_fail(const read_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int read_fail(const read_ctx *c, const char *fmt, ...) {
  if (!c->err || !c->err_len) return -1;
  int n = c->line ? snprintf(c->err, c->err_len, "%s:%zu: ", c->path, c->line)
                  : snprintf(c->err, c->err_len, "%s: ", c->path); /* not a line's fault */
  if (n >= 0 && (size_t)n < c->err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static int is_blank(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
  return 1;
}

/* A string or null; returns 0 with *out set (NULL for null), -1 when mistyped. */
static int string_or_null(const json_t *v, const char **out) {
  if (json_is_null(v)) {
    *out = NULL;
    return 0;
  }
  if (!json_is_string(v)) return -1;
  *out = json_string_value(v);
  return 0;
}

typedef struct parsed_event {
  int64_t process;
  ctk_hist_type type;
  ctk_op_f f;
  uint64_t time_us;
  const char *key, *value, *expected; /* borrowed from the json object */
} parsed_event;

static int parse_type(const char *s, ctk_hist_type *t) {
  static const ctk_hist_type all[] = {CTK_HIST_INVOKE, CTK_HIST_OK, CTK_HIST_FAIL, CTK_HIST_INFO};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(s, ctk_hist_type_name(all[i])) == 0) return *t = all[i], 0;
  return -1;
}

static int parse_f(const char *s, ctk_op_f *f) {
  static const ctk_op_f all[] = {CTK_F_GET, CTK_F_PUT, CTK_F_CAS};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(s, ctk_op_f_name(all[i])) == 0) return *f = all[i], 0;
  return -1;
}

/* Validates one object's fields into *ev. Returns 0, or -1 with the message written. */
static int parse_event(const read_ctx *c, const json_t *obj, parsed_event *ev) {
  if (!json_is_object(obj)) return read_fail(c, "not a JSON object");
  static const char *const fields[] = {"process", "type", "f", "key", "value", "time"};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    if (!json_object_get(obj, fields[i])) return read_fail(c, "missing field \"%s\"", fields[i]);

  const json_t *process = json_object_get(obj, "process");
  if (!json_is_integer(process)) return read_fail(c, "\"process\" is not an integer");
  ev->process = (int64_t)json_integer_value(process);

  const json_t *type = json_object_get(obj, "type");
  if (!json_is_string(type)) return read_fail(c, "\"type\" is not a string");
  if (parse_type(json_string_value(type), &ev->type) != 0)
    return read_fail(c, "unknown type \"%s\" (expected invoke, ok, fail or info)",
                     json_string_value(type));

  const json_t *f = json_object_get(obj, "f");
  if (!json_is_string(f)) return read_fail(c, "\"f\" is not a string");
  if (parse_f(json_string_value(f), &ev->f) != 0)
    return read_fail(c, "unknown f \"%s\" (expected get, put or cas)", json_string_value(f));

  const json_t *key = json_object_get(obj, "key");
  if (!json_is_string(key)) return read_fail(c, "\"key\" is not a string");
  ev->key = json_string_value(key);

  const json_t *time = json_object_get(obj, "time");
  if (!json_is_integer(time)) return read_fail(c, "\"time\" is not an integer");
  if (json_integer_value(time) < 0) return read_fail(c, "\"time\" is negative");
  ev->time_us = (uint64_t)json_integer_value(time);

  const json_t *value = json_object_get(obj, "value");
  ev->expected = NULL;
  if (ev->f == CTK_F_CAS) {
    if (!json_is_array(value) || json_array_size(value) != 2 ||
        string_or_null(json_array_get(value, 0), &ev->expected) != 0 ||
        string_or_null(json_array_get(value, 1), &ev->value) != 0)
      return read_fail(c, "\"value\" of a cas is not [expected, new] (strings or null)");
  } else if (string_or_null(value, &ev->value) != 0) {
    return read_fail(c, "\"value\" of a %s is not a string or null", ctk_op_f_name(ev->f));
  }
  return 0;
}

/* Checks that ev fits the process's open invoke (or opens one). Returns 0, or -1. */
static int pair_event(const read_ctx *c, open_map *open, const ctk_history *h,
                      const parsed_event *ev) {
  if ((open->n + 1) * 2 > open->cap && open_map_grow(open) != 0)
    return read_fail(c, "out of memory");
  open_slot *slot = open_map_find(open, ev->process);
  int is_open = slot->used && slot->event != SIZE_MAX;
  if (ev->type == CTK_HIST_INVOKE) {
    if (is_open)
      return read_fail(c, "process %" PRId64 " invokes while its invoke on line %zu is still open",
                       ev->process, slot->line);
    if (!slot->used) open->n++;
    *slot = (open_slot){.process = ev->process, .event = h->n, .line = c->line, .used = 1};
    return 0;
  }
  if (!is_open)
    return read_fail(c, "process %" PRId64 " completes (%s) without an open invoke", ev->process,
                     ctk_hist_type_name(ev->type));
  const ctk_hist_event *inv = &h->events[slot->event];
  if (inv->f != ev->f)
    return read_fail(c, "completion f \"%s\" differs from its invoke's \"%s\" (line %zu)",
                     ctk_op_f_name(ev->f), ctk_op_f_name(inv->f), slot->line);
  if (strcmp(inv->key, ev->key) != 0)
    return read_fail(c, "completion key \"%s\" differs from its invoke's \"%s\" (line %zu)",
                     ev->key, inv->key, slot->line);
  if (ev->time_us < inv->time_us)
    return read_fail(c, "completion time %" PRIu64 " precedes its invoke's %" PRIu64 " (line %zu)",
                     ev->time_us, inv->time_us, slot->line);
  slot->event = SIZE_MAX;
  return 0;
}

static int read_line(const read_ctx *c, const char *line, size_t len, open_map *open,
                     ctk_history *h) {
  json_error_t jerr;
  json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!obj) return read_fail(c, "bad JSON: %s", jerr.text);
  parsed_event ev;
  int rc = parse_event(c, obj, &ev);
  if (rc == 0) rc = pair_event(c, open, h, &ev);
  if (rc == 0 &&
      ctk_history_add(h, ev.process, ev.type, ev.f, ev.time_us, ev.key, ev.value, ev.expected) != 0)
    rc = read_fail(c, h->n >= CTK_HISTORY_MAX_EVENTS ? "more than the maximum number of events"
                                                     : "out of memory");
  json_decref(obj);
  return rc;
}

int ctk_history_read_jsonl(const char *path, ctk_history *h, char *err, size_t err_len) {
  ctk_history_init(h);
  read_ctx c = {.path = path, .line = 0, .err = err, .err_len = err_len};
  FILE *in = fopen(path, "rb");
  if (!in) return read_fail(&c, "cannot open: %s", strerror(errno));
  line_reader r = {.in = in, .cap = 4 * READ_CHUNK_BYTES};
  r.buf = malloc(r.cap);
  open_map open = {0};
  int rc = r.buf && open_map_grow(&open) == 0 ? 0 : read_fail(&c, "out of memory");
  char *line;
  size_t len;
  while (rc == 0) {
    int got = line_reader_next(&r, &line, &len);
    c.line++;
    if (got == 0) break;
    if (got == -1)
      rc = read_fail(&c, "read error: %s", strerror(errno));
    else if (got == -2)
      rc = read_fail(&c, "line longer than %d bytes", CTK_HISTORY_MAX_LINE);
    else if (got == -3)
      rc = read_fail(&c, "out of memory");
    else if (!is_blank(line, len))
      rc = read_line(&c, line, len, &open, h);
  }
  free(open.slots);
  free(r.buf);
  fclose(in);
  return rc;
}
