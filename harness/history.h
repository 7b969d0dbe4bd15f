/* history.h: a client history, Jepsen-style: every operation as an invoke event followed later by
 * the same process's completion (ok, fail or info), kept in memory and read from / written to
 * JSON lines:
 *
 *   {"process": 3, "type": "invoke", "f": "put", "key": "k7", "value": "v12", "time": 1234567}
 *   {"process": 3, "type": "ok", "f": "put", "key": "k7", "value": "v12", "time": 1235012}
 *
 * For a get, "value" of the ok event is what was read (null when absent); of the invoke, null.
 * For cas, "value" is [expected, new]; "ok" says it swapped, "fail" that it did not (the value
 * differed from expected). "fail" on get/put: certainly not applied. "info": outcome unknown.
 * time is in microseconds. */
#ifndef CTK_HISTORY_H
#define CTK_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bounds: events per history (so checkers can index them with 32 bits) and bytes per line. */
#define CTK_HISTORY_MAX_EVENTS ((size_t)1 << 30)
#define CTK_HISTORY_MAX_LINE   (1 << 20)

typedef enum ctk_op_f { CTK_F_GET = 0, CTK_F_PUT, CTK_F_CAS } ctk_op_f;
typedef enum ctk_hist_type {
  CTK_HIST_INVOKE = 0,
  CTK_HIST_OK,
  CTK_HIST_FAIL,
  CTK_HIST_INFO
} ctk_hist_type;

typedef struct ctk_hist_event {
  int64_t process;
  ctk_hist_type type;
  ctk_op_f f;
  uint64_t time_us;
  const char *key;      /* interned in the history; never NULL */
  const char *value;    /* put: the value written; get ok: the value read or NULL (absent);
                           cas: the new value; NULL where the event carries none */
  const char *expected; /* cas only: the expected value (NULL means "absent") */
} ctk_hist_event;

typedef struct ctk_history {
  ctk_hist_event *events;
  size_t n, cap;
  struct ctk_strings *strings; /* interned strings owned by the history */
} ctk_history;

void ctk_history_init(ctk_history *h);
void ctk_history_free(ctk_history *h);

/* Appends one event; strings are copied (interned: equal strings share one pointer). Returns 0,
 * or -1 when out of memory or the history already holds CTK_HISTORY_MAX_EVENTS events. */
int ctk_history_add(ctk_history *h, int64_t process, ctk_hist_type type, ctk_op_f f,
                    uint64_t time_us, const char *key, const char *value, const char *expected);

/* Appends the completion (ok, fail or info) of the operation invoked at event `invoke`: the same
 * process, f, key and expected, reused rather than looked up again. value is interned as
 * ctk_history_add does, except when it equals the invocation's own value, which is reused too: a
 * load generator's history costs one lookup per string instead of two. Returns as
 * ctk_history_add does, and -1 when `invoke` is not an invocation. */
int ctk_history_complete(ctk_history *h, size_t invoke, ctk_hist_type type, uint64_t time_us,
                         const char *value);

/* Writes every event as one JSON object per line. Returns 0, or -1 on a write error. */
int ctk_history_write_jsonl(const ctk_history *h, FILE *out);

/* Reads a JSON-lines history. Returns 0, or -1 with "FILE:LINE: reason" in err (bad JSON, a
 * missing or mistyped field, an unknown type or f, a completion without an open invoke, two
 * invokes open for one process). *h is initialised either way and must be freed. */
int ctk_history_read_jsonl(const char *path, ctk_history *h, char *err, size_t err_len);

const char *ctk_op_f_name(ctk_op_f f);
const char *ctk_hist_type_name(ctk_hist_type t);

#endif /* CTK_HISTORY_H */
