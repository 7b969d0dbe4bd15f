/* kv.h: the replicated state machine every protocol serves: a key-value store with get, put and
 * compare-and-swap, and the encoding of its commands as the opaque bytes protocols replicate.
 *
 * A command carries the client id and the client's sequence number; the store remembers the last
 * sequence number applied per client and its result, so a request retried after a timeout (and
 * therefore committed twice) is applied once and answered with the first result. */
#ifndef CTK_KV_H
#define CTK_KV_H

#include <stddef.h>
#include <stdint.h>

#include "history.h"

#define CTK_KV_MAX_KEY   256
#define CTK_KV_MAX_VALUE 2048

typedef struct ctk_kv_command {
  uint64_t client_id;
  uint64_t seq; /* 1, 2, 3, ... per client; one outstanding at a time */
  ctk_op_f op;
  const char *key;      /* borrowed; NUL-terminated */
  const char *value;    /* put: value; cas: new value; get: NULL */
  const char *expected; /* cas: expected value, NULL meaning "absent" */
} ctk_kv_command;

/* The outcome of applying a command. */
typedef struct ctk_kv_result {
  uint64_t client_id, seq;          /* the command's (also for a duplicate) */
  int ok;                           /* get/put: 1; cas: 1 when it swapped */
  int found;                        /* get: 1 when the key had a value */
  char value[CTK_KV_MAX_VALUE + 1]; /* get: the value read */
} ctk_kv_result;

/* Encodes cmd into buf (at most cap bytes). Returns the length, or -1 when it does not fit or a
 * string is too long. */
int ctk_kv_encode(const ctk_kv_command *cmd, uint8_t *buf, size_t cap);

/* Decodes bytes into *cmd, whose strings point into `scratch` (at least len + 3 bytes).
 * Returns 0, or -1 on malformed bytes. */
int ctk_kv_decode(const uint8_t *bytes, size_t len, ctk_kv_command *cmd, char *scratch);

typedef struct ctk_kv ctk_kv;

ctk_kv *ctk_kv_new(void);
void ctk_kv_destroy(ctk_kv **self_p);

/* Applies one encoded command. A retried command (seq at or below the client's last applied
 * one) is not applied again; *result is then the remembered result of the client's last command
 * and *duplicate is set. Returns 0, or -1 on malformed bytes (nothing applied). */
int ctk_kv_apply(ctk_kv *self, const uint8_t *bytes, size_t len, ctk_kv_result *result,
                 int *duplicate);

/* Hints for applying a run of commands: the store is far larger than the caches, and each
 * command's key costs two waits for memory (its slot in the table, then its entry). Asked for a
 * few commands ahead, the waits of several commands overlap. prefetch_slot asks for the slot of
 * the command's key; prefetch_entry, called once that slot has had time to arrive, for its
 * entry. Neither changes anything nor fails: bytes that do not decode are ignored. */
void ctk_kv_prefetch_slot(const ctk_kv *self, const uint8_t *bytes, size_t len);
void ctk_kv_prefetch_entry(const ctk_kv *self, const uint8_t *bytes, size_t len);
/* How many commands ahead of the one being applied a node asks for a slot, and for an entry
 * (node.c; bench_kv measures the same schedule). */
enum { CTK_KV_PREFETCH_SLOT_AHEAD = 8, CTK_KV_PREFETCH_ENTRY_AHEAD = 4 };

/* Serializes the whole store (keys and values, and the per-client table that answers retried
 * requests) into *out (malloc'ed, *out_len bytes), deterministically: equal stores give equal
 * bytes. This is the state machine snapshot protocols keep in place of a compacted log.
 * Returns 0, or -1 when out of memory. */
int ctk_kv_serialize(const ctk_kv *self, uint8_t **out, size_t *out_len);

/* Replaces the whole store with the one serialized in bytes. Returns 0, or -1 when the bytes do
 * not decode or memory runs out; the store is then unchanged. */
int ctk_kv_restore(ctk_kv *self, const uint8_t *bytes, size_t len);
/* Executes one encoded get without changing anything (the per-client table included): a read a
 * protocol answered without a log write (output.reads). Returns 0, or -1 when the bytes are
 * malformed or not a get. */
int ctk_kv_read(const ctk_kv *self, const uint8_t *bytes, size_t len, ctk_kv_result *result);

/* A digest of the whole store (keys, values and the per-client dedup table), equal on replicas
 * that applied the same commands. Kept up to date by every change: O(1). */
uint64_t ctk_kv_digest(const ctk_kv *self);
/* The same digest summed over the whole store, for tests of the one kept up to date. */
uint64_t ctk_kv_digest_recompute(const ctk_kv *self);
size_t ctk_kv_size(const ctk_kv *self);

#endif /* CTK_KV_H */
