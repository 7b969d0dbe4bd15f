/* store.h: a node's durable bytes on local disk.
 *
 * A protocol node persists one opaque, growing byte string (protocol.h: output.persist). Each step
 * stages bytes to APPEND to it, or bytes that REPLACE it all; ctk_store_sync makes everything
 * staged since the previous sync durable with one sync (group commit), and only then may the node
 * send what depends on those bytes. On restart, ctk_store_read hands back exactly the synced
 * bytes.
 *
 * Two backends:
 * - CTK_STORE_WAL: an append-only file (DIR/wal.log) of CRC-framed records, one per appended
 *   chunk, written with one pwrite and one fdatasync per sync; a replace writes DIR/wal.log.tmp,
 *   syncs it and renames it over the log (then syncs the directory). A torn tail left by a crash
 *   is dropped at open; a damaged record followed by records of a later sync is corruption.
 * - CTK_STORE_LMDB: an LMDB environment in DIR; one value per appended chunk under a big-endian
 *   uint64 key, each sync one write transaction.
 *
 * Errors are returned (0 or -1, or NULL) with a message naming the path and the cause in the
 * caller's buffer; nothing is printed and no I/O error aborts. A store is used by one thread. */
#ifndef CTK_STORE_H
#define CTK_STORE_H

#include <stddef.h>
#include <stdint.h>

/* At most this many bytes staged between two syncs (one append or replace included). */
#define CTK_STORE_MAX_STAGED_BYTES ((size_t)1 << 30)

typedef enum ctk_store_kind { CTK_STORE_WAL = 0, CTK_STORE_LMDB } ctk_store_kind;

typedef struct ctk_store ctk_store;

/* Counted when a sync succeeds: syncs made (each one group commit; a sync with nothing staged is
 * not counted), bytes appended and replaces made durable by them, and the time spent in those
 * syncs (writing and syncing). */
typedef struct ctk_store_stats {
  uint64_t syncs, bytes_appended, replaces;
  uint64_t sync_us_total;
} ctk_store_stats;

/* Opens (creating dir and files as needed) the store in directory dir. sync=0: never fsync (for
 * measuring the cost of durability; a process kill still loses nothing written by
 * ctk_store_sync, a machine crash may). On error, NULL is returned with a message in err.
 * A WAL log damaged before its tail still opens: ctk_store_read then reports the corruption,
 * and only a replace can be synced. */
ctk_store *ctk_store_open(const char *dir, ctk_store_kind kind, int sync, char *err,
                          size_t err_len);

/* The durable bytes: what the syncs so far made durable (bytes staged and not yet synced are not
 * included), in a malloc'd buffer the caller frees (*data may be NULL when *len is 0).
 * 0, or -1 with a message in err (corruption, I/O error, out of memory). */
int ctk_store_read(ctk_store *s, uint8_t **data, size_t *len, char *err, size_t err_len);

/* Stage bytes: appended, or replacing everything (a replace drops whatever was staged before it).
 * Not durable until ctk_store_sync. Appending 0 bytes does nothing; replacing with 0 bytes makes
 * the durable bytes empty. 0, or -1 with err (over CTK_STORE_MAX_STAGED_BYTES, out of memory). */
int ctk_store_append(ctk_store *s, const uint8_t *data, size_t len, char *err, size_t err_len);
int ctk_store_replace(ctk_store *s, const uint8_t *data, size_t len, char *err, size_t err_len);

/* Makes everything staged since the last sync durable, with one sync (group commit); with
 * nothing staged it does nothing. 0, or -1 with err (ENOSPC, EFBIG, EIO, ...): then nothing
 * synced before is lost, the store stays readable and usable, and the staged bytes stay staged,
 * so a later sync may retry them. */
int ctk_store_sync(ctk_store *s, char *err, size_t err_len);

void ctk_store_stats_get(const ctk_store *s, ctk_store_stats *stats);

/* Closes the store and NULLs the caller's pointer; staged bytes not synced are dropped. */
void ctk_store_close(ctk_store **s_p);

const char *ctk_store_kind_name(ctk_store_kind kind); /* "wal", "lmdb" */

#endif /* CTK_STORE_H */
