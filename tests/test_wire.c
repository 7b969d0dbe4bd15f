/* test_wire.c: the shared codec helpers: big-endian round trips, a reader that stays failed once
 * out of bounds, bounded blobs, the CRC-32C check value, and the seeded generator. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "common/rng.h"
#include "common/wire.h"
#include "hostwire.h"

static void test_round_trip(void **state) {
  (void)state;
  wire_writer w;
  wire_writer_init(&w);
  wire_put_u8(&w, 0xAB);
  wire_put_u32(&w, 0x01020304u);
  wire_put_u64(&w, 0x1122334455667788ull);
  wire_put_blob(&w, "hello", 5);
  assert_int_equal(w.len, 1 + 4 + 8 + 4 + 5);
  assert_int_equal(w.data[1], 0x01); /* big-endian */
  wire_reader r;
  wire_reader_init(&r, w.data, w.len);
  assert_int_equal(wire_get_u8(&r), 0xAB);
  assert_int_equal(wire_get_u32(&r), 0x01020304u);
  assert_true(wire_get_u64(&r) == 0x1122334455667788ull);
  size_t len;
  const uint8_t *blob = wire_get_blob(&r, 16, &len);
  assert_int_equal(len, 5);
  assert_memory_equal(blob, "hello", 5);
  assert_true(wire_reader_done(&r));
  wire_writer_free(&w);
}

static void test_reader_bounds(void **state) {
  (void)state;
  uint8_t bytes[6] = {0, 0, 0, 9, 'a', 'b'};
  wire_reader r;
  wire_reader_init(&r, bytes, sizeof bytes);
  size_t len;
  assert_null(wire_get_blob(&r, 100, &len)); /* claims 9 bytes, has 2 */
  assert_false(wire_reader_ok(&r));
  assert_int_equal(wire_get_u32(&r), 0); /* stays failed */
  assert_false(wire_reader_done(&r));
  wire_reader_init(&r, bytes, sizeof bytes);
  assert_null(wire_get_blob(&r, 4, &len)); /* over the caller's bound */
  wire_reader_init(&r, bytes, 3);
  wire_get_u32(&r);
  assert_false(wire_reader_ok(&r));
  wire_reader_init(&r, bytes, sizeof bytes);
  wire_get_u32(&r);
  assert_false(wire_reader_done(&r)); /* bytes left over */
}

static void test_crc32c_check_value(void **state) {
  (void)state;
  assert_int_equal(wire_crc32c("123456789", 9), 0xE3069283u);
  assert_int_equal(wire_crc32c("", 0), 0);
}

/* The CRC bit by bit, as the definition reads: the fast paths (table, CPU instruction) must
 * agree with it at every length and alignment. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t len) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    for (int b = 0; b < 8; b++) crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

static void test_crc32c_every_length_and_alignment(void **state) {
  (void)state;
  uint8_t buf[300 + 8];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 131 + 7);
  for (size_t at = 0; at < 8; at++)
    for (size_t len = 0; len <= 300; len++)
      assert_int_equal(wire_crc32c(buf + at, len), crc32c_bitwise(buf + at, len));
}

static void test_rng_deterministic_and_bounded(void **state) {
  (void)state;
  ctk_rng a, b;
  ctk_rng_seed(&a, 7);
  ctk_rng_seed(&b, 7);
  for (int i = 0; i < 1000; i++) assert_true(ctk_rng_next(&a) == ctk_rng_next(&b));
  ctk_rng_seed(&b, 8);
  assert_false(ctk_rng_next(&a) == ctk_rng_next(&b));
  for (int i = 0; i < 10000; i++) {
    uint64_t v = ctk_rng_range(&a, 150, 300);
    assert_true(v >= 150 && v <= 300);
    double u = ctk_rng_unit(&a);
    assert_true(u >= 0 && u < 1);
  }
}

/* A node's answer to a client round-trips, the busy flag (backpressure) included; unknown flag
 * bits are refused. */
static void test_hostwire_reply(void **state) {
  (void)state;
  wire_writer w;
  wire_writer_init(&w);
  hw_reply in = {.client_id = 7, .seq = 9, .rejected = 1, .busy = 1, .leader_hint = 2}, out;
  hw_put_reply(&w, &in);
  char value[16];
  assert_int_equal(hw_get_reply(w.data, w.len, &out, value, sizeof value), 0);
  assert_int_equal(out.client_id, 7);
  assert_int_equal(out.seq, 9);
  assert_true(out.rejected && out.busy);
  assert_int_equal(out.leader_hint, 2);
  in = (hw_reply){.client_id = 1, .seq = 2, .ok = 1, .found = 1, .leader_hint = -1, .value = "v"};
  wire_writer_reset(&w);
  hw_put_reply(&w, &in);
  assert_int_equal(hw_get_reply(w.data, w.len, &out, value, sizeof value), 0);
  assert_true(!out.rejected && !out.busy && out.ok && out.found);
  assert_string_equal(value, "v");
  w.data[2 + 16] = 0x10; /* the flags byte, with an unknown bit */
  assert_int_equal(hw_get_reply(w.data, w.len, &out, value, sizeof value), -1);
  wire_writer_free(&w);
}

/* A bundle gives back its frames in order, each borrowed whole; a length past the end, an empty
 * frame or a bundle inside ends it as malformed; a frame of another kind is no bundle. */
static void test_hostwire_bundle(void **state) {
  (void)state;
  wire_writer w, f;
  wire_writer_init(&w);
  wire_writer_init(&f);
  hw_bundle_start(&w);
  for (int i = 0; i < 3; i++) {
    uint8_t cmd[4] = {1, 2, 3, (uint8_t)i};
    wire_writer_reset(&f);
    hw_put_request(&f, cmd, sizeof cmd);
    hw_bundle_add(&w, f.data, f.len);
  }
  assert_int_equal(hw_frame_kind(w.data, w.len), HW_BUNDLE);
  hw_bundle_reader r;
  ctk_bytes inner, cmd;
  assert_int_equal(hw_bundle_open(&r, w.data, w.len), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(hw_bundle_next(&r, &inner), 1);
    assert_int_equal(hw_get_request(inner.data, inner.len, &cmd), 0);
    assert_int_equal(cmd.len, 4);
    assert_int_equal(cmd.data[3], i);
  }
  assert_int_equal(hw_bundle_next(&r, &inner), 0);
  /* Cut short: the last frame's length runs past the end. */
  assert_int_equal(hw_bundle_open(&r, w.data, w.len - 1), 0);
  assert_int_equal(hw_bundle_next(&r, &inner), 1);
  assert_int_equal(hw_bundle_next(&r, &inner), 1);
  assert_int_equal(hw_bundle_next(&r, &inner), -1);
  assert_int_equal(hw_bundle_next(&r, &inner), 0);
  /* A bundle inside a bundle, and an empty frame. */
  wire_writer_reset(&f);
  hw_bundle_start(&f);
  hw_bundle_add(&f, w.data, w.len);
  assert_int_equal(hw_bundle_open(&r, f.data, f.len), 0);
  assert_int_equal(hw_bundle_next(&r, &inner), -1);
  wire_writer_reset(&f);
  hw_bundle_start(&f);
  hw_bundle_add(&f, NULL, 0);
  assert_int_equal(hw_bundle_open(&r, f.data, f.len), 0);
  assert_int_equal(hw_bundle_next(&r, &inner), -1);
  wire_writer_reset(&f);
  hw_put_request(&f, (const uint8_t *)"x", 1);
  assert_int_equal(hw_bundle_open(&r, f.data, f.len), -1);
  wire_writer_free(&w);
  wire_writer_free(&f);
}

/* The operator's request and its answer: round trips, and requests that are empty, too long or
 * not printable ASCII are refused. */
static void test_hostwire_admin(void **state) {
  (void)state;
  wire_writer w;
  wire_writer_init(&w);
  hw_put_admin(&w, "add 3", 5);
  ctk_bytes req;
  assert_int_equal(hw_get_admin(w.data, w.len, &req), 0);
  assert_int_equal(req.len, 5);
  assert_memory_equal(req.data, "add 3", 5);
  w.data[w.len - 1] = '\n';
  assert_int_equal(hw_get_admin(w.data, w.len, &req), -1);
  wire_writer_reset(&w);
  hw_put_admin(&w, "", 0);
  assert_int_equal(hw_get_admin(w.data, w.len, &req), -1);
  char big[HW_ADMIN_MAX_BYTES + 1];
  memset(big, 'a', sizeof big);
  wire_writer_reset(&w);
  hw_put_admin(&w, big, sizeof big);
  assert_int_equal(hw_get_admin(w.data, w.len, &req), -1);
  int rc, hint;
  wire_writer_reset(&w);
  hw_put_admin_reply(&w, CTK_ERR_REJECTED, 2);
  assert_int_equal(hw_get_admin_reply(w.data, w.len, &rc, &hint), 0);
  assert_int_equal(rc, CTK_ERR_REJECTED);
  assert_int_equal(hint, 2);
  wire_writer_reset(&w);
  hw_put_admin_reply(&w, CTK_OK, -1);
  assert_int_equal(hw_get_admin_reply(w.data, w.len, &rc, &hint), 0);
  assert_int_equal(rc, CTK_OK);
  assert_int_equal(hint, -1);
  assert_int_equal(hw_get_admin_reply(w.data, w.len - 1, &rc, &hint), -1);
  wire_writer_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hostwire_admin),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_reader_bounds),
      cmocka_unit_test(test_crc32c_check_value),
      cmocka_unit_test(test_crc32c_every_length_and_alignment),
      cmocka_unit_test(test_rng_deterministic_and_bounded),
      cmocka_unit_test(test_hostwire_reply),
      cmocka_unit_test(test_hostwire_bundle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
