/* bench_kv.c: what the key-value state machine costs per committed command, the work every
 * replica of every protocol does once per command. The workload is bench_cluster's: 1,024
 * clients taking turns, keys uniform over 100,000, half gets and half puts of 64-byte values.
 * Reported in nanoseconds per command, as a ratio to decoding the same commands (the least any
 * apply does), measured in the same run, median of five rounds. Also a read (ctk_kv_read, as a
 * lease or leader read is answered) and a snapshot of the resulting store.
 * Then three stores in one process, as the three replicas of a local cluster share the machine's
 * caches: each batch of 64 commands is applied to one store after the other, without and with
 * the prefetch hints a node gives (kv.h, node.c), in the same round. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kv.h"

#define CLIENTS  1024
#define KEYS     100000
#define COMMANDS 400000
#define ROUNDS   5

typedef struct encoded {
  uint8_t *bytes;
  size_t *off, *len;
  size_t n;
} encoded;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

/* The workload's commands, encoded as a protocol hands them to the store. */
static int encode_workload(encoded *w, unsigned seed) {
  char key[32], value[65];
  uint64_t seqs[CLIENTS] = {0};
  w->bytes = malloc((size_t)COMMANDS * 128);
  w->off = malloc(COMMANDS * sizeof *w->off);
  w->len = malloc(COMMANDS * sizeof *w->len);
  if (!w->bytes || !w->off || !w->len) return -1;
  size_t at = 0;
  for (int i = 0; i < COMMANDS; i++) {
    int client = i % CLIENTS;
    snprintf(key, sizeof key, "k%d", (int)(rand_r(&seed) % KEYS));
    for (int j = 0; j < 64; j++) value[j] = (char)('a' + (i + j) % 26);
    value[64] = 0;
    int get = rand_r(&seed) % 2;
    ctk_kv_command cmd = {.op = get ? CTK_F_GET : CTK_F_PUT,
                          .client_id = 0x5eed0000ull + (uint64_t)client * 7919,
                          .seq = ++seqs[client],
                          .key = key,
                          .value = get ? NULL : value};
    int len = ctk_kv_encode(&cmd, w->bytes + at, 128);
    if (len < 0) return -1;
    w->off[i] = at;
    w->len[i] = (size_t)len;
    at += (size_t)len;
  }
  w->n = COMMANDS;
  return 0;
}

enum { REPLICAS = 3, BATCH = 64 };

/* Applies commands [from, to) to kv, with the hints as node.c gives them when `hints`. */
static int apply_batch(ctk_kv *kv, const encoded *w, size_t from, size_t to, int hints,
                       uint64_t *sink) {
  static ctk_kv_result result;
  for (size_t i = from; i < to; i++) {
    if (hints) {
      size_t first = i == from ? from : i + CTK_KV_PREFETCH_SLOT_AHEAD;
      for (size_t j = first; j <= i + CTK_KV_PREFETCH_SLOT_AHEAD && j < to; j++)
        ctk_kv_prefetch_slot(kv, w->bytes + w->off[j], w->len[j]);
      size_t e = i + CTK_KV_PREFETCH_ENTRY_AHEAD;
      if (e < to) ctk_kv_prefetch_entry(kv, w->bytes + w->off[e], w->len[e]);
    }
    int duplicate;
    if (ctk_kv_apply(kv, w->bytes + w->off[i], w->len[i], &result, &duplicate) || duplicate)
      return -1;
    *sink += (uint64_t)result.found;
  }
  return 0;
}

/* ns per command per replica, the workload applied to REPLICAS fresh stores batch by batch. */
static double replicas_ns(const encoded *w, int hints, uint64_t *sink) {
  ctk_kv *kv[REPLICAS];
  for (int r = 0; r < REPLICAS; r++)
    if (!(kv[r] = ctk_kv_new())) return -1;
  double t0 = now_s();
  for (size_t from = 0; from < w->n; from += BATCH) {
    size_t to = from + BATCH < w->n ? from + BATCH : w->n;
    for (int r = 0; r < REPLICAS; r++)
      if (apply_batch(kv[r], w, from, to, hints, sink)) return -1;
  }
  double ns = (now_s() - t0) * 1e9 / (double)(w->n * REPLICAS);
  for (int r = 0; r < REPLICAS; r++) ctk_kv_destroy(&kv[r]);
  return ns;
}

int main(void) {
  encoded w;
  if (encode_workload(&w, 1)) {
    fprintf(stderr, "bench_kv: out of memory\n");
    return 1;
  }
  static char scratch[CTK_KV_MAX_KEY + 2 * CTK_KV_MAX_VALUE + 8];
  static ctk_kv_result result;
  double decode_ns[ROUNDS], apply_ns[ROUNDS], read_ns[ROUNDS], snapshot_ms[ROUNDS];
  double replicas_plain_ns[ROUNDS], replicas_hinted_ns[ROUNDS];
  size_t snapshot_bytes = 0;
  uint64_t sink = 0;
  for (int r = 0; r < ROUNDS; r++) {
    ctk_kv_command cmd;
    double t0 = now_s();
    for (size_t i = 0; i < w.n; i++) {
      if (ctk_kv_decode(w.bytes + w.off[i], w.len[i], &cmd, scratch)) return 1;
      sink += cmd.seq;
    }
    decode_ns[r] = (now_s() - t0) * 1e9 / (double)w.n;

    ctk_kv *kv = ctk_kv_new();
    if (!kv) return 1;
    t0 = now_s();
    for (size_t i = 0; i < w.n; i++) {
      int duplicate;
      if (ctk_kv_apply(kv, w.bytes + w.off[i], w.len[i], &result, &duplicate) || duplicate) {
        fprintf(stderr, "bench_kv: command %zu did not apply\n", i);
        return 1;
      }
      sink += (uint64_t)result.found;
    }
    apply_ns[r] = (now_s() - t0) * 1e9 / (double)w.n;

    /* Reads of the store as it now stands: the workload's gets again. */
    size_t reads = 0;
    t0 = now_s();
    for (size_t i = 0; i < w.n; i++) {
      if (ctk_kv_read(kv, w.bytes + w.off[i], w.len[i], &result)) continue; /* a put */
      sink += (uint64_t)result.found;
      reads++;
    }
    read_ns[r] = (now_s() - t0) * 1e9 / (double)(reads ? reads : 1);

    uint8_t *snapshot;
    t0 = now_s();
    if (ctk_kv_serialize(kv, &snapshot, &snapshot_bytes)) return 1;
    snapshot_ms[r] = (now_s() - t0) * 1e3;
    free(snapshot);
    ctk_kv_destroy(&kv);

    /* The two orders alternate from round to round: neither always runs on a warmer machine. */
    int first = r % 2;
    for (int k = 0; k < 2; k++) {
      int hints = k ^ first;
      double ns = replicas_ns(&w, hints, &sink);
      if (ns < 0) {
        fprintf(stderr, "bench_kv: out of memory or a command did not apply\n");
        return 1;
      }
      (hints ? replicas_hinted_ns : replicas_plain_ns)[r] = ns;
    }
  }
  double decode = median(decode_ns, ROUNDS), apply = median(apply_ns, ROUNDS);
  printf(
      "kv: %d commands, %d clients, keys uniform over %d, half gets, 64-byte values; median of "
      "%d rounds (checksum %llu)\n",
      COMMANDS, CLIENTS, KEYS, ROUNDS, (unsigned long long)(sink % 1000));
  printf("kv_decode_ns         %.1f  (baseline)\n", decode);
  printf("kv_apply_ns          %.1f  (%.2fx decode)\n", apply, apply / decode);
  printf("kv_read_ns           %.1f  (%.2fx decode)\n", median(read_ns, ROUNDS),
         median(read_ns, ROUNDS) / decode);
  printf("kv_snapshot_ms       %.2f  (%zu bytes)\n", median(snapshot_ms, ROUNDS), snapshot_bytes);
  double plain = median(replicas_plain_ns, ROUNDS), hinted = median(replicas_hinted_ns, ROUNDS);
  printf("kv_apply_3_stores_ns %.1f  (%d stores in turn, batches of %d; baseline)\n", plain,
         REPLICAS, BATCH);
  printf("kv_apply_hinted_ns   %.1f  (%.2fx without hints)\n", hinted, hinted / plain);
  free(w.bytes);
  free(w.off);
  free(w.len);
  return 0;
}
