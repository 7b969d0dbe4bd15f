/* workload.c: operation mix and key distributions (see workload.h). */
#include "workload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Zipf over ranks 1..n with exponent s, by rejection-inversion (Hörmann and Derflinger, "Rejection-
 * inversion to generate variates from monotone discrete distributions", 1996). H is an antider-
 * ivative of the hat function h(x) = x^-s; helper1/helper2 keep it accurate near s = 1. */
static double zipf_helper1(double x) {
  return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x / 3);
}
static double zipf_helper2(double x) {
  return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x / 3);
}
static double zipf_H(double s, double x) {
  double lx = log(x);
  return zipf_helper2((1 - s) * lx) * lx;
}
static double zipf_H_inv(double s, double x) {
  double t = x * (1 - s);
  if (t < -1) t = -1;
  return exp(zipf_helper1(t) * x);
}

int ctk_workload_gen_init(ctk_workload_gen *g, const ctk_workload *w) {
  memset(g, 0, sizeof *g);
  g->w = *w;
  g->cache = calloc(CTK_WORKLOAD_CACHE, sizeof *g->cache);
  if (!g->cache) return -1;
  if (w->distribution == CTK_DIST_ZIPF) {
    double s = w->zipf_s, n = (double)w->keys;
    g->zipf_h_x1 = zipf_H(s, 1.5) - 1;
    g->zipf_h_n = zipf_H(s, n + 0.5);
    g->zipf_threshold = 2 - zipf_H_inv(s, zipf_H(s, 2.5) - exp(-s * log(2)));
  }
  return 0;
}

void ctk_workload_gen_free(ctk_workload_gen *g) {
  free(g->cache);
  g->cache = NULL;
}

static uint64_t zipf_next(const ctk_workload_gen *g, ctk_rng *rng) {
  double s = g->w.zipf_s;
  for (;;) {
    double u = g->zipf_h_n + ctk_rng_unit(rng) * (g->zipf_h_x1 - g->zipf_h_n);
    double x = zipf_H_inv(s, u);
    double k = floor(x + 0.5);
    if (k < 1) k = 1;
    if (k > (double)g->w.keys) k = (double)g->w.keys;
    if (k - x <= g->zipf_threshold || u >= zipf_H(s, k + 0.5) - exp(-log(k) * s))
      return (uint64_t)k - 1;
  }
}

uint64_t ctk_workload_next_key(const ctk_workload_gen *g, ctk_rng *rng) {
  uint64_t n = (uint64_t)g->w.keys;
  switch (g->w.distribution) {
  case CTK_DIST_ZIPF: return zipf_next(g, rng);
  case CTK_DIST_CONFLICT:
    if (ctk_rng_chance(rng, g->w.conflict_pct / 100.0) || n == 1) return 0;
    return ctk_rng_range(rng, 1, n - 1);
  case CTK_DIST_UNIFORM:
  default: return ctk_rng_range(rng, 0, n - 1);
  }
}

static size_t cache_slot(uint64_t key) { return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 52); }

static uint64_t key_number(const char *key) { return strtoull(key + 1, NULL, 10); }

/* Writes prefix then v in decimal at out (room for both and the NUL assumed: a u64 has at most
 * 20 digits); returns the length. snprintf did the same at ten times the cost, and every
 * operation of a load generator formats a key and a value. */
static size_t put_decimal(char *out, char prefix, uint64_t v) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  size_t len = 0;
  if (prefix) out[len++] = prefix;
  while (n) out[len++] = digits[--n];
  out[len] = 0;
  return len;
}

void ctk_workload_next_op(ctk_workload_gen *g, ctk_rng *rng, uint64_t client, uint64_t seq,
                          ctk_op *op) {
  uint64_t key = ctk_workload_next_key(g, rng);
  put_decimal(op->key, 'k', key);
  op->has_expected = 0;
  op->value[0] = op->expected[0] = 0;
  if (ctk_rng_chance(rng, g->w.read_ratio)) {
    op->f = CTK_F_GET;
    return;
  }
  op->f = ctk_rng_chance(rng, g->w.cas_ratio) ? CTK_F_CAS : CTK_F_PUT;
  /* A unique value: "c<client>.<seq>", padded to value_bytes. */
  size_t n = put_decimal(op->value, 'c', client);
  n += put_decimal(op->value + n, '.', seq);
  size_t want = (size_t)g->w.value_bytes;
  if (want > CTK_KV_MAX_VALUE) want = CTK_KV_MAX_VALUE;
  for (size_t i = n; i < want; i++) op->value[i] = '.';
  if (n < want) op->value[want] = 0;
  if (op->f == CTK_F_CAS) {
    size_t slot = cache_slot(key);
    if (g->cache[slot].key == key + 1) {
      op->has_expected = g->cache[slot].value[0] != 0;
      memcpy(op->expected, g->cache[slot].value, sizeof op->expected);
    }
  }
}

void ctk_workload_observe(ctk_workload_gen *g, const char *key, const char *value) {
  uint64_t k = key_number(key);
  size_t slot = cache_slot(k);
  g->cache[slot].key = k + 1;
  size_t len = value ? strnlen(value, sizeof g->cache[slot].value - 1) : 0;
  if (len) memcpy(g->cache[slot].value, value, len);
  g->cache[slot].value[len] = 0;
}
