/* test_kv.c: the key-value state machine, its command encoding, the workload generator and the
 * latency histogram. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"
#include "kv.h"
#include "workload.h"

static int encode(uint64_t client, uint64_t seq, ctk_op_f op, const char *key, const char *value,
                  const char *expected, uint8_t *buf) {
  ctk_kv_command cmd = {client, seq, op, key, value, expected};
  return ctk_kv_encode(&cmd, buf, CTK_MAX_COMMAND_BYTES);
}

static ctk_kv_result apply(ctk_kv *kv, uint64_t client, uint64_t seq, ctk_op_f op, const char *key,
                           const char *value, const char *expected, int *duplicate) {
  uint8_t buf[CTK_MAX_COMMAND_BYTES];
  int len = encode(client, seq, op, key, value, expected, buf);
  assert_true(len > 0);
  ctk_kv_result r;
  int dup = 0;
  assert_int_equal(ctk_kv_apply(kv, buf, (size_t)len, &r, &dup), 0);
  if (duplicate) *duplicate = dup;
  return r;
}

static void test_encode_round_trip(void **state) {
  (void)state;
  uint8_t buf[CTK_MAX_COMMAND_BYTES];
  char scratch[CTK_MAX_COMMAND_BYTES + 8];
  int len = encode(7, 42, CTK_F_CAS, "k12", "new", "old", buf);
  assert_true(len > 0);
  ctk_kv_command cmd;
  assert_int_equal(ctk_kv_decode(buf, (size_t)len, &cmd, scratch), 0);
  assert_int_equal(cmd.client_id, 7);
  assert_int_equal(cmd.seq, 42);
  assert_int_equal(cmd.op, CTK_F_CAS);
  assert_string_equal(cmd.key, "k12");
  assert_string_equal(cmd.value, "new");
  assert_string_equal(cmd.expected, "old");
  /* cas expecting "absent" has no expected field */
  len = encode(7, 43, CTK_F_CAS, "k12", "new", NULL, buf);
  assert_int_equal(ctk_kv_decode(buf, (size_t)len, &cmd, scratch), 0);
  assert_null(cmd.expected);
}

static void test_decode_rejects_malformed(void **state) {
  (void)state;
  uint8_t buf[CTK_MAX_COMMAND_BYTES];
  char scratch[CTK_MAX_COMMAND_BYTES + 8];
  ctk_kv_command cmd;
  int len = encode(1, 1, CTK_F_PUT, "key", "value", NULL, buf);
  for (int cut = 0; cut < len; cut++)
    assert_int_equal(ctk_kv_decode(buf, (size_t)cut, &cmd, scratch), -1);
  uint8_t longer[CTK_MAX_COMMAND_BYTES];
  memcpy(longer, buf, (size_t)len);
  longer[len] = 0;
  assert_int_equal(ctk_kv_decode(longer, (size_t)len + 1, &cmd, scratch), -1);
  buf[0] = 99; /* version */
  assert_int_equal(ctk_kv_decode(buf, (size_t)len, &cmd, scratch), -1);
  buf[0] = 1;
  buf[1] = 7; /* op */
  assert_int_equal(ctk_kv_decode(buf, (size_t)len, &cmd, scratch), -1);
  /* over-long strings do not encode */
  char big[CTK_KV_MAX_VALUE + 2];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  assert_int_equal(encode(1, 1, CTK_F_PUT, "k", big, NULL, buf), -1);
  assert_int_equal(encode(1, 1, CTK_F_PUT, "", "v", NULL, buf), -1);
}

/* The encoding follows protocol.h's interference header, which EPaxos reads: key, session and
 * read or write, and interference by the contract's rules. */
static void test_commands_carry_their_footprint(void **state) {
  (void)state;
  uint8_t get[CTK_MAX_COMMAND_BYTES], put[CTK_MAX_COMMAND_BYTES], cas[CTK_MAX_COMMAND_BYTES];
  uint8_t other[CTK_MAX_COMMAND_BYTES], get2[CTK_MAX_COMMAND_BYTES];
  int lg = encode(3, 9, CTK_F_GET, "alpha", NULL, NULL, get);
  int lp = encode(4, 1, CTK_F_PUT, "alpha", "v", NULL, put);
  int lc = encode(5, 2, CTK_F_CAS, "beta", "w", "x", cas);
  int lo = encode(4, 2, CTK_F_PUT, "gamma", "v", NULL, other);
  int lg2 = encode(6, 1, CTK_F_GET, "alpha", NULL, NULL, get2);
  ctk_footprint fg = ctk_command_footprint(get, (size_t)lg);
  ctk_footprint fp = ctk_command_footprint(put, (size_t)lp);
  ctk_footprint fc = ctk_command_footprint(cas, (size_t)lc);
  ctk_footprint fo = ctk_command_footprint(other, (size_t)lo);
  ctk_footprint fg2 = ctk_command_footprint(get2, (size_t)lg2);
  assert_true(fg.known && fp.known && fc.known && fo.known);
  assert_false(fg.write);
  assert_true(fp.write && fc.write);
  assert_int_equal(fg.session, 3);
  assert_int_equal(fg.key_len, 5);
  assert_memory_equal(fg.key, "alpha", 5);
  assert_true(ctk_footprints_interfere(&fg, &fp));   /* a read and a write of one key */
  assert_false(ctk_footprints_interfere(&fg, &fg2)); /* two reads of one key */
  assert_false(ctk_footprints_interfere(&fg, &fc));  /* different keys, different sessions */
  assert_true(ctk_footprints_interfere(&fp, &fo));   /* one session */
  ctk_footprint none = ctk_command_footprint((const uint8_t *)"opaque bytes", 12);
  assert_false(none.known);
  assert_true(ctk_footprints_interfere(&none, &fc));
}

static void test_get_put_cas(void **state) {
  (void)state;
  ctk_kv *kv = ctk_kv_new();
  ctk_kv_result r = apply(kv, 1, 1, CTK_F_GET, "a", NULL, NULL, NULL);
  assert_true(r.ok);
  assert_false(r.found);
  r = apply(kv, 1, 2, CTK_F_CAS, "a", "x", "nope", NULL);
  assert_false(r.ok);
  r = apply(kv, 1, 3, CTK_F_CAS, "a", "x", NULL, NULL); /* expect absent */
  assert_true(r.ok);
  r = apply(kv, 1, 4, CTK_F_GET, "a", NULL, NULL, NULL);
  assert_true(r.found);
  assert_string_equal(r.value, "x");
  r = apply(kv, 2, 1, CTK_F_PUT, "a", "y", NULL, NULL);
  r = apply(kv, 2, 2, CTK_F_CAS, "a", "z", "y", NULL);
  assert_true(r.ok);
  r = apply(kv, 2, 3, CTK_F_GET, "a", NULL, NULL, NULL);
  assert_string_equal(r.value, "z");
  for (int i = 0; i < 5000; i++) { /* growth */
    char key[16], value[16];
    snprintf(key, sizeof key, "k%d", i);
    snprintf(value, sizeof value, "v%d", i);
    apply(kv, 3, (uint64_t)i + 1, CTK_F_PUT, key, value, NULL, NULL);
  }
  assert_int_equal(ctk_kv_size(kv), 5001);
  r = apply(kv, 3, 6000, CTK_F_GET, "k4321", NULL, NULL, NULL);
  assert_string_equal(r.value, "v4321");
  ctk_kv_destroy(&kv);
  assert_null(kv);
}

static void test_duplicates_applied_once(void **state) {
  (void)state;
  ctk_kv *kv = ctk_kv_new();
  int dup;
  apply(kv, 5, 1, CTK_F_PUT, "a", "1", NULL, &dup);
  assert_false(dup);
  ctk_kv_result first = apply(kv, 5, 2, CTK_F_CAS, "a", "2", "1", &dup);
  assert_true(first.ok);
  apply(kv, 6, 1, CTK_F_PUT, "a", "3", NULL, &dup);
  /* the retried cas is not applied again, and answers with its first result */
  ctk_kv_result again = apply(kv, 5, 2, CTK_F_CAS, "a", "2", "1", &dup);
  assert_true(dup);
  assert_true(again.ok);
  assert_int_equal(again.client_id, 5); /* names the request it answers */
  assert_int_equal(again.seq, 2);
  ctk_kv_result older = apply(kv, 5, 1, CTK_F_PUT, "a", "1", NULL, &dup);
  assert_true(dup);
  assert_int_equal(older.seq, 1);
  ctk_kv_result r = apply(kv, 6, 2, CTK_F_GET, "a", NULL, NULL, &dup);
  assert_string_equal(r.value, "3");
  ctk_kv_destroy(&kv);
}

static void test_digest_matches_replicas(void **state) {
  (void)state;
  ctk_kv *a = ctk_kv_new(), *b = ctk_kv_new();
  apply(a, 1, 1, CTK_F_PUT, "x", "1", NULL, NULL);
  apply(a, 2, 1, CTK_F_PUT, "y", "2", NULL, NULL);
  apply(b, 1, 1, CTK_F_PUT, "x", "1", NULL, NULL);
  assert_int_not_equal(ctk_kv_digest(a), ctk_kv_digest(b));
  apply(b, 2, 1, CTK_F_PUT, "y", "2", NULL, NULL);
  assert_int_equal(ctk_kv_digest(a), ctk_kv_digest(b));
  ctk_kv_destroy(&a);
  ctk_kv_destroy(&b);
}

/* The prefetch hints (kv.h) read only what they are given and change nothing: on an empty store,
 * on bytes too short for a key or with a key length past their end, and on a store holding the
 * key, the one next to it and not the one asked for. */
static void test_prefetch_hints_change_nothing(void **state) {
  (void)state;
  ctk_kv *kv = ctk_kv_new();
  uint8_t buf[CTK_MAX_COMMAND_BYTES];
  int len = encode(1, 1, CTK_F_PUT, "key", "v", NULL, buf);
  assert_true(len > 0);
  ctk_kv_prefetch_slot(kv, buf, (size_t)len); /* an empty store: no table yet */
  ctk_kv_prefetch_entry(kv, buf, (size_t)len);
  apply(kv, 1, 1, CTK_F_PUT, "key", "v", NULL, NULL);
  apply(kv, 2, 1, CTK_F_PUT, "kez", "w", NULL, NULL);
  uint64_t digest = ctk_kv_digest(kv);
  for (size_t cut = 0; cut <= (size_t)len; cut++) { /* every truncation of the command */
    ctk_kv_prefetch_slot(kv, buf, cut);
    ctk_kv_prefetch_entry(kv, buf, cut);
  }
  uint8_t lying[CTK_MAX_COMMAND_BYTES];
  memcpy(lying, buf, (size_t)len);
  lying[19] = 0xff; /* a key length far past the end of the bytes */
  ctk_kv_prefetch_slot(kv, lying, (size_t)len);
  ctk_kv_prefetch_entry(kv, lying, (size_t)len);
  int absent = encode(3, 1, CTK_F_GET, "nokey", NULL, NULL, buf);
  ctk_kv_prefetch_slot(kv, buf, (size_t)absent);
  ctk_kv_prefetch_entry(kv, buf, (size_t)absent);
  assert_int_equal(ctk_kv_digest(kv), digest);
  assert_int_equal(ctk_kv_digest_recompute(kv), digest);
  ctk_kv_destroy(&kv);
}

/* The digest kept up to date equals the one summed over the store, through overwrites, failed
 * and successful compare-and-sets, retries, gets, growth of both tables, and a restore. */
static void test_digest_kept_up_to_date(void **state) {
  (void)state;
  ctk_kv *a = ctk_kv_new(), *b = ctk_kv_new();
  char key[16], value[16];
  assert_int_equal(ctk_kv_digest(a), ctk_kv_digest_recompute(a));
  for (int i = 0; i < 3000; i++) {
    snprintf(key, sizeof key, "k%d", i % 500);
    snprintf(value, sizeof value, "v%d", i);
    uint64_t client = 1 + (uint64_t)(i % 37), seq = 1 + (uint64_t)(i / 37);
    if (i % 7 == 0)
      apply(a, client, seq, CTK_F_CAS, key, value, i % 14 ? "nope" : NULL, NULL);
    else if (i % 5 == 0)
      apply(a, client, seq, CTK_F_GET, key, NULL, NULL, NULL);
    else
      apply(a, client, seq, CTK_F_PUT, key, value, NULL, NULL);
    if (i % 11 == 0) apply(a, client, seq, CTK_F_PUT, key, "retried", NULL, NULL);
    assert_int_equal(ctk_kv_digest(a), ctk_kv_digest_recompute(a));
  }
  uint8_t *snap;
  size_t len;
  assert_int_equal(ctk_kv_serialize(a, &snap, &len), 0);
  apply(b, 99, 1, CTK_F_PUT, "gone", "soon", NULL, NULL);
  assert_int_equal(ctk_kv_restore(b, snap, len), 0);
  assert_int_equal(ctk_kv_digest(b), ctk_kv_digest_recompute(b));
  assert_int_equal(ctk_kv_digest(b), ctk_kv_digest(a));
  free(snap);
  ctk_kv_destroy(&a);
  ctk_kv_destroy(&b);
}

/* A snapshot restores the same store (values and the answers to retried requests), its bytes do
 * not depend on the order of history that led to the store, and bad bytes change nothing. */
static void test_snapshot_round_trip(void **state) {
  (void)state;
  ctk_kv *a = ctk_kv_new(), *b = ctk_kv_new();
  char key[16], value[16];
  for (int i = 0; i < 200; i++) {
    snprintf(key, sizeof key, "k%d", i % 70);
    snprintf(value, sizeof value, "v%d", i);
    apply(a, 1 + (uint64_t)(i % 5), 1 + (uint64_t)i, CTK_F_PUT, key, value, NULL, NULL);
  }
  apply(a, 9, 1, CTK_F_GET, "k3", NULL, NULL, NULL);
  apply(a, 9, 2, CTK_F_CAS, "k4", "x", "nope", NULL);
  uint8_t *snap;
  size_t len;
  assert_int_equal(ctk_kv_serialize(a, &snap, &len), 0);
  assert_int_equal(ctk_kv_restore(b, snap, len), 0);
  assert_int_equal(ctk_kv_digest(a), ctk_kv_digest(b));
  assert_int_equal(ctk_kv_size(b), 70);
  /* Same bytes again from the restored copy, whose table was filled in another order. */
  uint8_t *again;
  size_t again_len;
  assert_int_equal(ctk_kv_serialize(b, &again, &again_len), 0);
  assert_int_equal(again_len, len);
  assert_memory_equal(again, snap, len);
  /* The per-client table came along: a retried cas is answered as the first time. */
  int dup = 0;
  ctk_kv_result r = apply(b, 9, 2, CTK_F_CAS, "k4", "x", "nope", &dup);
  assert_int_equal(dup, 1);
  assert_int_equal(r.ok, 0);
  r = apply(b, 1, 196, CTK_F_GET, "k55", NULL, NULL, &dup);
  assert_int_equal(dup, 1); /* client 1's last was seq 196: a put, answered ok */
  assert_int_equal(r.ok, 1);
  /* Every truncation, and a flipped version byte, is refused and leaves the store alone. */
  uint64_t before = ctk_kv_digest(b);
  for (size_t cut = 0; cut < len; cut += 1 + len / 97)
    assert_int_equal(ctk_kv_restore(b, snap, cut), -1);
  snap[0] ^= 0x40;
  assert_int_equal(ctk_kv_restore(b, snap, len), -1);
  assert_int_equal(ctk_kv_digest(b), before);
  /* An empty store round-trips too. */
  ctk_kv *empty = ctk_kv_new();
  free(again);
  assert_int_equal(ctk_kv_serialize(empty, &again, &again_len), 0);
  assert_int_equal(ctk_kv_restore(b, again, again_len), 0);
  assert_int_equal(ctk_kv_size(b), 0);
  free(again);
  free(snap);
  ctk_kv_destroy(&empty);
  ctk_kv_destroy(&a);
  ctk_kv_destroy(&b);
}

static ctk_workload workload(ctk_distribution d, int64_t keys) {
  ctk_workload w = {.clients = 1,
                    .read_ratio = 0.5,
                    .cas_ratio = 0.2,
                    .keys = keys,
                    .distribution = d,
                    .zipf_s = 0.99,
                    .conflict_pct = 30,
                    .value_bytes = 16};
  return w;
}

static void test_key_distributions(void **state) {
  (void)state;
  enum { DRAWS = 200000 };
  static uint64_t counts[1000];
  ctk_rng rng;
  ctk_rng_seed(&rng, 9);
  ctk_workload_gen g;
  /* uniform: every key roughly DRAWS/keys */
  ctk_workload w = workload(CTK_DIST_UNIFORM, 100);
  assert_int_equal(ctk_workload_gen_init(&g, &w), 0);
  memset(counts, 0, sizeof counts);
  for (int i = 0; i < DRAWS; i++) counts[ctk_workload_next_key(&g, &rng)]++;
  for (int k = 0; k < 100; k++) assert_true(counts[k] > 1700 && counts[k] < 2300);
  ctk_workload_gen_free(&g);
  /* zipf, s = 0.99 over 1000 keys: key 0 takes ~13%, key 1 about half of key 0's share */
  w = workload(CTK_DIST_ZIPF, 1000);
  assert_int_equal(ctk_workload_gen_init(&g, &w), 0);
  memset(counts, 0, sizeof counts);
  for (int i = 0; i < DRAWS; i++) counts[ctk_workload_next_key(&g, &rng)]++;
  double p0 = (double)counts[0] / DRAWS, ratio = (double)counts[1] / (double)counts[0];
  assert_true(p0 > 0.11 && p0 < 0.16);
  assert_true(ratio > 0.45 && ratio < 0.56);
  assert_true(counts[999] < counts[10]);
  ctk_workload_gen_free(&g);
  /* conflict 30%: key 0 takes 30% */
  w = workload(CTK_DIST_CONFLICT, 1000);
  assert_int_equal(ctk_workload_gen_init(&g, &w), 0);
  memset(counts, 0, sizeof counts);
  for (int i = 0; i < DRAWS; i++) counts[ctk_workload_next_key(&g, &rng)]++;
  assert_true((double)counts[0] / DRAWS > 0.28 && (double)counts[0] / DRAWS < 0.32);
  ctk_workload_gen_free(&g);
}

static void test_ops_mix_and_unique_values(void **state) {
  (void)state;
  ctk_rng rng;
  ctk_rng_seed(&rng, 3);
  ctk_workload w = workload(CTK_DIST_UNIFORM, 10);
  ctk_workload_gen g;
  assert_int_equal(ctk_workload_gen_init(&g, &w), 0);
  int gets = 0, cas = 0, cas_expecting = 0;
  ctk_op op;
  for (int i = 0; i < 10000; i++) {
    ctk_workload_next_op(&g, &rng, 4, (uint64_t)i + 1, &op);
    if (op.f == CTK_F_GET) gets++;
    if (op.f == CTK_F_CAS) {
      cas++;
      cas_expecting += op.has_expected;
    }
    if (op.f != CTK_F_GET) {
      char prefix[32];
      snprintf(prefix, sizeof prefix, "c4.%d", i + 1);
      assert_int_equal(strncmp(op.value, prefix, strlen(prefix)), 0);
      assert_int_equal(strlen(op.value), 16);
      ctk_workload_observe(&g, op.key, op.value);
    }
  }
  assert_true(gets > 4700 && gets < 5300);
  assert_true(cas > 800 && cas < 1200);
  assert_true(cas_expecting > cas / 2); /* observed values feed later cas expectations */
  ctk_workload_gen_free(&g);
}

static void test_histogram_quantiles(void **state) {
  (void)state;
  ctk_histogram h;
  ctk_histogram_init(&h);
  assert_int_equal(ctk_histogram_quantile(&h, 0.5), 0);
  for (uint64_t v = 1; v <= 100000; v++) ctk_histogram_record(&h, v);
  uint64_t p50 = ctk_histogram_quantile(&h, 0.5), p99 = ctk_histogram_quantile(&h, 0.99);
  assert_true(p50 >= 50000 && p50 <= 50000 * 1.02);
  assert_true(p99 >= 99000 && p99 <= 99000 * 1.02);
  assert_int_equal(ctk_histogram_quantile(&h, 1), 100000);
  assert_int_equal(ctk_histogram_quantile(&h, 0), 1);
  ctk_histogram other;
  ctk_histogram_init(&other);
  ctk_histogram_record(&other, 5000000);
  ctk_histogram_merge(&h, &other);
  assert_int_equal(h.max, 5000000);
  assert_int_equal(h.total, 100001);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_round_trip),
      cmocka_unit_test(test_decode_rejects_malformed),
      cmocka_unit_test(test_commands_carry_their_footprint),
      cmocka_unit_test(test_get_put_cas),
      cmocka_unit_test(test_duplicates_applied_once),
      cmocka_unit_test(test_digest_matches_replicas),
      cmocka_unit_test(test_digest_kept_up_to_date),
      cmocka_unit_test(test_prefetch_hints_change_nothing),
      cmocka_unit_test(test_snapshot_round_trip),
      cmocka_unit_test(test_key_distributions),
      cmocka_unit_test(test_ops_mix_and_unique_values),
      cmocka_unit_test(test_histogram_quantiles),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
