/* test_node.c: node processes under hostile input and crashes. A node fed garbage frames (random
 * bytes, unknown kinds, multipart junk, oversized frames, requests that do not decode, a peer
 * frame from a client's identity, a peer claiming another node's id or another cluster's tag,
 * protocol messages that do not decode) drops and counts each one and keeps serving a
 * linearizable workload. A node killed with SIGKILL restarts from its disk and catches up: every
 * node ends with the same store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cli.h"
#include "clock.h"
#include "cluster.h"
#include "config.h"
#include "hostwire.h"
#include "realnode.h"
#include "tmpdir.h"

static const char *const workload_toml =
    "[workload]\nclients = 4\nduration_s = %g\nwarmup_s = 0\nkeys = 10\nclient_timeout_ms = 300\n";

/* A 3-node Raft cluster on ports of our own. */
static ctk_local_cluster *start_cluster(ctk_config *config, const char *name, double duration_s) {
  char extra[256];
  snprintf(extra, sizeof extra, workload_toml, duration_s);
  return realnode_start(config, tmpdir_path(), name, "raft", 3, extra);
}

static void send_frame(void *s, const void *data, size_t len) {
  assert_true(zmq_send(s, data, len, 0) >= 0);
}

static void test_garbage_frames_are_counted_and_the_node_keeps_serving(void **state) {
  (void)state;
  ctk_config config;
  ctk_local_cluster *cluster = start_cluster(&config, "garbage", 2);
  const char *target = config.cluster.endpoints[0];
  uint32_t tag = hw_cluster_tag(&config.cluster);
  void *zmq = zmq_ctx_new();
  int sent = 0;
  /* From a client's identity: junk of every shape. */
  void *junk = realnode_dealer(zmq, "attacker", 8, target);
  srand(42);
  for (int k = 0; k < 200; k++) {
    uint8_t buf[600];
    size_t len = (size_t)(rand() % (int)sizeof buf);
    for (size_t b = 0; b < len; b++) buf[b] = (uint8_t)rand();
    if (k % 3 == 0 && len > 2) buf[0] = HW_MAGIC; /* some look almost right */
    if (k % 3 == 0 && len > 2) buf[1] = (uint8_t)(1 + rand() % 8);
    if (len >= 2 && buf[0] == HW_MAGIC && buf[1] == HW_REQUEST) buf[1] = 0xEE;
    send_frame(junk, buf, len);
    sent++;
  }
  size_t big_len = (size_t)config.node.max_frame_bytes + 1; /* one byte too many */
  uint8_t *big = calloc(1, big_len);
  assert_non_null(big);
  big[0] = HW_MAGIC;
  big[1] = HW_PEER;
  send_frame(junk, big, big_len);
  free(big);
  sent++;
  assert_true(zmq_send(junk, "a", 1, ZMQ_SNDMORE) >= 0); /* multipart */
  send_frame(junk, "b", 1);
  sent++;
  uint8_t bad_request[] = {HW_MAGIC, HW_REQUEST, 1, 2, 3};
  send_frame(junk, bad_request, sizeof bad_request);
  sent++;
  wire_writer w;
  wire_writer_init(&w);
  hw_put_peer(&w, 1, tag, (const uint8_t *)"hello", 5); /* a peer frame from a client */
  send_frame(junk, w.data, w.len);
  sent++;
  /* A peer identity claiming to be another node, and one of another cluster. */
  uint8_t id2[HW_PEER_ID_LEN], other[HW_PEER_ID_LEN];
  ctk_local_cluster_kill(cluster, 2);
  hw_peer_identity(2, tag, id2);
  hw_peer_identity(2, tag ^ 1, other);
  void *spoof = realnode_dealer(zmq, id2, sizeof id2, target);
  void *stranger = realnode_dealer(zmq, other, sizeof other, target);
  send_frame(spoof, w.data, w.len); /* identity of node 2, frame says node 1 */
  sent++;
  wire_writer_reset(&w);
  hw_put_peer(&w, 2, tag ^ 1, (const uint8_t *)"hello", 5);
  send_frame(stranger, w.data, w.len);
  sent++;
  /* Node 2's identity and tag, a protocol message that does not decode: malformed. */
  for (int k = 0; k < 20; k++) {
    wire_writer_reset(&w);
    uint8_t junk_msg[32];
    for (size_t b = 0; b < sizeof junk_msg; b++) junk_msg[b] = (uint8_t)rand();
    hw_put_peer(&w, 2, tag, junk_msg, (size_t)(k + 1));
    send_frame(spoof, w.data, w.len);
  }
  wire_writer_free(&w);
  ctk_sleep_us(300000);
  hw_status s;
  assert_int_equal(ctk_local_cluster_status(cluster, 0, &s, 1000), 0);
  print_message("frames sent %d, rejected %llu, malformed %llu\n", sent,
                (unsigned long long)s.frames_rejected, (unsigned long long)s.msgs_malformed);
  assert_true(s.frames_rejected >= (uint64_t)sent - 5); /* ZeroMQ may drop a few on connect */
  assert_true(s.msgs_malformed >= 10);
  zmq_close(junk);
  zmq_close(spoof);
  zmq_close(stranger);
  zmq_ctx_term(zmq);
  char err[CTK_ERR_LEN];
  ctk_sleep_us(100000);
  if (ctk_local_cluster_restart(cluster, 2, err, sizeof err)) fail_msg("%s", err);
  /* Still serving. */
  assert_true(realnode_run_workload(&config, cluster, -1) > 100);
  hw_status all[3];
  realnode_assert_converged(cluster, 3, all);
  assert_int_equal(ctk_local_cluster_check_exits(cluster, err, sizeof err), -1);
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

static void test_killed_node_restarts_from_disk_and_catches_up(void **state) {
  (void)state;
  ctk_config config;
  ctk_local_cluster *cluster = start_cluster(&config, "restart", 3);
  assert_true(realnode_run_workload(&config, cluster, 1) > 100);
  hw_status s[3];
  realnode_assert_converged(cluster, 3, s);
  print_message("node 1 restarted from %llu durable bytes; applied %llu like the others\n",
                (unsigned long long)s[1].started_from_bytes, (unsigned long long)s[1].applied);
  assert_true(s[1].started_from_bytes > 0);
  ctk_local_cluster_stop(&cluster, 2000);
  ctk_config_free(&config);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_garbage_frames_are_counted_and_the_node_keeps_serving),
      cmocka_unit_test(test_killed_node_restarts_from_disk_and_catches_up),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
